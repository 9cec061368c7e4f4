"""`llmkit pretrain`: train a causal or masked LM from scratch (or continue one) on packed data."""

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
    "Example: llmkit pretrain configs/tiny-gpt.yaml --set train.max_steps=200; "
    f"{MULTI_PROCESS_EXAMPLE} pretrain CONFIG"
)


def pretrain(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = ResumeOpt,
    dry_run: bool = DryRunOpt,
) -> None:
    """Pretrain a GPT-2/LLaMA (clm) or BERT/RoBERTa (mlm) model; output is a HF model dir."""
    from llmkit.config.load import load_config
    from llmkit.config.pretrain import PretrainConfig
    from llmkit.train.pretrain import run_pretrain

    run_pretrain(load_config(PretrainConfig, config, with_resume(set_, resume)), dry_run=dry_run)
