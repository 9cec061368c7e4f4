"""The contract between every task and its users: the one training loop (llmkit.train), its
validation, `llmkit eval` and export.

A task owns what differs between causal LM, masked LM, classification, tagging, seq2seq and SFT:
the model class, how rows become tensors, the loss, the predictions and metrics. The loop owns
everything else: devices, precision, accumulation, schedule, checkpoints, resume, logging.
Adding a task means one module implementing `Task` plus one line in tasks/registry.py; tasks are
built from a spec (llmkit.tasks.spec), never from a whole stage config. What the existing tasks
share is implemented, not inherited as a contract, in tasks/pretraining.py (PretrainTaskBase: clm,
mlm) and tasks/finetune_common.py (FinetuneTaskBase: the four finetuning tasks).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from datasets import Dataset, DatasetDict
from torch.utils.data import Sampler

Batch = dict[str, torch.Tensor]


def plain_shuffle(dataset: Dataset, batch_size: int, seed: int) -> None:
    """The default `TaskData.train_sampler`: None, so the loop shuffles with a seed per epoch."""
    return None


@dataclass
class TaskData:
    """A task's tokenized rows and the one batch format that goes with them."""

    splits: DatasetDict
    """"train" and, where present, "validation"/"test" (or the one split "eval" of rows that
    `Task.prepare_data` was handed)."""
    tokenizer: Any
    """Saved with the model; `--dry-run` decodes a batch with it."""
    collate: Callable[[list[dict[str, Any]]], Batch]
    """Rows → a padded batch (to the longest in the batch). The loop runs it under a torch seed
    derived from the batch's position, so random collation (MLM masking) draws from `torch`'s
    global RNG and still resumes exactly."""
    count_loss_items: Callable[[Batch], torch.Tensor]
    """How many items (tokens, or examples for sequence-level tasks) carry loss in a batch. The
    loop sums it over the micro-batches of an optimizer step and all processes and divides the
    summed loss by it, so accumulation averages per token, not per micro-batch."""
    train_sampler: Callable[[Dataset, int, int], Sampler | None] = plain_shuffle
    """(dataset, batch_size, seed) → the order of training rows, e.g. length-grouped batches;
    None = a seeded shuffle per epoch. A sampler must be deterministic per (seed, epoch) and have
    `set_epoch`, so that a resumed run sees the same batches."""


class Task(Protocol):
    def prepare_data(self, rows: Dataset | None = None) -> TaskData:
        """The task's data, tokenized: its configured splits, or with `rows` (raw rows in the
        task's columns, as `llmkit eval` reads them) those rows as the one split "eval".

        The loop calls it inside `accelerator.main_process_first()`, so the main process builds
        any cache and the others load it.
        """

    def build_model(self) -> torch.nn.Module:
        """A transformers PreTrainedModel, from config (pretraining) or from a directory/hub id."""

    def loss_sum(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """The loss summed (not averaged) over the items that carry loss, as a 0-dim tensor."""

    def evaluate_batch(self, model: torch.nn.Module, batch: Batch) -> dict[str, Any]:
        """Per-batch values for metrics: tensors (gathered across processes with
        `gather_for_metrics`, then moved to the CPU) such as loss sums and counts, predictions and
        references. Give one row per example (e.g. a loss sum per example, not per batch): the
        gather drops the duplicated examples that pad the last batch by row."""

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        """All gathered evaluate_batch outputs → named metrics (loss, perplexity, accuracy, …)."""

    def save_artifacts(self, model: torch.nn.Module, output_dir: str) -> None:
        """Write what belongs next to the model: tokenizer files, id2label, generation_config.
        The loop has already written the model there with `save_pretrained`."""
