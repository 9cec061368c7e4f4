"""Tokenize documents and pack them into fixed-length blocks: no padding, no token lost except
the final partial block of each split.

Speed: the Rust tokenizer encodes in the main process on all cores (`encode_batch_fast`), over
strings of ~16k characters that each hold many documents joined by the separator token — far
fewer Python objects than one encoding per document. A special token in the text is always cut
out before pre-tokenization, so this gives the same ids as encoding each document alone; the
first batch is checked against per-document encoding and the per-document path is used if a
tokenizer ever disagrees. Memory: ids go into a numpy carry buffer and out to Arrow in batches.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Features, List, Value
from datasets.arrow_writer import ArrowWriter

from llmkit.errors import ConfigError, DataError

_GROUP_CHARS = 16_000
_CHECK_DOCS = 200


@dataclass
class PackStats:
    documents: int = 0
    tokens: int = 0
    rows: int = 0
    tokens_dropped: int = 0
    """Tokens of the final partial block, the only ones not written."""


def separator_id(tokenizer) -> int:
    """EOS, or SEP for BERT-style tokenizers that have no EOS."""
    for sep in (tokenizer.eos_token_id, tokenizer.sep_token_id):
        if sep is not None:
            return int(sep)
    raise ConfigError(
        f"tokenizer {tokenizer.name_or_path}: has neither an EOS nor a SEP token to put between "
        "documents",
        "train it with `llmkit tokenizer train` (which sets them) or add eos_token",
    )


def check_block_size(tokenizer, block_size: int) -> None:
    limit = tokenizer.model_max_length
    if limit is not None and limit < 1_000_000 and block_size > limit:  # ~1e30 means "unset"
        raise ConfigError(
            f"block_size: {block_size} is larger than the tokenizer's model_max_length ({limit})",
            f"use block_size <= {limit}",
        )


class DocumentEncoder:
    """Documents → one flat array of ids with the separator after every document."""

    def __init__(self, tokenizer):
        self.backend = tokenizer.backend_tokenizer
        self.sep_id = separator_id(tokenizer)
        self.sep_text = tokenizer.convert_ids_to_tokens(self.sep_id)
        added = self.backend.get_added_tokens_decoder()
        special = self.sep_id in added and added[self.sep_id].special
        self.joined = special  # decided for good by the first batch's check
        self.checked = not special

    def encode(self, docs: list[str]) -> np.ndarray:
        if not self.checked:
            self._check(docs)
        return self._encode_joined(docs) if self.joined else self._encode_each(docs)

    def encode_array(self, docs) -> np.ndarray:
        """Like `encode` for a pyarrow string array: the groups are joined by Arrow compute, so
        only one Python string per ~16k characters is made."""
        if not self.checked:
            self._check(docs.slice(0, _CHECK_DOCS).to_pylist())
        if not self.joined:
            return self._encode_each(docs.to_pylist())
        return self._encode_texts(_joined_groups(docs, self.sep_text))

    def _check(self, docs: list[str]) -> None:
        self.checked = True
        sample = docs[:_CHECK_DOCS]
        self.joined = np.array_equal(self._encode_joined(sample), self._encode_each(sample))

    def _encode_each(self, docs: list[str]) -> np.ndarray:
        encodings = self.backend.encode_batch_fast(docs, add_special_tokens=False)
        parts = []
        for enc in encodings:
            parts.append(np.asarray(enc.ids, dtype=np.int32))
            parts.append(np.asarray([self.sep_id], dtype=np.int32))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def _encode_joined(self, docs: list[str]) -> np.ndarray:
        groups, current, size = [], [], 0
        for doc in docs:
            current.append(doc)
            size += len(doc)
            if size >= _GROUP_CHARS:
                groups.append(current)
                current, size = [], 0
        if current:
            groups.append(current)
        return self._encode_texts([self.sep_text.join(g) + self.sep_text for g in groups])

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        encodings = self.backend.encode_batch_fast(texts, add_special_tokens=False)
        parts = [np.asarray(enc.ids, dtype=np.int32) for enc in encodings]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def _joined_groups(docs, sep_text: str) -> list[str]:
    """Documents, each followed by `sep_text`, concatenated into strings of ~_GROUP_CHARS bytes."""
    if len(docs) == 0:
        return []
    with_sep = pc.binary_join_element_wise(docs, pa.scalar(""), sep_text)
    ends = np.cumsum(pc.binary_length(with_sep).to_numpy(zero_copy_only=False), dtype=np.int64)
    cuts = np.searchsorted(ends, np.arange(_GROUP_CHARS, int(ends[-1]), _GROUP_CHARS))
    bounds = np.unique(np.concatenate([[0], cuts + 1, [len(docs)]]).clip(0, len(docs)))
    groups = pa.ListArray.from_arrays(pa.array(bounds, pa.int32()), with_sep)
    return pc.binary_join(groups, "").to_pylist()


def text_batches(ds, column: str, batch_chars: int) -> Iterator[list[str]]:
    """Lists of documents of about `batch_chars` characters, read straight from the Arrow table.

    Cleaning and splitting leave an indices mapping in row order; reading a contiguous slice and
    taking from it is much faster than datasets' row-by-row gather.
    """
    if len(ds) == 0:
        return
    col = ds.data.column(column)
    rows = max(1, int(batch_chars * max(1, ds.data.num_rows) / max(1, col.nbytes)))
    indices = None if ds._indices is None else ds._indices.column(0).to_numpy()
    for start in range(0, len(ds), rows):
        if indices is None:
            arr = col.slice(start, rows)
        else:
            idx = indices[start : start + rows]
            lo = int(idx[0])
            if np.all(np.diff(idx) > 0):
                arr = col.slice(lo, int(idx[-1]) - lo + 1).take(pa.array(idx - lo))
            else:
                arr = col.take(pa.array(idx))
        yield arr.to_pylist()


class BlockPacker:
    """Documents in, blocks of exactly `block_size` ids out to `write(table)`; the ids left
    over (less than one block) are carried into the next call."""

    def __init__(self, tokenizer, block_size: int, write: Callable, seconds: dict | None = None):
        self.encoder = DocumentEncoder(tokenizer)
        self.block_size = block_size
        self.write = write
        self.stats = PackStats()
        self.carry = np.zeros(0, dtype=np.int32)
        self.seconds = {"tokenize": 0.0, "pack": 0.0} if seconds is None else seconds
        """Wall seconds spent tokenizing and packing (not writing), added to by phase."""

    def add(self, docs) -> None:
        """`docs`: a list of str or a pyarrow string array (without nulls)."""
        started = time.perf_counter()
        if isinstance(docs, list):
            encoded = self.encoder.encode(docs)
        else:
            encoded = self.encoder.encode_array(docs)
        self.seconds["tokenize"] += time.perf_counter() - started
        self._add_ids(encoded)
        self.stats.documents += len(docs)

    def _add_ids(self, encoded: np.ndarray) -> None:
        started = time.perf_counter()
        ids = np.concatenate([self.carry, encoded]) if len(self.carry) else encoded
        n_full = len(ids) // self.block_size
        self.carry = ids[n_full * self.block_size :].copy()
        self.stats.rows += n_full
        self.seconds["pack"] += time.perf_counter() - started
        if n_full:
            flat = pa.array(ids[: n_full * self.block_size])
            self.write(
                pa.table({"input_ids": pa.FixedSizeListArray.from_arrays(flat, self.block_size)})
            )

    def finish(self) -> PackStats:
        self.stats.tokens = self.stats.rows * self.block_size
        self.stats.tokens_dropped = len(self.carry)
        return self.stats


def block_features(block_size: int):

    return Features({"input_ids": List(Value("int32"), length=block_size)})


def pack_split(
    ds,
    column: str,
    tokenizer,
    block_size: int,
    out_file: Path,
    batch_chars: int = 4_000_000,
    on_progress: Callable[[int], None] = lambda chars: None,
) -> PackStats:
    """Tokenize `ds[column]` and write blocks of `block_size` ids to an Arrow file."""

    with ArrowWriter(path=str(out_file), features=block_features(block_size)) as writer:
        packer = BlockPacker(tokenizer, block_size, writer.write_table)
        for docs in text_batches(ds, column, batch_chars):
            packer.add(docs)
            on_progress(sum(len(d) for d in docs))
        writer.finalize()
    return packer.finish()


def empty_split_message(name: str, stats: PackStats, block_size: int) -> str:
    total = stats.tokens + stats.tokens_dropped
    return (
        f"split {name!r}: {stats.documents} documents gave {total} tokens, fewer than one block "
        f"of block_size={block_size}"
    )


def require_blocks(name: str, stats: PackStats, block_size: int) -> None:
    if stats.rows == 0:
        raise DataError(
            empty_split_message(name, stats, block_size),
            "lower block_size, add data, or raise split.validation_ratio",
        )
