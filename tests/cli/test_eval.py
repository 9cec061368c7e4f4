"""`llmkit eval` file mode end to end through the real CLI: scores, JSON, gates, bad input."""

import json
import re
import subprocess
import sys

import pytest

HYP = ["the cat sat on the mat", "", "a quick brown fox jumps"]
REF = ["the cat is on the mat", "nothing at all", "the quick brown fox jumped"]


@pytest.fixture
def files(tmp_path):
    def write(name: str, lines: list[str]):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def test_file_mode_writes_json_equal_to_sacrebleu(cli, files, tmp_path):
    hyp, ref = files("hyp.txt", HYP), files("ref.txt", REF)
    out = tmp_path / "scores.json"
    result = cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", "-m", "chrf", "-m", "ter",
                 "-m", "rouge", "--output", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bleu" in result.output and "signature" in result.output
    scores = json.loads(out.read_text())
    cmd = [
        sys.executable,
        "-m",
        "sacrebleu",
        str(ref),
        "-i",
        str(hyp),
        "-m",
        "bleu",
        "-b",
        "-w",
        "6",
    ]
    printed = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert round(scores["metrics"]["bleu"], 6) == printed
    assert set(scores["metrics"]) == {
        "bleu",
        "chrf",
        "ter",
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
    }
    assert scores["signatures"]["bleu"].startswith("nrefs:1|")
    assert scores["config"]["metrics"] == ["bleu", "chrf", "ter", "rouge"]
    assert scores["data"] == {"references": [str(ref)]}


def test_fail_under_exit_codes_and_ter_direction(cli, files):
    hyp, ref = files("hyp.txt", HYP), files("ref.txt", REF)
    ok = cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", "--fail-under", "bleu=1")
    assert ok.exit_code == 0
    failed = cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", "--fail-under", "bleu=99")
    assert failed.exit_code == 1
    assert "bleu" in failed.output and "below the gate 99" in failed.output
    # TER: lower is better, so the gate fails when the score is above it
    ter = cli("eval", "-p", hyp, "-r", ref, "-m", "ter", "--fail-under", "ter=5")
    assert ter.exit_code == 1 and "above the gate 5" in ter.output
    assert cli("eval", "-p", hyp, "-r", ref, "-m", "ter", "--fail-under", "ter=99").exit_code == 0


def test_gate_on_a_metric_not_computed_is_a_usage_error(cli, files):
    hyp, ref = files("hyp.txt", HYP), files("ref.txt", REF)
    result = cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", "--fail-under", "accuracy=0.5")
    assert result.exit_code == 2 and "no metric 'accuracy'" in result.output
    # a misspelt gate is caught before any scoring (or model loading) starts
    result = cli("eval", "-p", hyp, "-r", ref, "--fail-under", "blue=20")
    assert result.exit_code == 2 and "did you mean 'bleu'" in result.output


def test_several_prediction_files_side_by_side(cli, files, tmp_path):
    ref = files("ref.txt", REF)
    a, b = files("a.txt", HYP), files("b.txt", REF)
    out = tmp_path / "s.json"
    result = cli("eval", "-p", a, "-p", b, "-r", ref, "-m", "bleu", "--output", out)
    assert result.exit_code == 0
    assert "a.txt" in result.output and "b.txt" in result.output
    systems = json.loads(out.read_text())["systems"]
    assert [s["name"] for s in systems] == [str(a), str(b)]
    assert systems[1]["metrics"]["bleu"] == pytest.approx(100.0)


def test_config_file_with_jsonl_fields_and_set_override(cli, tmp_path):
    rows = [{"id": i, "hyp": h, "gold": r} for i, (h, r) in enumerate(zip(HYP, REF, strict=True))]
    data = tmp_path / "preds.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"stage: eval\npredictions: [{data}]\nprediction_field: hyp\nreference_field: gold\n"
        f"metrics: [exact_match]\noutput_dir: {tmp_path / 'out'}\n"
    )
    result = cli("eval", config, "--set", "metrics=[exact_match, chrf]")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert set(scores["metrics"]) == {"exact_match", "chrf"}
    assert (tmp_path / "out" / "llmkit_config.yaml").is_file()


