"""`llmkit pretrain`: train a causal or masked LM from scratch (or continue one) on packed data."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, SetOpt

EXAMPLE = (
    "Example: llmkit pretrain configs/tiny-gpt.yaml --set train.max_steps=200; "
    "several processes: accelerate launch --num_processes 2 -m llmkit pretrain CONFIG"
)


def pretrain(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the latest checkpoint in output_dir."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check config, model and data, run one step, write nothing."
    ),
) -> None:
    """Pretrain a GPT-2/LLaMA (clm) or BERT/RoBERTa (mlm) model; output is a HF model dir."""
    from llmkit.config.load import load_config
    from llmkit.config.pretrain import PretrainConfig
    from llmkit.train.pretrain import run_pretrain

    overrides = [*set_, "train.resume=auto"] if resume else set_
    run_pretrain(load_config(PretrainConfig, config, overrides), dry_run=dry_run)
