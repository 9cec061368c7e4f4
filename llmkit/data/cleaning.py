"""Text cleaning and filtering, every drop counted by reason.

One batched `datasets.map` over Arrow batches (in `num_proc` workers) cleans the text columns
with pyarrow's C++ string kernels and computes, per row,
the reason it would be dropped and a stable 64-bit hash of its text; the drops and duplicates are
then counted and removed with numpy on those two columns, never with a Python set of the corpus.
"""

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from llmkit.config.data import CleaningConfig
from llmkit.errors import DataError

# Reasons a row is dropped, in the order they are checked; the code is the index + 1.
REASONS = ("empty", "too_short", "too_long")
_REASON_COL = "__llmkit_drop_reason"
_HASH_COL = "__llmkit_text_hash"
# RE2 patterns. Control characters (Unicode category Cc) other than tab and newline:
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"
_SPACES = r"[ \t]+"
_SPACE_AROUND_NEWLINE = r" ?\n ?"
_MIN_ROWS_PER_WORKER = 200_000  # below this, forking workers costs more than it saves


def clean_array(arr, cfg: CleaningConfig):
    """A pyarrow string array through the configured cleaning steps (vectorized, in C++)."""
    if cfg.unicode_normalization != "none":
        arr = pc.utf8_normalize(arr, cfg.unicode_normalization)
    if cfg.strip_control_chars and _may_hold_control_chars(arr):
        arr = pc.replace_substring_regex(arr, _CONTROL, "")
    if cfg.normalize_whitespace:
        arr = pc.replace_substring_regex(arr, _SPACES, " ")
        arr = pc.replace_substring_regex(arr, _SPACE_AROUND_NEWLINE, "\n")
        arr = pc.utf8_trim_whitespace(arr)
    return arr


def _may_hold_control_chars(arr) -> bool:
    """False when no byte of the array's text can start a control character (most text): a
    scan with numpy is ~10x cheaper than the regex replace it saves."""
    if not isinstance(arr, pa.Array):
        return True  # a chunked array: no single buffer to scan
    data = arr.buffers()[2]
    if len(arr) == 0 or data is None:
        return False
    text = np.frombuffer(data, dtype=np.uint8)
    c0 = (text < 0x20) & (text != 0x09) & (text != 0x0A)
    if c0.any() or (text == 0x7F).any():
        return True
    lead = np.flatnonzero(text[:-1] == 0xC2)  # C1 controls U+0080-U+009F are C2 80 … C2 9F
    return bool(((text[lead + 1] >= 0x80) & (text[lead + 1] <= 0x9F)).any())


def clean_text(text: str, cfg: CleaningConfig) -> str:
    """One document through the configured cleaning steps."""
    return clean_array(pa.array([text], pa.string()), cfg)[0].as_py()


def _drop_reasons(arr, cfg: CleaningConfig) -> np.ndarray:
    """Per row: 0 keep, else 1 + the index in REASONS of the first filter that drops it."""
    lengths = pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    blank = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0).to_numpy(
        zero_copy_only=False
    )
    reasons = np.zeros(len(arr), dtype=np.int8)
    if cfg.max_chars is not None:
        reasons[lengths > cfg.max_chars] = 3
    reasons[lengths < cfg.min_chars] = 2
    reasons[blank == 0] = 1
    return reasons


def _as_string_array(table, column: str):
    """A text column as one string array; lists of words are joined with spaces for the length
    and duplicate checks (the words themselves are cleaned one by one)."""
    col = table.column(column).combine_chunks()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col, col
    if pa.types.is_null(col.type):
        empty = pa.nulls(len(col), pa.string())
        return empty, empty
    if (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)) and pa.types.is_string(
        col.type.value_type
    ):
        return col, pc.binary_join(col, " ")
    raise DataError(
        f"column {column!r} holds {col.type} values; cleaning needs text "
        "(a string or a list of strings)",
        "point data.columns.* at a text column",
    )


def _make_batch_cleaner(cfg: CleaningConfig, columns: list[str]):
    def clean_batch(table):
        reasons = np.zeros(table.num_rows, dtype=np.int8)
        keys = []
        for column in columns:
            original, text = _as_string_array(table, column)
            if original is text:
                cleaned = text = clean_array(text, cfg)
            else:  # a list of words: clean each word, keep the list shape
                offsets = pc.subtract(original.offsets, original.offsets[0])
                cleaned = pa.ListArray.from_arrays(offsets, clean_array(original.flatten(), cfg))
                text = _as_string_array(pa.table({column: cleaned}), column)[1]
            index = table.column_names.index(column)
            table = table.set_column(index, column, cleaned)
            column_reasons = _drop_reasons(text, cfg)
            reasons = np.where(reasons == 0, column_reasons, reasons)
            keys.append(text.to_pylist())
        table = table.append_column(_REASON_COL, pa.array(reasons))
        if cfg.deduplicate:
            rows = zip(*keys, strict=True) if len(keys) > 1 else ((k,) for k in keys[0])
            hashes = (xxhash.xxh64_intdigest(_key_bytes(row)) for row in rows)
            table = table.append_column(
                _HASH_COL, pa.array(np.fromiter(hashes, dtype=np.uint64, count=table.num_rows))
            )
        return table

    return clean_batch


def _key_bytes(row: tuple) -> bytes:
    return "\x1f".join(v or "" for v in row).encode("utf-8", "surrogatepass")


