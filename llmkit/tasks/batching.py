"""Batching for finetuning tasks: dynamic padding and length-grouped, still random, batches.

Padding every example to a fixed maximum wastes most of the compute on short texts (SST-2's
sentences average ~13 tokens against run_glue.py's 128). Padding to each batch's longest example
is free; grouping examples of similar length into the same batch saves more, but sorting the
whole epoch (or taking sorted windows in order) makes consecutive batches correlated, which cost
accuracy in the Trainer baseline (BASELINES.md). So: shuffle, cut into windows of `window`
batches, sort each window by length, cut into batches, and shuffle the batches of the epoch.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from llmkit.models.loss import IGNORE_INDEX


class LengthGroupedSampler(Sampler[int]):
    """Yields example indices so that each consecutive run of `batch_size` indices has similar
    lengths, while batch order and composition change with the seed and epoch.

    Deterministic for a given (seed, epoch): resuming mid-epoch replays the same order, and
    Accelerate calls `set_epoch` on it at each pass over the data.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, window: int = 4):
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.seed = seed
        self.window = window
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=gen)
        span = self.batch_size * self.window
        batches: list[torch.Tensor] = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            # stable sort keeps the random order among equal lengths
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches.extend(chunk.split(self.batch_size))
        # a partial batch (the epoch's last) stays last so every other batch is full
        full = [b for b in batches if len(b) == self.batch_size]
        partial = [b for b in batches if len(b) != self.batch_size]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=gen).tolist()]
        for batch in shuffled + partial:
            yield from batch.tolist()


def pad_sequences(rows: list[list[int]], pad_value: int, width: int | None = None) -> torch.Tensor:
    """Right-pad lists of ints into a (len(rows), width) tensor; width defaults to the longest."""
    width = max(len(r) for r in rows) if width is None else width
    out = torch.full((len(rows), width), pad_value, dtype=torch.long)
    for i, row in enumerate(rows):
        row = row[:width]
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def pad_token_batch(
    examples: list[dict[str, Any]], pad_values: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Pad each listed key of `examples` to the batch's longest row (dynamic padding).

    `pad_values` maps key → pad value, e.g. {"input_ids": pad_id, "attention_mask": 0,
    "labels": -100}. Keys not in an example are skipped.
    """
    batch = {}
    for key, pad in pad_values.items():
        if key in examples[0]:
            batch[key] = pad_sequences([ex[key] for ex in examples], pad)
    return batch


def pad_ids_and_labels(
    examples: list[dict[str, Any]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """input_ids padded with the pad token, labels with IGNORE_INDEX (no loss), and an attention mask of
    the real tokens: the batch of every task whose examples are (input_ids, labels)."""
    batch = pad_token_batch(examples, {"input_ids": pad_token_id, "labels": IGNORE_INDEX})
    lengths = torch.tensor([len(ex["input_ids"]) for ex in examples])
    width = batch["input_ids"].shape[1]
    batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
    return batch
