"""gguf format: LLaMA and GPT-2 written with the gguf package, loaded back by transformers."""

import pytest
import torch
import transformers


@pytest.mark.parametrize(
    "model_fixture,kind", [("llama_dir", "f32"), ("gpt2_dir", "f32"), ("llama_dir", "q8_0")]
)
def test_round_trip_through_transformers_gguf_loader(exported, request, model_fixture, kind):
    out, output = exported(model_fixture, "gguf", "--set", f"gguf.type={kind}")
    file = out / f"model.{kind}.gguf"
    assert "loaded back by transformers" in output
    source = request.getfixturevalue(model_fixture)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    batch = tokenizer(["To be, or not to be", "Now is the winter"], return_tensors="pt",
                      padding=True)  # fmt: skip
    original = transformers.AutoModelForCausalLM.from_pretrained(source).eval()
    # transformers reads GPT-2's GGUF context_length into n_ctx, not n_positions: hand it over
    config = original.config if model_fixture == "gpt2_dir" else None
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        out, gguf_file=file.name, config=config
    ).eval()
    with torch.no_grad():
        expected, got = original(**batch).logits, loaded(**batch).logits
    real = batch["attention_mask"].bool()
    from_gguf = transformers.AutoTokenizer.from_pretrained(out, gguf_file=file.name)
    text = "To be, or not to be: that is the question. Ünïcode!"
    assert from_gguf(text)["input_ids"] == tokenizer(text)["input_ids"]
    if kind == "f32":
        assert (expected - got).abs()[real].max() < 1e-4
    else:  # 8-bit weights: the same next-token choices
        agree = (expected.argmax(-1) == got.argmax(-1))[real].float().mean()
        assert agree >= 0.95
