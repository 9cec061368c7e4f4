"""`llmkit eval` on a model made by `llmkit finetune`, as a new user runs it: the test file is
read the way the training file was (columns, format, max_length), a column the test file names
differently is one line saying how to map it, and the data report names the eval file."""

import json

import pytest
import yaml
from tasks.finetune_helpers import QUIET_TRAIN, TINY_DECODER, TINY_ENCODER, fixture
from typer.testing import CliRunner

from llmkit.cli.app import app

SENTIMENT = [json.loads(x) for x in open(fixture("sentiment_train.jsonl"), encoding="utf-8")]
LABELS = ["negative", "positive"]


def _tsv(path, text_column: str, rows: list[dict]):
    lines = [f"{text_column}\tlabel"] + [f"{r['text']}\t{LABELS.index(r['label'])}" for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _finetune(config: dict, path) -> None:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(app, ["finetune", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _sst2_config(root, tokenizer, labels) -> dict:
    return {
        "stage": "finetune",
        "output_dir": str(root / "run"),
        "tokenizer": str(tokenizer),
        "model": TINY_ENCODER,
        "task": {"type": "classification", "labels": labels},
        "data": {
            "train": str(_tsv(root / "train.tsv", "sentence", SENTIMENT)),
            "columns": {"text": "sentence"},
        },
        "split": {"validation_ratio": 0.0},
        "max_length": 24,
        "train": QUIET_TRAIN | {"batch_size": 8, "max_steps": 2},
    }


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, masked_tokenizer_dir):
    """SST-2's shape: train.tsv has `sentence` and 0/1 labels, named in task.labels."""
    root = tmp_path_factory.mktemp("sst2")
    _finetune(_sst2_config(root, masked_tokenizer_dir, LABELS), root / "finetune.yaml")
    return root


def test_labels_can_name_a_file_with_one_label_per_line(tmp_path, masked_tokenizer_dir):
    (tmp_path / "labels.txt").write_text("positive\nnegative\n\n", encoding="utf-8")
    config = _sst2_config(tmp_path, masked_tokenizer_dir, str(tmp_path / "labels.txt"))
    config["train"]["max_steps"] = 1
    _finetune(config, tmp_path / "finetune.yaml")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["id2label"] == {"0": "positive", "1": "negative"}  # the file's order
    resolved = yaml.safe_load((tmp_path / "run" / "llmkit_config.yaml").read_text())
    assert resolved["task"]["labels"] == ["positive", "negative"]  # the list itself


def test_eval_reads_the_test_file_as_the_model_was_finetuned(cli, sst2_run, tmp_path):
    test = _tsv(tmp_path / "test.tsv", "sentence", SENTIMENT[:10])
    out = tmp_path / "eval"
    result = cli("eval", "--model", sst2_run / "run", "--data", test, "--task", "classification",
                 "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "reusing its finetune settings" in result.output
    assert f"eval data {test}: rows 10, truncated 0" in result.output
    assert "finetune data" not in result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["finetune_settings"] == {"columns.text": "sentence", "max_length": 24}
    predictions = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["input"] for p in predictions] == [r["text"] for r in SENTIMENT[:10]]
    assert {p["prediction"] for p in predictions} <= set(LABELS)


def test_a_differently_named_text_column_is_one_line_saying_how_to_map_it(cli, sst2_run, tmp_path):
    dev = _tsv(tmp_path / "dev.tsv", "content", SENTIMENT[:6])
    run = sst2_run / "run"
    result = cli("eval", "--model", run, "--data", dev, "--task", "classification")
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "KeyError" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert "no column 'sentence' (columns: content, label) for columns.text" in error
    assert f"the column the model was finetuned with ({run}/llmkit_config.yaml)" in error
    assert "--set columns.text=content" in error

    mapped = cli("eval", "--model", run, "--data", dev, "--task", "classification",
                 "--set", "columns.text=content", "--set", "max_length=8")  # fmt: skip
    assert mapped.exit_code == 0, mapped.output
    assert f"eval data {dev}: rows 6" in mapped.output
    assert "reusing" not in mapped.output  # both settings given: nothing taken from the run


CONLL = "Henry B-PER\nJuliet I-PER\ncame O\n\nMary B-PER\nvisited O\nParis B-LOC\n\n"


@pytest.fixture(scope="module")
def germeval(tmp_path_factory):
    """GermEval-style files: two space-separated columns, .txt (auto reads them as text)."""
    root = tmp_path_factory.mktemp("germeval")
    (root / "train.txt").write_text(CONLL * 6, encoding="utf-8")
    (root / "test.txt").write_text(CONLL, encoding="utf-8")
    return root


def _ner_config(germeval, tokenizer, **data) -> dict:
    return {
        "stage": "finetune",
        "output_dir": str(germeval / "run"),
        "tokenizer": str(tokenizer),
        "model": TINY_ENCODER,
        "task": {"type": "token-classification"},
        "data": {"train": str(germeval / "train.txt"), **data},
        "split": {"validation_ratio": 0.0},
        "train": QUIET_TRAIN | {"batch_size": 2, "max_steps": 2},
    }


def test_conll_text_read_as_plain_text_says_to_set_the_format(
    cli, germeval, masked_tokenizer_dir, tmp_path
):
    path = tmp_path / "ner.yaml"
    path.write_text(yaml.safe_dump(_ner_config(germeval, masked_tokenizer_dir)))
    result = cli("finetune", path)
    assert result.exit_code == 2
    error = result.output.strip().splitlines()[-1]
    assert error.count("'words'") == 1
    assert "look like CoNLL" in error and "set data.format: conll" in error


def test_eval_of_a_conll_finetuned_model_reuses_the_format_or_takes_a_flag(
    cli, germeval, masked_tokenizer_dir, tmp_path
):
    config = _ner_config(germeval, masked_tokenizer_dir, format="conll")
    _finetune(config, tmp_path / "ner.yaml")
    run, test = germeval / "run", germeval / "test.txt"
    reused = cli("eval", "--model", run, "--data", test, "--output", tmp_path / "a.json")
    assert reused.exit_code == 0, reused.output
    assert "data_format='conll'" in reused.output

    # the same sentences as JSON lines: the training format is for .txt files, not these
    rows = [{"words": ["Henry", "Juliet", "came"], "label": ["B-PER", "I-PER", "O"]},
            {"words": ["Mary", "visited", "Paris"], "label": ["B-PER", "O", "B-LOC"]}]  # fmt: skip
    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    as_json = cli("eval", "--model", run, "--data", jsonl, "--output", tmp_path / "j.json")
    assert as_json.exit_code == 0, as_json.output
    assert "data_format" not in as_json.output
    j = json.loads((tmp_path / "j.json").read_text())
    assert j["metrics"] == json.loads((tmp_path / "a.json").read_text())["metrics"]

    (run / "llmkit_config.yaml").unlink()  # a model from elsewhere: nothing to reuse
    plain = cli("eval", "--model", run, "--data", test)
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    assert "--data-format conll" in plain.output.strip().splitlines()[-1]
    flagged = cli("eval", "--model", run, "--data", test, "--data-format", "conll",
                  "--output", tmp_path / "b.json")  # fmt: skip
    assert flagged.exit_code == 0, flagged.output
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["metrics"] == b["metrics"]


QUESTIONS = [
    {"question": f"What does {w} mean?", "prompt": f"unused {w}", "response": f"{w} means {w}."}
    for w in ("king", "queen", "lord", "lady")
]
TEMPLATE = "Question: {question}\nAnswer:"


@pytest.fixture(scope="module")
def templated_sft_run(tmp_path_factory, causal_tokenizer_dir):
    """SFT whose prompts data.prompt_template builds from `question`; the data also has a
    `prompt` column, which training did not read."""
    root = tmp_path_factory.mktemp("templated_sft")
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in QUESTIONS), encoding="utf-8")
    config = {
        "stage": "finetune",
        "output_dir": str(root / "run"),
        "tokenizer": str(causal_tokenizer_dir),
        "model": TINY_DECODER | {"context_length": 128},
        "task": {"type": "sft", "format": "prompt-response"},
        "max_length": 128,
        "data": {"train": str(data), "prompt_template": TEMPLATE},
        "split": {"validation_ratio": 0.0},
        "train": QUIET_TRAIN | {"batch_size": 2, "max_steps": 1},
    }
    _finetune(config, root / "sft.yaml")
    return root


