"""Data order for the loop: a seeded shuffle per epoch, and collation under a per-batch seed.

Accelerate's dataloader collates one batch ahead of the one it hands out, so a collate function
that draws from the global RNG (MLM masking) would draw in a different order after a resume than
in an uninterrupted run. Collating each batch under a seed derived from (seed, epoch, batch
index) makes random collation a pure function of the batch's position: resumed runs, and runs
with any number of dataloader workers, see exactly the same batches.
"""

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from accelerate import skip_first_batches
from torch.utils.data import DataLoader, Sampler


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of the rows per epoch, the same on every process for a given
    (seed, epoch). Accelerate calls `set_epoch` at each pass and shards the batches."""

    def __init__(self, num_rows: int, seed: int):
        self.num_rows = num_rows
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
        yield from torch.randperm(self.num_rows, generator=gen).tolist()


def _batch_seed(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class SeededCollate:
    """Wraps a task's collate so each batch is built under its own torch seed. The caller says
    where an epoch starts (`start`); batch i of this process is global batch
    (first + i) · num_processes + process_index."""

    def __init__(self, collate: Callable, seed: int, name: str, num_processes: int, rank: int):
        self.collate = collate
        self.seed, self.name = seed, name
        self.num_processes, self.rank = num_processes, rank
        self.epoch = self.first = self.calls = 0

    def start(self, epoch: int, first_batch: int = 0) -> None:
        self.epoch, self.first, self.calls = epoch, first_batch, 0

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        index = self.first + self.calls
        worker = torch.utils.data.get_worker_info()
        if worker is not None:  # workers collate batches round-robin, each with its own copy
            index = self.first + self.calls * worker.num_workers + worker.id
        self.calls += 1
        global_index = index * self.num_processes + self.rank
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_batch_seed(self.seed, self.name, self.epoch, global_index))
            return self.collate(examples)


def make_loader(
    dataset,
    sampler: Sampler | None,
    batch_size: int,
    collate: SeededCollate,
    num_workers: int,
    drop_last: bool = False,
) -> DataLoader:
    """drop_last for training: a short last batch would be an optimizer step on a few rows and,
    under torch.compile, a recompile to dynamic shapes that slows every later step."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        drop_last=drop_last,
    )


def micro_batch_stream(loader, collate: SeededCollate, epoch: int, skip: int):
    """Micro-batches forever, epoch after epoch, starting `skip` batches into `epoch`.
    Yields (batch, epoch, index of the next batch in that epoch)."""
    while True:
        epoch_loader = skip_first_batches(loader, skip) if skip else loader
        epoch_loader.set_epoch(epoch)
        collate.start(epoch, skip)
        batches = iter(epoch_loader)
        # Starting a pass draws a worker seed from the global RNG; keep that draw out of the
        # training RNG stream, or a resumed run's dropout would differ from an uninterrupted one.
        with torch.random.fork_rng(devices=[]):
            batch = next(batches, None)
        position = skip
        while batch is not None:
            position += 1
            yield batch, epoch, position
            batch = next(batches, None)
        epoch, skip = epoch + 1, 0