def worker_count(num_proc: int | None, rows: int) -> int | None:
    """Workers worth forking for `rows` rows (None = run in this process)."""
    wanted = num_proc or os.cpu_count() or 1
    useful = min(wanted, rows // _MIN_ROWS_PER_WORKER)
    return useful if useful > 1 else None


def clean_dataset(ds, cfg: CleaningConfig, columns: list[str], num_proc: int | None, name: str):
    """Clean `columns` of `ds` and drop rows by reason. Returns (dataset, {reason: rows dropped}).

    A row is dropped if any of its text columns is empty, shorter than min_chars or longer than
    max_chars after cleaning; with deduplicate, if all its text columns equal an earlier row's.
    """
    if len(ds) == 0 or not columns:  # no text column (chat data): nothing to clean or compare
        return ds, {}
    cleaned = (
        ds.with_format("arrow")
        .map(
            _make_batch_cleaner(cfg, columns),
            batched=True,
            batch_size=2000,
            num_proc=worker_count(num_proc, len(ds)),
            desc=f"Cleaning {name}",
        )
        .with_format(None)
    )
    reasons = np.asarray(cleaned.data.column(_REASON_COL).to_numpy(), dtype=np.int8)
    keep = reasons == 0
    dropped = {r: int(np.count_nonzero(reasons == i + 1)) for i, r in enumerate(REASONS)}
    if cfg.deduplicate:
        hashes = cleaned.data.column(_HASH_COL).to_numpy()
        kept_rows = np.flatnonzero(keep)
        _, first = np.unique(hashes[kept_rows], return_index=True)
        unique_rows = kept_rows[np.sort(first)]
        dropped["duplicate"] = int(len(kept_rows) - len(unique_rows))
        keep = np.zeros(len(reasons), dtype=bool)
        keep[unique_rows] = True
    helper_columns = [c for c in (_REASON_COL, _HASH_COL) if c in cleaned.column_names]
    cleaned = cleaned.remove_columns(helper_columns)
    if not keep.all():
        cleaned = cleaned.select(np.flatnonzero(keep))
    if len(cleaned) == 0:
        raise DataError(_everything_dropped_message(name, len(ds), dropped, cfg))
    return cleaned, {r: n for r, n in dropped.items() if n}


def _everything_dropped_message(name: str, rows: int, dropped: dict[str, int], cfg) -> str:
    worst = max(dropped, key=dropped.get)
    fixes = {
        "empty": "check data.columns.text points at the text column",
        "too_short": f"lower cleaning.min_chars (now {cfg.min_chars})",
        "too_long": f"raise cleaning.max_chars (now {cfg.max_chars})",
        "duplicate": "set cleaning.deduplicate: false",
    }
    counts = ", ".join(f"{r}: {n}" for r, n in dropped.items() if n)
    return (
        f"{name}: all {rows} rows were removed by cleaning ({counts}); the '{worst}' filter "
        f"removed the most — {fixes[worst]}"
    )


class StreamCleaner:
    """The cleaning and filters of `clean_dataset` applied chunk by chunk to one text column, for
    streaming: same text, same drops, same first-kept duplicates. Memory: 8 bytes per kept row
    for de-duplication (the sorted hashes seen so far), nothing per row otherwise."""

    def __init__(self, cfg: CleaningConfig):
        self.cfg = cfg
        self.rows = 0
        self.counts = np.zeros(len(REASONS) + 1, dtype=np.int64)
        self.duplicates = 0
        self.seen = np.zeros(0, dtype=np.uint64)

    def clean(self, docs):
        """A pyarrow string array of raw documents → the cleaned ones that are kept."""
        cleaned = clean_array(docs, self.cfg)
        reasons = _drop_reasons(cleaned, self.cfg)
        self.rows += len(reasons)
        self.counts += np.bincount(reasons, minlength=len(REASONS) + 1)
        keep = reasons == 0
        if self.cfg.deduplicate:
            keep = self._first_seen(cleaned, keep)
        return cleaned if keep.all() else cleaned.filter(pa.array(keep))

    def _first_seen(self, cleaned, keep: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(keep)
        texts = cleaned.take(rows).to_pylist()
        hashes = np.fromiter(
            (xxhash.xxh64_intdigest(_key_bytes((t,))) for t in texts), np.uint64, len(texts)
        )
        _, first = np.unique(hashes, return_index=True)
        first = np.sort(first)
        new = ~np.isin(hashes[first], self.seen, assume_unique=True)
        unique_rows = rows[first[new]]
        self.seen = np.union1d(self.seen, hashes[first[new]])
        self.duplicates += len(rows) - len(unique_rows)
        kept = np.zeros(len(keep), dtype=bool)
        kept[unique_rows] = True
        return kept

    def dropped(self) -> dict[str, int]:
        """{reason: rows dropped}, only the reasons that dropped any, in `clean_dataset`'s order."""
        dropped = {r: int(self.counts[i + 1]) for i, r in enumerate(REASONS)}
        if self.cfg.deduplicate:
            dropped["duplicate"] = self.duplicates
        return {r: n for r, n in dropped.items() if n}

    def require_rows_kept(self, kept: int, name: str) -> None:
        if kept == 0 and self.rows:
            raise DataError(_everything_dropped_message(name, self.rows, self.dropped(), self.cfg))