def _inputs(out) -> list[str]:
    return [json.loads(x)["input"] for x in (out / "predictions.jsonl").read_text().splitlines()]


def test_eval_of_an_sft_run_builds_its_prompts_with_the_runs_template(
    cli, templated_sft_run, tmp_path
):
    run, data = templated_sft_run / "run", templated_sft_run / "train.jsonl"
    common = ("eval", "--model", run, "--data", data, "--task", "sft",
              "--set", "generation.max_new_tokens=2")  # fmt: skip
    result = cli(*common, "--output-dir", tmp_path / "reused")
    assert result.exit_code == 0, result.output
    assert f"prompt_template={TEMPLATE!r}" in result.output
    scores = json.loads((tmp_path / "reused" / "scores.json").read_text())
    assert scores["model"]["finetune_settings"]["prompt_template"] == TEMPLATE
    inputs = _inputs(tmp_path / "reused")
    for row, prompt in zip(QUESTIONS, inputs, strict=True):  # as the model was taught
        assert f"Question: {row['question']}\nAnswer:" in prompt and "unused" not in prompt

    # null reads columns.prompt; a template of the eval data's columns replaces the run's
    plain = cli(*common, "--set", "prompt_template=null", "--output-dir", tmp_path / "plain")
    assert plain.exit_code == 0, plain.output
    for row, prompt in zip(QUESTIONS, _inputs(tmp_path / "plain"), strict=True):
        assert row["prompt"] in prompt and "Question:" not in prompt
    other = cli(*common, "--set", "prompt_template='Q: {question}'", "--output-dir", tmp_path / "q")
    assert other.exit_code == 0, other.output
    assert "Q: What does king mean?" in _inputs(tmp_path / "q")[0]


