"""`preprocess` with pack: true, streaming: memory bounded by a chunk, not by the corpus.

Two passes over the data, both in chunks of ~8 MB:
1. read → clean → filter/de-duplicate, each kept document appended to an Arrow stream file in
   the output's temporary directory (the ratio split needs the number of kept rows first);
2. that file read back → split into runs → tokenize + pack → blocks written as Arrow shards.

Text files (also .gz) are split into lines and checked as UTF-8 by Arrow, and cleaned with
pyarrow's string kernels; the tokenizer gets one Python string per ~16k characters. Nothing is
memory-mapped, so the resident memory does not grow with the corpus.
"""

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from llmkit.config.data import DataConfig
from llmkit.data.cleaning import StreamCleaner
from llmkit.data.packing import BlockPacker, block_features, require_blocks
from llmkit.data.shards import ShardedWriter, write_dataset_dict_json
from llmkit.data.sources import (
    _READ_CHUNK_BYTES,
    SPLITS,
    ReadStats,
    _decode_chunk,
    _documents,
    _format_of,
    is_saved_dataset,
    raw_chunks,
    read_split,
    require_columns,
    resolve_files,
)
from llmkit.data.splitting import cut_ratios, ratio_split_runs
from llmkit.errors import DataError

_TEXT_FIELD = "text"


class Timings:
    """Wall seconds per phase of the stage, for the manifest and the profile in BENCHMARKS.md."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, phase: str, iterable):
        """Iterate `iterable`, counting the time spent producing its items as `phase`."""
        iterator = iter(iterable)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds[phase] += time.perf_counter() - started
                return
            self.seconds[phase] += time.perf_counter() - started
            yield item

    def call(self, phase: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.seconds[phase] += time.perf_counter() - started
        return result

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()}


@dataclass
class CleanedSplit:
    """Pass 1's output for one given split: its kept documents in an Arrow stream file."""

    path: Path
    rows: int
    nbytes: int
    dropped: dict


def stream_documents(data: DataConfig, split: str, stats: ReadStats, on_total, on_bytes):
    """Raw documents of `split` as pyarrow string arrays of ~8 MB each, in bounded memory.

    Text files (plain or .gz) are read straight from disk, no cache written; other formats are
    read through `read_split` (datasets' builders, memory-mapped) and their text column sliced.
    `on_total(n)` is told the bytes there are to read and `on_bytes(n)` each bytes read;
    undecodable lines skipped are counted into `stats`.
    """
    key = f"data.{split}"
    if data.format != "hub":
        files = resolve_files(getattr(data, split), key)
        if not is_saved_dataset(files[0]) and _format_of(files, data.format, key) == "text":
            on_total(sum(f.stat().st_size for f in files))
            for path in files:
                yield from _text_arrays(path, data, stats, on_bytes)
            return
    ds, read_stats = read_split(data, split)
    stats.dropped.update(read_stats.dropped)
    column = data.columns.text
    ds = require_columns(ds, [column], f"{key} ({getattr(data, split)})")
    yield from _column_arrays(ds, column, on_total, on_bytes)


def _text_arrays(path: Path, data: DataConfig, stats: ReadStats, on_bytes):
    skip_bad = data.encoding_errors == "skip"
    if data.text_unit == "line":
        batches = _line_arrays(path, skip_bad, on_bytes)
    else:
        batches = _documents(path, data.text_unit, skip_bad, on_bytes)
    for batch in batches:
        if isinstance(batch, int):
            stats.dropped["undecodable_lines"] = stats.dropped.get("undecodable_lines", 0) + batch
        elif len(batch):
            yield batch if isinstance(batch, pa.Array) else pa.array(batch, pa.string())


