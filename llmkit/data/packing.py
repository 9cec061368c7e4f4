"""Tokenize documents and pack them into fixed-length blocks: no padding, no token lost except
the final partial block of each split.

Speed: the Rust tokenizer encodes in the main process on all cores (`encode_batch_fast`), over
strings of ~16k characters that each hold many documents joined by the separator token — far
fewer Python objects than one encoding per document. A special token in the text is always cut
out before pre-tokenization, so this gives the same ids as encoding each document alone; the
first batch is checked against per-document encoding and the per-document path is used if a
tokenizer ever disagrees. Memory: ids go into a numpy carry buffer and out to Arrow in batches.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
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
            self.checked = True
            sample = docs[:_CHECK_DOCS]
            self.joined = np.array_equal(self._encode_joined(sample), self._encode_each(sample))
        return self._encode_joined(docs) if self.joined else self._encode_each(docs)

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
        texts = [self.sep_text.join(g) + self.sep_text for g in groups]
        encodings = self.backend.encode_batch_fast(texts, add_special_tokens=False)
        parts = [np.asarray(enc.ids, dtype=np.int32) for enc in encodings]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


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
    encoder = DocumentEncoder(tokenizer)
    features = Features({"input_ids": List(Value("int32"), length=block_size)})
    stats = PackStats()
    carry = np.zeros(0, dtype=np.int32)
    with ArrowWriter(path=str(out_file), features=features) as writer:
        for docs in text_batches(ds, column, batch_chars):
            ids = np.concatenate([carry, encoder.encode(docs)])
            n_full = len(ids) // block_size
            if n_full:
                flat = pa.array(ids[: n_full * block_size])
                blocks = pa.FixedSizeListArray.from_arrays(flat, block_size)
                writer.write_table(pa.table({"input_ids": blocks}))
            carry = ids[n_full * block_size :].copy()
            stats.documents += len(docs)
            stats.rows += n_full
            on_progress(sum(len(d) for d in docs))
        writer.finalize()
    stats.tokens = stats.rows * block_size
    stats.tokens_dropped = len(carry)
    return stats


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
