"""onnx format: every family round-trips through onnxruntime on shapes it was not exported with;
a causal LM generates with its cache exactly the tokens PyTorch generates."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import transformers

from llmkit.export.ort_runtime import greedy_generate, read_export_info


@pytest.mark.parametrize(
    "model_fixture,files",
    [
        ("bert_classifier_dir", ["model.onnx"]),
        ("bert_tagger_dir", ["model.onnx"]),
        ("llama_dir", ["model.onnx"]),
        ("t5_dir", ["encoder.onnx", "decoder.onnx"]),
    ],
)
def test_round_trip_checks_logits_on_several_shapes(exported, model_fixture, files):
    out, output = exported(model_fixture, "onnx")
    assert "largest |logit difference|" in output
    info = json.loads((out / "onnx_export.json").read_text())
    assert sorted(info["files"].values()) == sorted(files)
    assert max(info["max_abs_diff"].values()) <= 1e-4
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()


def test_classifier_axes_are_dynamic_on_an_unseen_shape(exported, bert_classifier_dir):
    out, _ = exported("bert_classifier_dir", "onnx")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    texts = ["short", "a much longer sentence than the export ever saw, with many words in it"] * 3
    batch = tokenizer(texts, padding=True, return_tensors="np")  # batch 6, length != 8
    assert batch["input_ids"].shape[0] == 6 and batch["input_ids"].shape[1] != 8
    logits = ort.InferenceSession(str(out / "model.onnx")).run(None, dict(batch))[0]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(bert_classifier_dir)
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    assert np.abs(logits - expected).max() < 1e-4


def test_causal_lm_greedy_generation_with_cache_equals_pytorch(exported, gpt2_dir):
    out, output = exported("gpt2_dir", "onnx", "--quantize", "int8")
    assert (out / "model.int8.onnx").is_file() and "top-1 agreement" in output
    sess = ort.InferenceSession(str(out / "model.onnx"))
    assert [i.name for i in sess.get_inputs()][3:5] == ["past.0.key", "past.0.value"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    prompt = tokenizer(["To be, or not to be"], return_tensors="np")
    tokens = greedy_generate(
        sess, read_export_info(out), prompt["input_ids"], prompt["attention_mask"], 12
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(gpt2_dir)
    expected = model.generate(
        torch.from_numpy(prompt["input_ids"]), attention_mask=torch.from_numpy(
            prompt["attention_mask"]), max_new_tokens=12, min_new_tokens=12, do_sample=False,
    )[:, prompt["input_ids"].shape[1]:]  # fmt: skip
    assert tokens.tolist() == expected.tolist()
