"""Text cleaning and filtering, every drop counted by reason.

One batched `datasets.map` (in `num_proc` workers) cleans the text columns and computes, per row,
the reason it would be dropped and a stable 64-bit hash of its text; the drops and duplicates are
then counted and removed with numpy on those two columns, never with a Python set of the corpus.
"""

import re
import unicodedata

import numpy as np

from llmkit.config.data import CleaningConfig
from llmkit.errors import DataError

# Reasons a row is dropped, in the order they are checked; the code is the index + 1.
REASONS = ("empty", "too_short", "too_long")
_REASON_COL = "__llmkit_drop_reason"
_HASH_COL = "__llmkit_text_hash"
# Control characters (Unicode category Cc) other than tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_MIN_ROWS_PER_WORKER = 20_000  # below this, forking workers costs more than it saves


def clean_text(text: str, cfg: CleaningConfig) -> str:
    """One document through the configured cleaning steps."""
    form = cfg.unicode_normalization
    if form != "none" and not unicodedata.is_normalized(form, text):
        text = unicodedata.normalize(form, text)
    if cfg.strip_control_chars:
        text = _CONTROL.sub("", text)
    if cfg.normalize_whitespace:
        text = _SPACE_AROUND_NEWLINE.sub("\n", _SPACES.sub(" ", text)).strip()
    return text


def _clean_value(value, column: str, cfg: CleaningConfig):
    """A cell of a text column: a string, a list of strings (words) or None."""
    if value is None:
        return None, ""
    if isinstance(value, str):
        cleaned = clean_text(value, cfg)
        return cleaned, cleaned
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        cleaned = [clean_text(v, cfg) for v in value]
        return cleaned, " ".join(cleaned)
    raise DataError(
        f"column {column!r} holds {type(value).__name__} values; cleaning needs text "
        "(a string or a list of strings)",
        "point data.columns.* at a text column",
    )


def _drop_reason(text: str, cfg: CleaningConfig) -> int:
    if not text.strip():
        return 1
    if len(text) < cfg.min_chars:
        return 2
    if cfg.max_chars is not None and len(text) > cfg.max_chars:
        return 3
    return 0


def _make_batch_cleaner(cfg: CleaningConfig, columns: list[str]):
    import xxhash

    def clean_batch(batch: dict) -> dict:
        n = len(batch[columns[0]])
        reasons = [0] * n
        joined = [""] * n if len(columns) > 1 else None
        for column in columns:
            out = []
            for i, value in enumerate(batch[column]):
                cleaned, text = _clean_value(value, column, cfg)
                out.append(cleaned)
                reasons[i] = reasons[i] or _drop_reason(text, cfg)
                if joined is not None:
                    joined[i] += text + "\x1f"
            batch[column] = out
        keys = joined if joined is not None else batch[columns[0]]
        batch[_REASON_COL] = np.asarray(reasons, dtype=np.int8)
        if cfg.deduplicate:
            hashes = (
                xxhash.xxh64_intdigest(_as_text(k).encode("utf-8", "surrogatepass")) for k in keys
            )
            batch[_HASH_COL] = np.fromiter(hashes, dtype=np.uint64, count=n)
        return batch

    return clean_batch


def _as_text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else "\x1e".join(value)


def worker_count(num_proc: int | None, rows: int) -> int | None:
    """Workers worth forking for `rows` rows (None = run in this process)."""
    import os

    wanted = num_proc or os.cpu_count() or 1
    useful = min(wanted, rows // _MIN_ROWS_PER_WORKER)
    return useful if useful > 1 else None


def clean_dataset(ds, cfg: CleaningConfig, columns: list[str], num_proc: int | None, name: str):
    """Clean `columns` of `ds` and drop rows by reason. Returns (dataset, {reason: rows dropped}).

    A row is dropped if any of its text columns is empty, shorter than min_chars or longer than
    max_chars after cleaning; with deduplicate, if all its text columns equal an earlier row's.
    """
    if len(ds) == 0:
        return ds, {}
    cleaned = ds.map(
        _make_batch_cleaner(cfg, columns),
        batched=True,
        batch_size=2000,
        num_proc=worker_count(num_proc, len(ds)),
        desc=f"Cleaning {name}",
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
