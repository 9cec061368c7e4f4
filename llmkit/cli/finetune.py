"""`llmkit finetune`: classification, token classification, seq2seq or instruction tuning of a
pretrained (or config-built) model, fully or with LoRA adapters."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, SetOpt

EXAMPLE = (
    "Example: llmkit finetune configs/finetune-tiny-classification.yaml --set lora.enabled=true; "
    "several processes: accelerate launch --num_processes 2 -m llmkit finetune CONFIG"
)


def finetune(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the latest checkpoint in output_dir."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check config, model and data, run one step, write nothing."
    ),
) -> None:
    """Finetune a model on a labelled task; output is a HF model dir (+ adapter/ with LoRA)."""
    from llmkit.config.finetune import FinetuneConfig
    from llmkit.config.load import load_config
    from llmkit.train.finetune import run_finetune

    overrides = [*set_, "train.resume=auto"] if resume else set_
    run_finetune(load_config(FinetuneConfig, config, overrides), dry_run=dry_run)
