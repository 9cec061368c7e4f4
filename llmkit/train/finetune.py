"""The `finetune` stage: the task named in `task.type` on the one training loop."""

from pathlib import Path

from llmkit.config.finetune import FinetuneConfig


def run_finetune(cfg: FinetuneConfig, dry_run: bool = False) -> Path:
    """Finetune (or with dry_run, check and take one step); returns the model directory."""
    from llmkit.tasks.registry import build_task
    from llmkit.train.loop import train

    return train(cfg, build_task(cfg), cfg.output_dir, cfg.train, dry_run=dry_run)
