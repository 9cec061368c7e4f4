"""What a task is built from: the task-sized part of a stage config.

The loop builds tasks from a whole stage config (`task_spec(cfg)`); `llmkit eval` builds one for
a trained model directly, without inventing a stage config around it.
"""

from dataclasses import dataclass, field

from llmkit.config.data import CleaningConfig, ColumnsConfig, DataConfig, SplitConfig
from llmkit.config.finetune import (
    BatchingConfig,
    FinetuneConfig,
    FinetuneTask,
    FreezeConfig,
    LoraConfig,
)
from llmkit.config.model import ModelConfig
from llmkit.config.pretrain import PretrainConfig, PretrainDataConfig, PretrainTaskConfig


@dataclass(frozen=True)
class FinetuneSpec:
    """A finetuning task: its options, model, tokenizer and data handling."""

    task: FinetuneTask
    model: ModelConfig
    columns: ColumnsConfig
    """Which columns of the rows hold text, labels, words, …"""
    data: DataConfig | None = None
    """Where the rows come from; None when the caller hands the task its rows (`llmkit eval`)."""
    tokenizer: str | None = None
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    max_length: int | None = None
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    precision: str = "fp32"
    """train.precision: decides what attn_implementation auto means."""
    has_validation: bool = False
    """A validation split will be evaluated (seq2seq then checks generation lengths)."""
    options_key: str = "task"
    """Where the user sets the task's options, as errors name them (`llmkit eval` has its
    own keys for the few it takes)."""


@dataclass(frozen=True)
class PretrainSpec:
    """A pretraining task: its objective, model and packed data."""

    task: PretrainTaskConfig
    model: ModelConfig
    data: PretrainDataConfig
    precision: str = "fp32"
    seed: int = 0
    """train.seed: draws what is drawn once per run (next-sentence pairs)."""


def task_spec(cfg: PretrainConfig | FinetuneConfig) -> PretrainSpec | FinetuneSpec:
    """The spec of the task a stage config names."""
    if isinstance(cfg, PretrainConfig):
        return PretrainSpec(cfg.task, cfg.model, cfg.data, cfg.train.precision, cfg.train.seed)
    return FinetuneSpec(
        task=cfg.task,
        model=cfg.model,
        columns=cfg.data.columns,
        data=cfg.data,
        tokenizer=cfg.tokenizer,
        cleaning=cfg.cleaning,
        split=cfg.split,
        max_length=cfg.max_length,
        batching=cfg.batching,
        lora=cfg.lora,
        freeze=cfg.freeze,
        precision=cfg.train.precision,
        has_validation=cfg.has_validation,
    )
