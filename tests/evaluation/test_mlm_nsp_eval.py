"""`llmkit eval` of a BERT pretrained with masked LM + next-sentence prediction: MLM perplexity
and NSP accuracy on a held-out file, drawn and masked as the run's validation was."""

import json

import pytest
import yaml


def _paragraphs(lines: list[str], first: int, count: int) -> str:
    """`count` documents of 6 lines each (one segment per line), blank lines between."""
    return "\n\n".join("\n".join(lines[i * 6 : i * 6 + 6]) for i in range(first, first + count))


@pytest.fixture(scope="module")
def nsp_run(tmp_path_factory, pretrain_bert, corpus_lines):
    """A few steps of BERT pretraining with NSP, validated on held_out.txt; (run, held-out)."""
    root = tmp_path_factory.mktemp("nsp_eval")
    (root / "train.txt").write_text(_paragraphs(corpus_lines, 0, 24) + "\n", encoding="utf-8")
    held_out = root / "held_out.txt"
    held_out.write_text(_paragraphs(corpus_lines, 24, 8) + "\n", encoding="utf-8")
    task = {"type": "mlm", "nsp": True, "mlm_probability": 0.2, "short_seq_prob": 0.5}
    preprocess = {"data": {"text_unit": "paragraph"}, "pack": False, "segments": "line",
                  "block_size": 48}  # fmt: skip
    return pretrain_bert(root, task, preprocess, {}), held_out


def test_held_out_scores_equal_the_runs_validation(cli, nsp_run, tmp_path):
    run, held_out = nsp_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in rows if r["split"] == "validation"][-1]
    out = tmp_path / "eval"
    # the run's validation batch size: masks are drawn per batch
    result = cli("eval", "--model", run, "--data", held_out, "--set", "batch_size=4",
                 "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["task"] == "mlm-nsp"  # inferred from BertForPreTraining
    assert scores["model"]["pretrain_settings"] == {
        "segments": "line", "text_unit": "paragraph", "block_size": 48,
        "mlm_probability": 0.2, "whole_word_mask": False, "seed": 7,
    }  # fmt: skip
    metrics = scores["metrics"]
    for name in ("perplexity", "mlm_loss", "nsp_loss", "nsp_accuracy", "loss"):
        assert metrics[name] == pytest.approx(validation[name], rel=1e-5), name
    assert "nsp_accuracy" in result.output


def test_a_run_saved_before_short_seq_prob_is_scored_with_full_length_pairs(cli, nsp_run, tmp_path):
    """Its llmkit_config.yaml has no task.short_seq_prob: it drew every pair full length, and the
    field's default (0.1) would draw other pairs than its validation did."""
    import shutil

    run, held_out = nsp_run

    def pairs(saved_value) -> int:
        copy = tmp_path / f"run-{saved_value}"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints"))
        config = yaml.safe_load((copy / "llmkit_config.yaml").read_text())
        if saved_value is None:
            del config["task"]["short_seq_prob"]
        else:
            config["task"]["short_seq_prob"] = saved_value
        (copy / "llmkit_config.yaml").write_text(yaml.safe_dump(config))
        out = tmp_path / f"eval-{saved_value}"
        result = cli("eval", "--model", copy, "--data", held_out, "--output-dir", out)
        assert result.exit_code == 0, result.output
        scores = json.loads((out / "scores.json").read_text())
        return scores["model"]["pairs"], scores["metrics"]

    older = pairs(None)
    assert older == pairs(0.0)
    assert older[0] < pairs(1.0)[0]  # short pairs: more of them from the same text


def test_gates_on_nsp_accuracy_and_perplexity(cli, nsp_run):
    run, held_out = nsp_run
    result = cli("eval", "--model", run, "--data", held_out, "--fail-under", "nsp_accuracy=1.01")
    assert result.exit_code == 1
    result = cli("eval", "--model", run, "--data", held_out, "--fail-under", "perplexity=1.0")
    assert result.exit_code == 1  # perplexity: lower is better, so 1.0 is out of reach


def test_a_model_without_the_nsp_head_is_refused(cli, nsp_run, tiny_model, masked_tokenizer_dir,
                                                 tmp_path):  # fmt: skip
    _, held_out = nsp_run
    masked = tiny_model("bert", "AutoModelForMaskedLM", masked_tokenizer_dir, tmp_path / "mlm")
    result = cli("eval", "--model", masked, "--data", held_out, "--task", "mlm-nsp")
    assert result.exit_code == 2
    assert "task mlm-nsp needs a model with masked LM and next-sentence heads" in result.output
