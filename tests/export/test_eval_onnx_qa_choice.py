"""`llmkit eval` scores an extractive QA or multiple-choice ONNX export (onnxruntime) as it
scores the PyTorch run it came from, with the run's finetune settings."""

import json
import math

import pytest

from tests.tasks.finetune_helpers import fixture


def _systems(cli, models: list, data, scores) -> list[dict]:
    """Each model's scores.json entry, scored side by side by `llmkit eval`."""
    flags = [arg for model in models for arg in ("--model", model)]
    result = cli("eval", *flags, "--data", data, "--output", scores)
    assert result.exit_code == 0, result.output
    return json.loads(scores.read_text())["systems"]


def test_multiple_choice_accuracy_and_loss_equal_pytorch(cli, exported, choice_run_dir, tmp_path):
    out, _ = exported("choice_run_dir", "onnx", "--quantize", "int8")
    models = [choice_run_dir, out, out / "model.int8.onnx"]
    torch_s, onnx_s, int8_s = _systems(
        cli, models, fixture("swag_validation.csv"), tmp_path / "scores.json"
    )
    assert 0.0 <= int8_s["metrics"]["accuracy"] <= 1.0  # the int8 graph runs on 4 choices too
    assert onnx_s["model"]["task"] == "multiple-choice"  # inferred from the export's config
    assert onnx_s["model"]["finetune_settings"] == torch_s["model"]["finetune_settings"]
    assert torch_s["metrics"]["loss"] != pytest.approx(math.log(4))  # not uniform choices
    assert onnx_s["metrics"]["accuracy"] == torch_s["metrics"]["accuracy"]
    assert onnx_s["metrics"]["loss"] == pytest.approx(torch_s["metrics"]["loss"], abs=1e-5)


def test_qa_exact_match_f1_and_loss_equal_pytorch(cli, exported, qa_run_dir, tmp_path):
    out, _ = exported("qa_run_dir", "onnx")
    squad = json.loads(open(fixture("squad_tiny.json"), encoding="utf-8").read())
    squad["data"] = [a for a in squad["data"] if a["title"] == "Corla_Hills"]
    held_out = tmp_path / "corla.json"
    held_out.write_text(json.dumps(squad))
    torch_s, onnx_s = _systems(cli, [qa_run_dir, out], held_out, tmp_path / "scores.json")
    assert onnx_s["model"]["task"] == "question-answering"
    # the run's windows (max_length 96) and QA options (doc_stride 16, which the default 128
    # would not fit in), read from the training config the export keeps
    assert onnx_s["model"]["finetune_settings"]["max_length"] == 96
    assert onnx_s["metrics"]["total"] == 36
    assert onnx_s["metrics"] == pytest.approx(torch_s["metrics"], abs=1e-5)
