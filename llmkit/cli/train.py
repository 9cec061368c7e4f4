"""`llmkit pretrain` and `llmkit finetune`: one training stage, two config schemas.

pretrain trains a causal or masked LM from scratch (or continues one) on packed data; finetune
trains classification, token classification, seq2seq or instruction tuning (SFT) on a pretrained
(or config-built) model, fully or with LoRA adapters.
"""

from pathlib import Path

from llmkit.cli.common import (
    MULTI_PROCESS_EXAMPLE,
    ConfigArg,
    DryRunOpt,
    ResumeOpt,
    SetOpt,
    with_resume,
)
from llmkit.config.finetune import FinetuneConfig
from llmkit.config.load import load_config
from llmkit.config.pretrain import PretrainConfig

PRETRAIN_EXAMPLE = (
    "Example: llmkit pretrain configs/tiny-gpt.yaml --set train.max_steps=200; "
    f"{MULTI_PROCESS_EXAMPLE} pretrain CONFIG"
)
FINETUNE_EXAMPLE = (
    "Example: llmkit finetune configs/finetune-tiny-classification.yaml --set lora.enabled=true; "
    f"{MULTI_PROCESS_EXAMPLE} finetune CONFIG"
)


def pretrain(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = ResumeOpt,
    dry_run: bool = DryRunOpt,
) -> None:
    """Pretrain a GPT-2/LLaMA (clm) or BERT/RoBERTa (mlm) model; output is a HF model dir."""
    # The stage imports torch/transformers/datasets: loaded only when the command runs, so
    # `llmkit --help` stays under a second (BENCHMARKS.md).
    from llmkit.train.stage import run_training

    run_training(load_config(PretrainConfig, config, with_resume(set_, resume)), dry_run=dry_run)


def finetune(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    resume: bool = ResumeOpt,
    dry_run: bool = DryRunOpt,
) -> None:
    """Finetune a model on a labelled task; output is a HF model dir (+ adapter/ with LoRA)."""
    # The stage imports torch/transformers/datasets: loaded only when the command runs, so
    # `llmkit --help` stays under a second (BENCHMARKS.md).
    from llmkit.train.stage import run_training

    run_training(load_config(FinetuneConfig, config, with_resume(set_, resume)), dry_run=dry_run)
