"""The `pretrain` stage: the pretraining task named in the config, on the one training loop."""

from pathlib import Path

from llmkit.config.pretrain import PretrainConfig


def run_pretrain(cfg: PretrainConfig, dry_run: bool = False) -> Path:
    """Train (or with dry_run, check and take one step); returns the model directory."""
    from llmkit.tasks.registry import build_task
    from llmkit.train.loop import train

    return train(cfg, build_task(cfg), cfg.output_dir, cfg.train, dry_run=dry_run)