def test_a_test_file_without_the_templates_column_is_one_line_saying_what_to_set(
    cli, templated_sft_run, tmp_path
):
    rows = [{"prompt": r["question"], "response": r["response"]} for r in QUESTIONS]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = templated_sft_run / "run"
    result = cli("eval", "--model", run, "--data", test, "--task", "sft")
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert "no column 'question' (columns: prompt, response) for prompt_template" in error
    assert f"the template the model was finetuned with ({run}/llmkit_config.yaml)" in error
    assert "--set prompt_template=null" in error


def test_prompt_template_with_a_task_that_does_not_read_it_stops_up_front(cli, tmp_path):
    data = tmp_path / "problems.jsonl"
    data.write_text('{"text": "add", "test_list": []}\n', encoding="utf-8")
    result = cli("eval", "--model", tmp_path / "none", "--data", data, "--task", "code",
                 "--set", "prompt_template='{text}'")  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert "prompt_template builds sft prompts" in error and "code.prompt_template" in error


def test_an_sft_run_is_scored_as_sft_without_a_task_flag(
    cli, templated_sft_run, tiny_gpt2_dir, tmp_path
):
    # README's command for a finetuned model: the run's own task, not a causal LM's perplexity
    run, data = templated_sft_run / "run", templated_sft_run / "train.jsonl"
    result = cli("eval", "--model", run, "--data", data, "--set", "generation.max_new_tokens=2",
                 "--output-dir", tmp_path / "inferred")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "inferred" / "scores.json").read_text())
    assert scores["model"]["task"] == "sft"
    assert scores["model"]["finetune_settings"]["prompt_template"] == TEMPLATE
    assert "Question: What does king mean?\nAnswer:" in _inputs(tmp_path / "inferred")[0]

    # a template given to a model scored otherwise (a base causal LM: perplexity) is not dropped
    result = cli("eval", "--model", tiny_gpt2_dir, "--data", data,
                 "--set", "prompt_template='Q: {question}'")  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert "prompt_template builds sft prompts" in error and "--task sft" in error


def test_columns_prompt_given_for_an_sft_run_reads_that_column(cli, templated_sft_run, tmp_path):
    # the run's template silently won over the column the user named
    run, data = templated_sft_run / "run", templated_sft_run / "train.jsonl"
    out = tmp_path / "column"
    result = cli("eval", "--model", run, "--data", data, "--task", "sft",
                 "--set", "columns.prompt=prompt", "--set", "generation.max_new_tokens=2",
                 "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "prompt_template" not in json.loads((out / "scores.json").read_text())["model"].get(
        "finetune_settings", {}
    )
    for row, prompt in zip(QUESTIONS, _inputs(out), strict=True):
        assert row["prompt"] in prompt and "Question:" not in prompt


def test_an_invalid_saved_config_is_warned_about_once(cli, tiny_gpt2_dir, tmp_path):
    # infer_task and the settings reuse both read it: one warning, and the eval still runs
    import shutil

    model = tmp_path / "old-run"
    shutil.copytree(tiny_gpt2_dir, model)
    (model / "llmkit_config.yaml").write_text("stage: finetune\nbogus: 1\n")
    data = tmp_path / "held_out.txt"
    data.write_text("to be or not to be\nthat is the question\n", encoding="utf-8")
    result = cli("eval", "--model", model, "--data", data, "--output", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    assert result.output.count("is not a valid finetune config, not reused") == 1