def test_label_metrics_from_files(cli, files, tmp_path):
    out = tmp_path / "s.json"
    preds, gold = (
        files("p.txt", ["pos", "neg", "pos", "pos"]),
        files("g.txt", ["pos", "neg", "neg", "pos"]),
    )
    result = cli("eval", "-p", preds, "-r", gold, "-m", "classification", "--output", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["accuracy"] == 0.75
    tags_p = files("tp.txt", ["B-PER I-PER O", "O B-LOC"])
    tags_g = files("tg.txt", ["B-PER I-PER O", "O O"])
    result = cli("eval", "-p", tags_p, "-r", tags_g, "-m", "seqeval", "--output", out, "--force")
    assert json.loads(out.read_text())["metrics"]["precision"] == 0.5


@pytest.mark.parametrize(
    "hyp_lines, ref_lines, message",
    [
        (HYP[:2], REF, "hyp.txt has 2 lines but .*ref.txt has 3"),
        (HYP, ["the cat", "", "fox"], "ref.txt: empty reference on line 2"),
    ],
)
def test_bad_text_files_exit_2_naming_the_problem(cli, files, hyp_lines, ref_lines, message):
    result = cli("eval", "-p", files("hyp.txt", hyp_lines), "-r", files("ref.txt", ref_lines))
    assert result.exit_code == 2
    assert re.search(message, result.output), result.output


def test_wrong_jsonl_key_lists_the_keys_present(cli, tmp_path, files):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"output": "a", "id": 1}\n', encoding="utf-8")
    result = cli("eval", "-p", preds, "-r", files("ref.txt", ["a"]))
    assert result.exit_code == 2
    assert "p.jsonl:1: no field 'prediction' (fields present: id, output)" in result.output


def test_missing_file_and_no_input_are_usage_errors(cli, tmp_path, files):
    assert cli("eval", "-p", tmp_path / "nope.txt", "-r", files("r.txt", ["a"])).exit_code == 2
    result = cli("eval")
    assert result.exit_code == 2 and "nothing to evaluate" in result.output


def test_self_contained_jsonl_and_reference_lists(cli, files, tmp_path):
    """A predictions.jsonl from model mode is rescored without --references; a list in the
    reference field means several references, as several reference files do."""
    second = ["a cat sat on the mat", "nothing", "a quick brown fox jumps"]
    rows = [
        {"prediction": h, "reference": [r1, r2]} for h, r1, r2 in zip(HYP, REF, second, strict=True)
    ]
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out_jsonl, out_files = tmp_path / "a.json", tmp_path / "b.json"
    assert cli("eval", "-p", preds, "-m", "bleu", "-o", out_jsonl).exit_code == 0
    result = cli("eval", "-p", files("h.txt", HYP), "-r", files("r1.txt", REF),
                 "-r", files("r2.txt", second), "-m", "bleu", "-o", out_files)  # fmt: skip
    assert result.exit_code == 0
    a, b = json.loads(out_jsonl.read_text()), json.loads(out_files.read_text())
    assert a["metrics"] == b["metrics"] and "nrefs:2" in a["signatures"]["bleu"]


def test_length_mismatch_points_at_blank_lines(cli, files):
    result = cli("eval", "-p", files("hyp.txt", ["a", "", "b", "c"]), "-r", files("ref.txt", REF))
    assert result.exit_code == 2
    assert "has 4 lines but" in result.output and "hyp.txt has 1 blank line)" in result.output


def test_outputs_replace_only_an_earlier_eval_and_only_with_force(cli, files, tmp_path):
    hyp, ref = files("hyp.txt", HYP), files("ref.txt", REF)
    users_dir, users_file = tmp_path / "mine", tmp_path / "mine.json"
    users_dir.mkdir()
    (users_dir / "notes.txt").write_text("my notes")
    users_file.write_text('{"mine": true}')
    for where in (["--output-dir", users_dir], ["--output", users_file]):
        for force in ([], ["--force"]):
            result = cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", *where, *force)
            assert result.exit_code == 2
            assert "nothing was written" in result.stderr and len(result.stderr.splitlines()) == 1
    assert (users_dir / "notes.txt").read_text() == "my notes" and len(
        list(users_dir.iterdir())
    ) == 1
    assert users_file.read_text() == '{"mine": true}'

    outputs = ["--output-dir", tmp_path / "run", "--output", tmp_path / "scores.json"]
    assert cli("eval", "-p", hyp, "-r", ref, "-m", "bleu", *outputs).exit_code == 0
    again = cli("eval", "-p", hyp, "-r", ref, "-m", "chrf", *outputs)
    assert again.exit_code == 2 and "earlier `llmkit eval` output" in again.stderr
    assert cli("eval", "-p", hyp, "-r", ref, "-m", "chrf", *outputs, "--force").exit_code == 0
    assert set(json.loads((tmp_path / "run" / "scores.json").read_text())["metrics"]) == {"chrf"}
    assert set(json.loads((tmp_path / "scores.json").read_text())["metrics"]) == {"chrf"}
