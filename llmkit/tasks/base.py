"""The contract between the one training loop (llmkit.train.loop) and every task.

A task owns what differs between causal LM, masked LM, classification, tagging, seq2seq and SFT:
the model class, how examples become tensors, the loss and the predictions and metrics. The loop
owns everything else: devices, precision, accumulation, schedule, checkpoints, resume, logging.
Adding a task means one module implementing this Protocol plus one line in tasks/registry.py.
"""

from typing import Any, Protocol

import torch
from datasets import Dataset, DatasetDict
from torch.utils.data import Sampler


class Task(Protocol):
    name: str
    """Registry name, e.g. "clm", "mlm", "classification"."""
    tokenizer: Any
    """The task's tokenizer, set once prepare_datasets has run; `--dry-run` decodes a batch with
    it."""

    def build_model(self) -> torch.nn.Module:
        """A transformers PreTrainedModel, from config (pretraining) or from a directory/hub id."""

    def prepare_datasets(self) -> DatasetDict:
        """Tokenized splits ("train", and "validation"/"test" where present) ready for collate.

        Called by the loop inside `accelerator.main_process_first()`, so the main process builds
        any cache and the others load it.
        """

    def train_sampler(self, dataset: Dataset, batch_size: int, seed: int) -> Sampler | None:
        """The order of training rows, e.g. length-grouped batches; None = a seeded shuffle per
        epoch. A sampler must be deterministic per (seed, epoch) and have `set_epoch`, so that a
        resumed run sees the same batches."""

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Examples → a padded batch (dynamic padding: to the longest in the batch).

        The loop runs it under a torch seed derived from the batch's position, so random
        collation (MLM masking) draws from `torch`'s global RNG and still resumes exactly.
        """

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """How many items (tokens, or examples for sequence-level tasks) carry loss in this batch.

        The loop sums this over the micro-batches of one optimizer step (and over processes) and
        divides the summed loss by it, so accumulation averages per token, not per micro-batch.
        """

    def loss_sum(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss summed (not averaged) over the items that carry loss, as a 0-dim tensor."""

    def evaluate_batch(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """Per-batch values for metrics: tensors (gathered across processes by the loop with
        `gather_for_metrics`, then moved to the CPU) such as loss sums and counts, predictions and
        references. Give one row per example (e.g. a loss sum per example, not per batch): the
        gather drops the duplicated examples that pad the last batch by row."""

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        """All gathered evaluate_batch outputs → named metrics (loss, perplexity, accuracy, …)."""

    def save_artifacts(self, model: torch.nn.Module, output_dir: str) -> None:
        """Write what belongs next to the model: tokenizer files, id2label, generation_config.
        The loop has already written the model there with `save_pretrained`."""


def dataset_columns(ds: Dataset | DatasetDict) -> list[str]:
    first = ds if isinstance(ds, Dataset) else next(iter(ds.values()))
    return list(first.column_names)
