"""A split written as several Arrow shards, in the layout `Dataset.save_to_disk` writes
(data-00000-of-0000N.arrow, state.json, dataset_info.json), so that `datasets.load_from_disk`
and `llmkit pretrain` read the shards as one dataset without anything being copied.

Shards are written one after the other with datasets' own ArrowWriter and renamed to their final
names when the split is complete; the metadata files are written last.
"""

import json
import os
from pathlib import Path

from datasets import DatasetInfo
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import generate_random_fingerprint
from datasets.utils.py_utils import asdict


class ShardedWriter:
    """`write(table)` appends rows; a new shard starts once the current one holds `shard_bytes`."""

    def __init__(self, directory: Path, features, shard_bytes: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.features = features
        self.shard_bytes = shard_bytes
        self.shards: list[Path] = []
        self.rows = 0
        self._writer = None
        self._bytes = 0

    def write(self, table) -> None:
        if self._writer is None:
            self._open_next()
        self._writer.write_table(table)
        self.rows += table.num_rows
        self._bytes += table.nbytes
        if self._bytes >= self.shard_bytes:
            self._close_current()

    def _open_next(self) -> None:
        path = self.directory / f"shard-{len(self.shards):05d}.arrow.partial"
        self.shards.append(path)
        self._writer = ArrowWriter(path=str(path), features=self.features)
        self._bytes = 0

    def _close_current(self) -> None:
        self._writer.finalize()
        self._writer.close()
        self._writer = None

    def close(self) -> None:
        """Finish the last shard, give every shard its final name and write the metadata."""
        if self._writer is None and not self.shards:
            self._open_next()  # an empty split still has one (empty) shard
        if self._writer is not None:
            self._close_current()
        names = [f"data-{i:05d}-of-{len(self.shards):05d}.arrow" for i in range(len(self.shards))]
        for path, name in zip(self.shards, names, strict=True):
            os.replace(path, self.directory / name)
        _write_metadata(self.directory, self.features, names)


def _write_metadata(directory: Path, features, names: list[str]) -> None:
    """state.json and dataset_info.json as `Dataset.save_to_disk` writes them."""
    state = {
        "_data_files": [{"filename": n} for n in names],
        "_fingerprint": generate_random_fingerprint(),
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (directory / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    info = asdict(DatasetInfo(features=features))
    info = {k: info[k] for k in sorted(info)}
    (directory / "dataset_info.json").write_text(json.dumps(info, indent=2))


def write_dataset_dict_json(directory: Path, splits: list[str]) -> None:
    (Path(directory) / "dataset_dict.json").write_text(json.dumps({"splits": splits}))
