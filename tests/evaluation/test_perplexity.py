"""Perplexity is token-weighted and the sliding window scores every token exactly once."""

import math

import pytest
import torch
import transformers

from llmkit.evaluation.perplexity import perplexity, windows


@pytest.mark.parametrize("length, context, stride", [(10, 4, 2), (10, 4, 4), (3, 8, 4), (17, 5, 3)])
def test_windows_score_each_position_once(length, context, stride):
    scored = []
    for begin, end, first in windows(length, context, stride):
        assert end - begin <= context and begin < first <= end
        scored += range(first, end)
    assert scored == list(range(1, length))


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    return model, transformers.AutoTokenizer.from_pretrained(tiny_gpt2_dir)


def test_whole_context_equals_the_models_own_loss_token_weighted(gpt2, corpus_lines):
    model, tokenizer = gpt2
    texts = corpus_lines[:6]
    nll, tokens = 0.0, 0
    for text in texts:  # HF's own mean loss per text, re-weighted by its scored tokens
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss
        nll += float(loss) * (ids.shape[1] - 1)
        tokens += ids.shape[1] - 1
    got = perplexity(model, tokenizer, texts, context_length=64, batch_size=4)
    assert got["tokens"] == tokens
    assert got["loss"] == pytest.approx(nll / tokens, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)


def test_sliding_window_on_text_longer_than_the_context(gpt2, corpus_lines):
    model, tokenizer = gpt2
    text = " ".join(corpus_lines[:20])
    n_tokens = len(tokenizer(text)["input_ids"])
    assert n_tokens > 64
    strided = perplexity(model, tokenizer, [text], context_length=32, stride=16)
    assert strided["tokens"] == n_tokens - 1
    assert math.isfinite(strided["perplexity"])
    # more carried-over context per token cannot make every window worse than none at all
    no_overlap = perplexity(model, tokenizer, [text], context_length=32, stride=32)
    assert no_overlap["tokens"] == strided["tokens"]
    assert strided["loss"] != no_overlap["loss"]
