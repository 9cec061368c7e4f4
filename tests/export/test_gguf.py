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


def test_a_gpt2_whose_tokenizer_has_no_pad_token_exports_via_the_cli(
    cli, tmp_path, gpt2_dir, causal_tokenizer_dir
):
    """The Hub's gpt2 has no pad token; the check that loads the file back padded its sample
    texts into one batch and ended in transformers' 'Asking to pad' ValueError traceback."""
    source = tmp_path / "gpt2-no-pad"
    source.mkdir()
    for path in gpt2_dir.iterdir():
        if path.is_file():
            (source / path.name).write_bytes(path.read_bytes())
    tokenizer = transformers.AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(source)
    assert transformers.AutoTokenizer.from_pretrained(source).pad_token is None
    out = tmp_path / "gguf"
    result = cli("export", source, "--format", "gguf", "--output", out)
    assert result.exit_code == 0, result.output
    assert "loaded back by transformers" in result.output
    assert (out / "model.f16.gguf").is_file()
