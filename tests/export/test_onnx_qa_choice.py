"""onnx format for extractive QA (start and end logits) and multiple choice (inputs batch ×
choices × tokens, all three axes dynamic): onnxruntime answers as PyTorch does on shapes the
export never saw."""

import json

import numpy as np
import onnxruntime as ort
import torch
import transformers


def _run(out, batch: dict) -> dict:
    sess = ort.InferenceSession(str(out / "model.onnx"))
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, batch), strict=True))


def test_qa_export_returns_start_and_end_logits_as_pytorch(exported, qa_run_dir):
    out, output = exported("qa_run_dir", "onnx")
    assert "largest |logit difference|" in output
    info = json.loads((out / "onnx_export.json").read_text())
    assert info["outputs"]["model"] == ["start_logits", "end_logits"]
    assert info["max_abs_diff"]["model"] <= 1e-4

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    questions = ["Who?", "When was the castle built, and by whom?", "Where?"]
    contexts = ["Romeo loves Juliet.", "The castle was built in 1514 by the count.", "Verona."]
    batch = tokenizer(questions, contexts, padding=True, return_tensors="np")  # batch 3, len != 8
    assert batch["input_ids"].shape[1] != 8
    got = _run(out, dict(batch))
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(qa_run_dir)
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    for name in ("start_logits", "end_logits"):
        assert got[name].shape == batch["input_ids"].shape
        assert np.abs(got[name] - getattr(expected, name).numpy()).max() < 1e-4


def test_multiple_choice_export_takes_any_batch_choices_and_length(exported, choice_run_dir):
    out, output = exported("choice_run_dir", "onnx", "--quantize", "int8")
    assert "top-1 agreement" in output and (out / "model.int8.onnx").is_file()
    sess = ort.InferenceSession(str(out / "model.onnx"))
    assert sess.get_inputs()[0].shape == ["batch", "choices", "sequence"]

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    premise = "A rider swings onto the saddle of a horse."
    endings = ["takes the reins.", "melts.", "mails the staircase to a very distant Tuesday.",
               "turns into a flock of umbrellas.", "rides."]  # fmt: skip
    flat = tokenizer([premise] * 10, endings * 2, padding=True, return_tensors="np")
    batch = {k: v.reshape(2, 5, -1) for k, v in flat.items()}  # 2 questions × 5 choices
    got = _run(out, batch)["logits"]
    model = transformers.AutoModelForMultipleChoice.from_pretrained(choice_run_dir)
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    assert got.shape == (2, 5)
    assert np.abs(got - expected).max() < 1e-4


def test_a_bare_encoder_is_refused_naming_what_onnx_covers(cli, tiny_model, masked_tokenizer_dir,
                                                            tmp_path):  # fmt: skip
    bare = tiny_model("bert", "AutoModel", masked_tokenizer_dir, tmp_path / "bare")
    result = cli("export", bare, "--format", "onnx", "--output", tmp_path / "out")
    assert result.exit_code == 2
    assert "extractive QA, multiple choice" in result.output
    assert not (tmp_path / "out").exists()
