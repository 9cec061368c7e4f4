"""`llmkit eval` scores an ONNX export (onnxruntime) like the PyTorch model it came from."""

import json

import pytest

from tests.tasks.finetune_helpers import fixture


def _metrics(scores: dict) -> list[dict]:
    return [s["metrics"] for s in scores["systems"]]


def test_classification_accuracy_equals_pytorch_side_by_side_with_int8(
    cli, exported, bert_classifier_dir, tmp_path
):
    out, _ = exported("bert_classifier_dir", "onnx", "--quantize", "int8")
    scores = tmp_path / "scores.json"
    result = cli("eval", "--model", bert_classifier_dir, "--model", out, "--model",
                 out / "model.int8.onnx", "--data", fixture("sentiment_validation.jsonl"),
                 "--task", "classification", "--output", scores)  # fmt: skip
    assert result.exit_code == 0, result.output
    systems = json.loads(scores.read_text())["systems"]
    assert systems[2]["name"].endswith("model.int8.onnx")  # its own column in the table
    torch_m, onnx_m, int8_m = (s["metrics"] for s in systems)
    assert onnx_m["accuracy"] == torch_m["accuracy"]
    assert onnx_m["loss"] == pytest.approx(torch_m["loss"], abs=1e-5)
    assert 0.0 <= int8_m["accuracy"] <= 1.0

    gate = f"accuracy={onnx_m['accuracy'] + 0.01}"
    failed = cli("eval", "--model", out, "--data", fixture("sentiment_validation.jsonl"),
                 "--fail-under", gate)  # fmt: skip
    assert failed.exit_code == 1


def test_token_classification_and_perplexity_equal_pytorch(
    cli, exported, bert_tagger_dir, gpt2_dir, tmp_path
):
    tagger, _ = exported("bert_tagger_dir", "onnx")
    scores = tmp_path / "ner.json"
    result = cli("eval", "--model", bert_tagger_dir, "--model", tagger, "--data",
                 fixture("ner_validation.jsonl"), "--set", "columns.label=ner", "--output",
                 scores)  # fmt: skip
    assert result.exit_code == 0, result.output
    torch_m, onnx_m = _metrics(json.loads(scores.read_text()))
    assert onnx_m == pytest.approx(torch_m, abs=1e-5)

    lm, _ = exported("gpt2_dir", "onnx", "--quantize", "int8")
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in
                             ["To be, or not to be, that is the question.", "All the world."]))  # fmt: skip
    scores = tmp_path / "ppl.json"
    result = cli("eval", "--model", gpt2_dir, "--model", lm, "--data", texts, "--output", scores)
    assert result.exit_code == 0, result.output
    torch_m, onnx_m = _metrics(json.loads(scores.read_text()))
    assert onnx_m["perplexity"] == pytest.approx(torch_m["perplexity"], rel=1e-4)


def test_generation_tasks_refuse_an_onnx_model(cli, exported):
    out, _ = exported("gpt2_dir", "onnx", "--quantize", "int8")
    result = cli("eval", "--model", out, "--data", fixture("sft_validation.jsonl"),
                 "--task", "causal")  # fmt: skip
    assert result.exit_code == 2
    assert "score sft with the PyTorch model directory" in result.output


def test_a_masked_lm_export_is_sent_to_its_pytorch_model(
    cli, masked_tokenizer_dir, tiny_model, corpus_lines, tmp_path
):
    # inferred task mlm: the error called it a generation task
    source = tiny_model("bert", "AutoModelForMaskedLM", masked_tokenizer_dir, tmp_path / "mlm")
    out = tmp_path / "onnx"
    assert cli("export", source, "--format", "onnx", "--output", out).exit_code == 0
    texts = tmp_path / "held_out.txt"
    texts.write_text("\n".join(corpus_lines[:8]) + "\n", encoding="utf-8")
    result = cli("eval", "--model", out, "--data", texts)
    assert result.exit_code == 2
    error = result.output.strip().splitlines()[-1]
    assert "task mlm: an ONNX model" in error and "generation" not in error
    assert "score mlm with the PyTorch model directory" in error


def test_an_exported_run_is_scored_with_the_runs_finetune_settings(
    cli, exported, lora_run_dir, tmp_path
):
    out, _ = exported("lora_run_dir", "onnx")
    assert (out / "training" / "llmkit_config.yaml").is_file()
    scores = tmp_path / "scores.json"
    result = cli("eval", "--model", lora_run_dir, "--model", out, "--data",
                 fixture("sentiment_validation.jsonl"), "--output", scores)  # fmt: skip
    assert result.exit_code == 0, result.output
    run_s, onnx_s = json.loads(scores.read_text())["systems"]
    assert onnx_s["model"].get("finetune_settings") == run_s["model"].get("finetune_settings")
    assert onnx_s["metrics"]["accuracy"] == run_s["metrics"]["accuracy"]
