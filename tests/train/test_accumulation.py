"""Gradient accumulation averages the loss per token over the whole optimizer step: two
micro-batches of 4 give the same update as one batch of 8, even when they hold different
numbers of tokens."""

import pytest
import torch
from pretrain_helpers import final_weights, tiny_config, write_unpacked_dir

from llmkit.train.stage import run_training


@pytest.fixture(scope="module")
def ragged_data_dir(tmp_path_factory, causal_tokenizer_dir, corpus_lines):
    out = tmp_path_factory.mktemp("ragged") / "data"
    return write_unpacked_dir(causal_tokenizer_dir, corpus_lines[:64], out, max_len=24)


def test_accumulated_micro_batches_equal_one_big_batch(tmp_path, ragged_data_dir):
    # fp32: bf16 autocast rounds differently for a batch of 4 and a batch of 8
    common = dict(
        max_steps=3, max_grad_norm=None, precision="fp32",
        logging={"every_steps": 1, "trackers": []},
    )  # fmt: skip
    big = run_training(tiny_config(tmp_path / "big", ragged_data_dir, batch_size=8, **common))
    small = run_training(
        tiny_config(tmp_path / "acc", ragged_data_dir, batch_size=4, grad_accum_steps=2, **common)
    )
    a, b = final_weights(big), final_weights(small)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    # and the weights did move: the comparison is not between two untouched models
    init = run_training(
        tiny_config(tmp_path / "one", ragged_data_dir, batch_size=8, **{**common, "max_steps": 1})
    )
    assert any(not torch.equal(final_weights(init)[k], a[k]) for k in a)
