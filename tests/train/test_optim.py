"""AdamW decays only weight matrices; warmup then cosine/linear/constant schedules towards min_lr."""

import pytest
import torch

from llmkit.config.train import OptimizerConfig, ScheduleConfig
from llmkit.train.optim import build_optimizer, build_scheduler, param_groups


def test_no_weight_decay_on_norms_biases_and_embeddings():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_layer=1, n_embd=16, n_head=2))
    decay, plain = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    not_decayed = {names[id(p)] for p in plain["params"]}
    assert decay["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert "transformer.wte.weight" in not_decayed and "transformer.wpe.weight" in not_decayed
    embeddings = ("transformer.wte.weight", "transformer.wpe.weight")  # lm_head is tied to wte
    assert all("ln_" in n or n.endswith("bias") or n in embeddings for n in not_decayed)
    assert "transformer.h.0.attn.c_attn.weight" in decayed
    assert not any("ln_" in n or n.endswith("bias") for n in decayed)
    assert len(decayed) + len(not_decayed) == len(list(model.parameters()))


@pytest.mark.parametrize("kind", ["cosine", "linear", "constant"])
def test_warmup_then_decay_to_min_lr(kind):
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = build_optimizer(torch.nn.Linear(2, 2), OptimizerConfig(lr=1.0), torch.device("cpu"))
    optimizer.param_groups[0]["params"] = [param]
    schedule = ScheduleConfig(kind=kind, warmup_steps=4, min_lr=0.1)
    scheduler = build_scheduler(optimizer, schedule, 1.0, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])  # linear warmup, never 0
    assert lrs[4] == pytest.approx(1.0)
    if kind == "constant":
        assert lrs[-1] == pytest.approx(1.0)
    else:
        assert 0.1 < lrs[-1] < 0.2  # min_lr would be reached one step after the last
        assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    if kind == "linear":  # the Trainer's linear schedule: factor (20 - step) / (20 - 4)
        assert lrs[12] == pytest.approx(0.1 + 0.9 * 8 / 16)
        assert lrs[-1] == pytest.approx(0.1 + 0.9 * 1 / 16)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_no_step_runs_at_zero_lr(kind):
    """A step at lr 0 computes a batch and cannot move the weights."""
    optimizer = build_optimizer(torch.nn.Linear(2, 2), OptimizerConfig(lr=1.0), torch.device("cpu"))
    scheduler = build_scheduler(optimizer, ScheduleConfig(kind=kind), 1.0, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1.0) and min(lrs) > 0