def _line_arrays(path: Path, skip_bad: bool, on_bytes):
    """One document per line, split and checked as UTF-8 by Arrow (no Python string per line);
    a chunk with undecodable bytes goes through the line-by-line decoder, which names the line."""
    for chunk, line_no in raw_chunks(path, on_bytes):
        if line_no == 0 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]  # a UTF-8 byte-order mark is not text
        try:
            text = pa.array([chunk], pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:
            yield from _decode_chunk(chunk, path, line_no, skip_bad)
            continue
        lines = pc.list_flatten(pc.split_pattern(text, "\n"))
        if b"\r" in chunk:
            lines = pc.replace_substring_regex(lines, "\r$", "")
        yield lines


def _column_arrays(ds, column: str, on_total, on_bytes):
    table = ds.with_format("arrow")
    full = ds.data.column(column)
    if not (pa.types.is_string(full.type) or pa.types.is_large_string(full.type)):
        raise DataError(
            f"column {column!r} holds {full.type} values; packing needs text (a string)",
            "point data.columns.text at a text column",
        )
    on_total(int(full.nbytes * len(ds) / max(1, ds.data.num_rows)))
    rows = max(1, int(_READ_CHUNK_BYTES * max(1, ds.data.num_rows) / max(1, full.nbytes)))
    for batch in table.iter(batch_size=rows):
        docs = batch.column(column).combine_chunks().cast(pa.string())
        on_bytes(docs.nbytes)
        yield docs


# ---- the two passes ------------------------------------------------------------------------------


def write_packed(cfg, tokenizer, out: Path, progress, timings: Timings) -> tuple[dict, dict]:
    """Clean, split, tokenize and pack `cfg`'s data into `out` as a DatasetDict of Arrow shards.
    Returns ({split: PackStats as a dict}, {split: {reason: rows dropped}})."""
    work = out / "_work"
    work.mkdir()
    cleaned, dropped = {}, {}
    for name in SPLITS:
        if getattr(cfg.data, name) is not None:
            cleaned[name] = clean_split(cfg, name, work / f"{name}.arrow", progress, timings)
            dropped[name] = cleaned[name].dropped
    routes = _routes(cleaned, cfg.split)
    packers, writers = {}, {}
    for name in [s for s in SPLITS if s in {r for runs in routes.values() for r, *_ in runs}]:
        writers[name] = ShardedWriter(out / name, block_features(cfg.block_size), _shard_bytes(cfg))
        write = _timed_write(writers[name].write, timings)
        packers[name] = BlockPacker(tokenizer, cfg.block_size, write, timings.seconds)
    total = sum(c.nbytes for c in cleaned.values())
    task = progress.add_task("Tokenizing + packing", total=total)
    for source, runs in routes.items():
        on_bytes = lambda n: progress.advance(task, n)  # noqa: E731
        _pack_routed(cleaned[source], runs, packers, cfg.batch_chars, on_bytes, timings)
    stats = {}
    for name, packer in packers.items():
        stats[name] = packer.finish()
        require_blocks(name, stats[name], cfg.block_size)
        timings.call("write", writers[name].close)
    write_dataset_dict_json(out, list(packers))
    for c in cleaned.values():
        c.path.unlink()
    work.rmdir()
    return {name: vars(s) for name, s in stats.items()}, dropped


def clean_split(cfg, name: str, path: Path, progress, timings: Timings) -> CleanedSplit:
    """Pass 1 for one split: read, clean and filter its documents into the stream file `path`."""
    task = progress.add_task(f"Reading + cleaning {name}", total=None)
    total = [0]

    def on_total(n: int) -> None:
        total[0] = n
        progress.update(task, total=n)

    stats = ReadStats()
    cleaner = StreamCleaner(cfg.cleaning)
    schema = pa.schema([(_TEXT_FIELD, pa.string())])
    rows = nbytes = 0
    documents = stream_documents(
        cfg.data,
        name,
        stats,
        on_total=on_total,
        on_bytes=lambda n: progress.advance(task, n),
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for docs in timings.timed("read", documents):
            kept = timings.call("clean", cleaner.clean, docs)
            timings.call("write", writer.write_batch, pa.record_batch([kept], schema=schema))
            rows += len(kept)
            nbytes += kept.nbytes
    progress.update(task, total=total[0], completed=total[0])
    cleaner.require_rows_kept(rows, f"data.{name}")
    return CleanedSplit(path, rows, nbytes, {**stats.dropped, **cleaner.dropped()})


def _routes(cleaned: dict, split_cfg) -> dict[str, list[tuple[str, int, int]]]:
    """{source split: [(output split, start row, stop row), ...] in row order}: the splits
    given as files go whole to themselves, the others are cut from train in runs."""
    routes = {name: [(name, 0, c.rows)] for name, c in cleaned.items()}
    effective = cut_ratios(cleaned, split_cfg)
    if effective is not None:
        runs = ratio_split_runs(cleaned["train"].rows, effective)
        pieces = [(start, stop, name) for name, rs in runs.items() for start, stop in rs]
        routes["train"] = [(name, start, stop) for start, stop, name in sorted(pieces)]
    return routes


def _pack_routed(source, runs: list, packers: dict, batch_chars: int, on_bytes, timings) -> None:
    """Pass 2 for one stream file: each run of rows to its split's packer, in row order."""
    offset, current = 0, 0
    with pa.OSFile(str(source.path), "rb") as f, pa.ipc.open_stream(f) as reader:
        for batch in timings.timed("read", reader):
            docs = batch.column(0)
            end = offset + len(docs)
            while current < len(runs) and runs[current][1] < end:
                name, start, stop = runs[current]
                lo, hi = max(start, offset), min(stop, end)
                if hi > lo:
                    _add_in_batches(packers[name], docs.slice(lo - offset, hi - lo), batch_chars)
                if stop > end:
                    break
                current += 1
            offset = end
            on_bytes(docs.nbytes)


def _add_in_batches(packer: BlockPacker, docs, batch_chars: int) -> None:
    rows = max(1, int(len(docs) * batch_chars / max(1, docs.nbytes)))
    for start in range(0, len(docs), rows):
        packer.add(docs.slice(start, rows))


def _timed_write(write, timings: Timings):
    return lambda table: timings.call("write", write, table)


def _shard_bytes(cfg) -> int:
    return max(1, int(cfg.shard_mb * 1e6))
