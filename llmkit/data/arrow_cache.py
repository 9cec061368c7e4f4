"""Raw files read once into an Arrow file in datasets' cache, reused while the files (and the
settings they were read with) are unchanged, with what the read skipped."""

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import Dataset

from llmkit.errors import DataError


@dataclass
class ReadStats:
    """What reading a split skipped, by reason (only undecodable text lines so far)."""

    dropped: dict[str, int] = field(default_factory=dict)


def cache_path(files: list[Path], kind: str, settings: str) -> Path:
    """Arrow file in datasets' cache for `files` read with `settings` (changes when they do)."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(settings.encode())
    return Path(datasets.config.HF_DATASETS_CACHE) / kind / f"{h.hexdigest()[:24]}.arrow"


def read_cached(target: Path, write):
    """The Arrow file `target`, written first by `write()` (which returns the number of
    undecodable lines it skipped) unless a previous run left it with its stats."""
    stats_path = target.with_suffix(".json")
    if not (target.exists() and stats_path.exists()):
        target.parent.mkdir(parents=True, exist_ok=True)
        skipped = write()
        tmp_stats = stats_path.with_suffix(f".tmp{os.getpid()}")
        tmp_stats.write_text(json.dumps({"undecodable_lines": skipped}))
        os.replace(tmp_stats, stats_path)
    skipped = json.loads(stats_path.read_text())["undecodable_lines"]
    stats = ReadStats({"undecodable_lines": skipped} if skipped else {})
    return Dataset.from_file(str(target)), stats


def undecodable_error(path: Path, line_no: int, raw: bytes, e: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{path}: line {line_no}: bytes are not valid UTF-8 "
        f"(byte {raw[e.start]:#04x} at column {e.start + 1})",
        "fix the file, or set data.encoding_errors: skip to skip such lines",
    )
