"""`llmkit finetune`: classification, token classification, seq2seq or instruction tuning of a
pretrained (or config-built) model, fully or with LoRA adapters."""

from pathlib import Path

from llmkit.cli.common import (
    MULTI_PROCESS_EXAMPLE,
    ConfigArg,
    DryRunOpt,
    ResumeOpt,
    SetOpt,
    with_resume,
)

EXAMPLE = (
    "Example: llmkit finetune configs/finetune-tiny-classification.yaml --set lora.enabled=true; "
    f"{MULTI_PROCESS_EXAMPLE} finetune CONFIG"
)


def finetune(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = ResumeOpt,
    dry_run: bool = DryRunOpt,
) -> None:
    """Finetune a model on a labelled task; output is a HF model dir (+ adapter/ with LoRA)."""
    from llmkit.config.finetune import FinetuneConfig
    from llmkit.config.load import load_config
    from llmkit.train.finetune import run_finetune

    run_finetune(load_config(FinetuneConfig, config, with_resume(set_, resume)), dry_run=dry_run)
