"""The `pretrain` and `finetune` stages: the task named in the config on the one training loop,
or with --dry-run, the run set up and checked with one optimizer step."""

from pathlib import Path

from llmkit.config.finetune import FinetuneConfig
from llmkit.config.pretrain import PretrainConfig
from llmkit.tasks.registry import build_task
from llmkit.train.dry_run import dry_run as check_one_step
from llmkit.train.loop import train
from llmkit.train.setup import setup_run
from llmkit.writable import require_writable_dir


def run_training(cfg: PretrainConfig | FinetuneConfig, dry_run: bool = False) -> Path:
    """Train (or with dry_run, check and take one step, writing nothing); returns the model
    directory (cfg.output_dir)."""
    require_writable_dir(Path(cfg.output_dir), "output_dir")
    task = build_task(cfg)
    if dry_run:
        check_one_step(setup_run(cfg, task))
        return Path(cfg.output_dir)
    return train(cfg, task)
