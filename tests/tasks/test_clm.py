"""Causal LM: every next token carries loss (shifted inside the loss), padding carries none, and
the summed loss matches transformers' own mean loss times the token count."""

import pytest
import torch

from llmkit.config.load import validate
from llmkit.config.pretrain import PretrainConfig
from llmkit.tasks.clm import CausalLMTask


@pytest.fixture
def task(causal_tokenizer_dir) -> CausalLMTask:
    from transformers import AutoTokenizer

    cfg = validate(PretrainConfig, {"data": {"dataset_dir": "unused"}})
    task = CausalLMTask(cfg)
    task.tokenizer = AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    return task


def _model(vocab: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab, n_layer=1, n_embd=32, n_head=2, n_positions=64)
    return GPT2LMHeadModel(config).eval()


def test_packed_rows_predict_every_next_token(task):
    batch = task.collate([{"input_ids": [5, 6, 7, 8]}, {"input_ids": [9, 10, 11, 12]}])
    assert "attention_mask" not in batch  # packed rows need no mask
    assert torch.equal(batch["labels"], batch["input_ids"])
    assert task.count_loss_items(batch) == 2 * 3  # the first token of a row is never a target


def test_padding_carries_no_loss_and_sums_match_transformers(task):
    batch = task.collate([{"input_ids": [5, 6, 7, 8, 9]}, {"input_ids": [10, 11]}])
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert batch["labels"][1].tolist() == [10, 11, -100, -100, -100]
    assert task.count_loss_items(batch) == 4 + 1
    model = _model(len(task.tokenizer))
    with torch.no_grad():
        mean = model(**batch).loss  # transformers shifts and averages over labels != -100
        total = task.loss_sum(model, batch)
        per_row = task.evaluate_batch(model, batch)
    assert total.item() == pytest.approx(mean.item() * 5, rel=1e-5)
    assert per_row["n_items"].tolist() == [4, 1]
    assert per_row["loss_sum"].sum().item() == pytest.approx(total.item(), rel=1e-5)
    metrics = task.compute_metrics([per_row])
    assert metrics["loss"] == pytest.approx(mean.item(), rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(mean.exp().item(), rel=1e-5)
