"""Preflight facts: parameter counts, a memory estimate that scales, and a decoded batch that
marks exactly the positions carrying loss."""

import re

import pytest
import torch
from rich.console import Console
from rich.text import Text
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from llmkit.config.train import TrainConfig
from llmkit.train.preflight import (
    count_parameters,
    describe_batch,
    estimate_memory_bytes,
    print_preflight,
)


def _gpt(layers=2, hidden=32, vocab=300):
    cfg = GPT2Config(n_layer=layers, n_embd=hidden, n_head=2, n_positions=64, vocab_size=vocab)
    return GPT2LMHeadModel(cfg)


def _marked_spans(markup: str) -> list[str]:
    """Marked spans of every example, without the header lines that explain the marks."""
    examples = Text.from_markup(markup).plain.split("\n\n")
    bodies = "".join(example.split("\n", 1)[1] for example in examples)
    return re.findall(r"⟦(.*?)⟧", bodies, flags=re.S)


def test_count_parameters_counts_tied_weights_once_and_frozen_ones_apart():
    model = _gpt()
    total, trainable = count_parameters(model)
    assert total == sum(p.numel() for p in model.parameters()) == trainable
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: counted once above
    model.transformer.wte.weight.requires_grad_(False)
    assert count_parameters(model) == (total, total - 300 * 32)


def test_memory_estimate_grows_with_parameters_batch_and_precision():
    cfg = TrainConfig(batch_size=4, precision="fp32")
    small, big = _gpt(hidden=32), _gpt(hidden=64)
    base = estimate_memory_bytes(small, cfg, seq_len=64)
    assert base > 16 * count_parameters(small)[0]  # weights+grads+AdamW alone are 16 B/param
    assert estimate_memory_bytes(big, cfg, seq_len=64) > base
    assert estimate_memory_bytes(small, cfg, seq_len=64, batch_size=16) > base
    assert estimate_memory_bytes(small, cfg, seq_len=64, batch_size=4) == base
    bf16 = TrainConfig(batch_size=4, precision="bf16")
    assert estimate_memory_bytes(small, bf16, seq_len=64) < base


def test_describe_batch_marks_exactly_the_label_positions(causal_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    ids = tok("First Citizen: before we proceed any further", return_tensors="pt")["input_ids"]
    labels = ids.clone()
    labels[0, :3] = -100  # e.g. a prompt that carries no loss
    labels[0, 5] = -100
    text = describe_batch(tok, {"input_ids": ids, "labels": labels})
    marked = _marked_spans(text)
    assert marked == [tok.decode(ids[0, 3:5]), tok.decode(ids[0, 6:])]
    assert (
        Text.from_markup(text).plain.replace("⟦", "").replace("⟧", "").endswith(tok.decode(ids[0]))
    )
    assert f"{ids.shape[1] - 4} carry loss" in Text.from_markup(text).plain


def test_describe_batch_shows_masked_tokens_with_their_original(masked_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    enc = tok(["the king is dead", "long live"], padding=True, return_tensors="pt")
    original = enc["input_ids"][0].clone()
    inputs = enc["input_ids"].clone()
    labels = torch.full_like(inputs, -100)
    labels[0, 2] = original[2]
    inputs[0, 2] = tok.mask_token_id  # masked
    labels[0, 3] = original[3]  # kept as is (the 10% case)
    batch = {"input_ids": inputs, "labels": labels, "attention_mask": enc["attention_mask"]}
    spans = _marked_spans(describe_batch(tok, batch, n_examples=2))
    kept = tok.convert_ids_to_tokens(int(original[3])).removeprefix("##")
    assert [s.strip() for s in spans] == [f"[MASK]→{tok.decode([original[2]])}", kept]


def test_describe_batch_shows_sequence_level_targets(masked_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    enc = tok(["the king is dead"], return_tensors="pt")
    text = describe_batch(tok, {**enc, "labels": torch.tensor([1])})
    assert _marked_spans(text) == ["1"]


def test_print_preflight_reports_the_run_shape():
    console = Console(record=True, width=200)
    cfg = TrainConfig(batch_size=4, grad_accum_steps=2, max_steps=100, precision="fp32")
    rows = print_preflight(
        _gpt(), cfg, seq_len=64, num_devices=2, steps_per_epoch=50, total_steps=100,
        batch_description="[bold green]⟦hello⟧[/bold green]", console=console,
    )  # fmt: skip
    assert rows["tokens per optimizer step"].startswith("1,024 ")
    assert rows["steps per epoch"] == "50" and rows["total steps"] == "100"
    assert rows["precision"] == "fp32" and rows["devices"] == "2"
    assert rows["attention"] == "sdpa"
    shown = console.export_text()
    assert "memory per device" in shown and "⟦hello⟧" in shown


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_memory_estimate_handles_encoder_decoders(precision):
    from transformers import T5Config, T5ForConditionalGeneration

    t5 = T5ForConditionalGeneration(
        T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2)
    )
    assert estimate_memory_bytes(t5, TrainConfig(precision=precision), seq_len=32) > 0
