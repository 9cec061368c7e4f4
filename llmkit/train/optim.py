"""AdamW with decay only on weight matrices, and warmup + cosine/linear/constant schedules."""

import math

import torch

from llmkit.config.train import OptimizerConfig, ScheduleConfig
from llmkit.errors import ConfigError


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on the matrices of linear layers only: decaying norms, biases and embeddings
    pulls them towards zero for no regularisation benefit (GPT-3, nanoGPT, LLaMA recipes)."""
    no_decay_types = (torch.nn.Embedding, torch.nn.LayerNorm)
    no_decay: set[int] = set()
    for module in model.modules():
        norm_like = isinstance(module, no_decay_types) or "norm" in type(module).__name__.lower()
        for name, param in module.named_parameters(recurse=False):
            if norm_like or name.endswith("bias") or param.ndim < 2:
                no_decay.add(id(param))
    decay, plain = [], []
    for param in model.parameters():  # tied weights appear once
        if param.requires_grad:
            (plain if id(param) in no_decay else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, cfg: OptimizerConfig, device: torch.device):
    fused = cfg.fused
    if fused == "auto":
        fused = device.type in ("cuda", "cpu")  # PyTorch has fused AdamW kernels for both
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=cfg.betas,
        eps=cfg.eps,
        fused=bool(fused) or None,
    )


def lr_factor(step: int, cfg: ScheduleConfig, base_lr: float, total_steps: int) -> float:
    """Multiplier of base_lr for the optimizer step about to run (0-based). Neither end runs a
    step at lr 0, which would be a step that cannot move the weights: warmup starts at
    1/(warmup_steps + 1), and the decay would reach min_lr one step after the last, as
    transformers' schedules do (so after warmup, the rates are the Trainer's)."""
    if step < cfg.warmup_steps:
        return (step + 1) / (cfg.warmup_steps + 1)
    floor = cfg.min_lr / base_lr
    if cfg.kind == "constant":
        return 1.0
    decay_steps = max(total_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / decay_steps, 1.0)
    if cfg.kind == "linear":
        return floor + (1.0 - floor) * (1.0 - progress)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer, cfg: ScheduleConfig, base_lr: float, total_steps: int):
    if cfg.min_lr > base_lr:
        raise ConfigError(
            f"train.schedule.min_lr ({cfg.min_lr}) exceeds train.optimizer.lr ({base_lr})"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg, base_lr, total_steps)
    )
