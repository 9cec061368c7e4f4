"""Read raw rows of one split from files, a `save_to_disk` directory or a hub dataset.

Every reader returns a memory-mapped `datasets.Dataset`, never a Python list of the corpus.
JSON, CSV/TSV, Parquet and Arrow files go through datasets' packaged builders (offline, cached).
Plain text, CoNLL/BIO and SQuAD's nested JSON files are read here, streaming, so that undecodable bytes and malformed
lines can be reported with their file and line, or (undecodable lines) skipped and counted
(`data.encoding_errors`).
"""

import csv
import glob
import gzip
import os
from pathlib import Path

import datasets
import pyarrow as pa
from datasets import Features, Value
from datasets.arrow_writer import ArrowWriter

from llmkit.config.data import DataConfig
from llmkit.data.arrow_cache import ReadStats, cache_path, read_cached, undecodable_error
from llmkit.data.conll import looks_like_conll, read_conll
from llmkit.data.json_check import builder_logs_muted, json_problem
from llmkit.data.squad import looks_like_squad, read_squad
from llmkit.errors import DataError

SPLITS = ("train", "validation", "test")
_EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".jsonl": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".conll": "conll",
    ".iob": "conll",
    ".bio": "conll",
}
_BUILDERS = {
    "jsonl": "json",
    "json": "json",
    "csv": "csv",
    "tsv": "csv",
    "parquet": "parquet",
    "arrow": "arrow",
}
_READ_CHUNK_BYTES = 8 << 20


def load_split(data: DataConfig, split: str):
    """Raw rows of `split` ("train", "validation" or "test"); None when that split is not given."""
    return read_split(data, split)[0]


def read_split(data: DataConfig, split: str):
    """Like `load_split`, plus the ReadStats the preprocessing manifest reports."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    spec = getattr(data, split)
    if spec is None:
        return None, ReadStats()
    if data.format == "hub":
        return _load_hub(spec, data.hub_config, split), ReadStats()
    files = resolve_files(spec, f"data.{split}")
    if len(files) == 1 and is_saved_dataset(files[0]):
        return _load_saved(files[0], split), ReadStats()
    fmt = _format_of(files, data.format, f"data.{split}")
    if fmt == "text":
        return _read_text(files, data)
    if fmt == "conll":
        return read_conll(files, data)
    if fmt == "squad" or (data.format == "auto" and all(looks_like_squad(f) for f in files)):
        return read_squad(files)
    return _load_with_builder(files, fmt), ReadStats()


def resolve_files(spec: str | list[str], key: str) -> list[Path]:
    """Expand globs and lists into existing paths, in the order given (globs sorted)."""
    patterns = [spec] if isinstance(spec, str) else list(spec)
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise DataError(f"{key}: no file matches {pattern!r}")
            files.extend(Path(m) for m in matches if Path(m).is_file())
        else:
            path = Path(pattern)
            if not path.exists():
                raise DataError(f"{key}: file not found: {path}", "check the path in the config")
            files.append(path)
    if any(is_saved_dataset(f) for f in files) and len(files) > 1:
        raise DataError(f"{key}: a save_to_disk directory must be given alone, not in a list")
    return [f for path in files for f in _shard_files(path, key)]


def is_saved_dataset(path: Path) -> bool:
    """A directory written by `save_to_disk` (as opposed to a directory of data files)."""
    markers = ("dataset_dict.json", "state.json", "dataset_info.json")
    return path.is_dir() and any((path / m).is_file() for m in markers)


def _shard_files(path: Path, key: str) -> list[Path]:
    """A directory of data files (shards) → its files, sorted; hidden files are skipped."""
    if not path.is_dir() or is_saved_dataset(path):
        return [path]
    files = sorted(
        f for f in path.rglob("*")
        if f.is_file() and not any(p.startswith(".") for p in f.relative_to(path).parts)
    )  # fmt: skip
    if not files:
        raise DataError(f"{key}: directory {path} holds no data files")
    return files


def _extension(path: Path) -> str:
    """The format-deciding extension: `.jsonl` for both corpus.jsonl and corpus.jsonl.gz."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def open_binary(path: Path):
    """A file for reading bytes; `.gz` files are decompressed as they are read."""
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _format_of(files: list[Path], declared: str, key: str) -> str:
    if declared != "auto":
        return declared
    formats = set()
    for f in files:
        fmt = _EXTENSIONS.get(_extension(f))
        if fmt is None:
            known = ", ".join(sorted(_EXTENSIONS))
            settable = ", ".join(dict.fromkeys(_EXTENSIONS.values()))
            raise DataError(
                f"{key}: cannot tell the format of {f} from its extension",
                f"set data.format ({settable}); known extensions: {known}",
            )
        formats.add("json" if fmt == "jsonl" else fmt)
    if len(formats) > 1:
        raise DataError(f"{key}: files of different formats in one split: {sorted(formats)}")
    return formats.pop()


def _load_with_builder(files: list[Path], fmt: str):
    # TSV (GLUE, MRPC) has no quoting: a `"` is text, not the start of a field that runs on
    # over tabs and line ends into the next rows
    kwargs = {"sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    try:
        with builder_logs_muted(fmt):
            return datasets.load_dataset(
                _BUILDERS[fmt], data_files=[str(f) for f in files], split="train", **kwargs
            )
    except Exception as e:  # the builders raise many types; all mean "this file is not valid X"
        problem = json_problem(files) if fmt == "json" else None
        if problem is not None:
            raise problem from e
        cause = e.__cause__ or e
        names = ", ".join(str(f) for f in files[:3]) + (" …" if len(files) > 3 else "")
        raise DataError(
            f"{names}: could not be read as {fmt}: {type(cause).__name__}: {cause}",
            "check the file's format or set data.format",
        ) from e


def _load_saved(path: Path, split: str):
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise DataError(f"{path}: not a datasets save_to_disk directory ({e})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split in loaded:
            return loaded[split]
        if len(loaded) == 1:
            return next(iter(loaded.values()))
        raise DataError(f"{path}: has no split {split!r}; splits: {', '.join(loaded)}")
    return loaded


def _load_hub(spec: str | list[str], hub_config: str | None, split: str):
    """`name` loads split `split` of hub dataset `name`; `name:other` loads split `other`."""
    if not isinstance(spec, str):
        raise DataError(f"data.{split}: with format: hub give one dataset name, not a list")
    name, _, hub_split = spec.partition(":")
    try:
        return datasets.load_dataset(name, hub_config, split=hub_split or split)
    except Exception as e:  # offline, unknown name, unknown config or split
        raise DataError(
            f"data.{split}: could not load hub dataset {spec!r}: {type(e).__name__}: {e}"
        ) from e


# ---- plain text (its cache is shared with CoNLL) ---------------------------------------------


def _read_text(files: list[Path], data: DataConfig):
    """Text files → Arrow file in datasets' cache (reused while the files are unchanged)."""
    settings = f"{data.text_unit}|{data.encoding_errors}|{data.columns.text}"
    target = cache_path(files, "llmkit_text", settings)
    return read_cached(target, lambda: _write_text_arrow(files, data, target))


def _write_text_arrow(files: list[Path], data: DataConfig, target: Path) -> int:
    column = data.columns.text
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    skipped = 0
    writer = ArrowWriter(path=str(tmp), features=Features({column: Value("string")}))
    try:
        for path in files:
            docs = _documents(path, data.text_unit, data.encoding_errors == "skip")
            for batch in docs:
                if isinstance(batch, int):
                    skipped += batch
                elif batch:
                    writer.write_table(pa.table({column: pa.array(batch, pa.string())}))
        writer.finalize()
    finally:
        writer.close()
    os.replace(tmp, target)
    return skipped


def _documents(path: Path, unit: str, skip_bad: bool, on_bytes=None):
    """Yield lists of documents from one file, and ints counting skipped undecodable lines."""
    paragraph: list[str] = []
    whole: list[str] = []
    for lines in _decoded_lines(path, skip_bad, on_bytes):
        if isinstance(lines, int):
            yield lines
            continue
        if unit == "line":
            yield lines
        elif unit == "file":
            whole.extend(lines)
        else:
            docs = []
            for line in lines:
                if line.strip():
                    paragraph.append(line)
                elif paragraph:
                    docs.append("\n".join(paragraph))
                    paragraph = []
            yield docs
    if unit == "paragraph" and paragraph:
        yield ["\n".join(paragraph)]
    if unit == "file":
        yield ["\n".join(whole)]


def _decoded_lines(path: Path, skip_bad: bool, on_bytes=None):
    """Yield lists of lines (no line ends) per ~8 MB chunk; ints for undecodable lines skipped."""
    for chunk, line_no in raw_chunks(path, on_bytes):
        yield from _decode_chunk(chunk, path, line_no, skip_bad)


def raw_chunks(path: Path, on_bytes=None):
    """Yield (bytes of whole lines without the last line end, lines before them) per ~8 MB;
    `on_bytes(n)` is told the file bytes read (compressed bytes for .gz)."""
    line_no = 0  # lines before the current chunk
    remainder = b""
    with open_binary(path) as fh:
        raw = getattr(fh, "fileobj", fh)
        read_before = 0
        while True:
            block = fh.read(_READ_CHUNK_BYTES)
            if on_bytes is not None:
                position = raw.tell()
                on_bytes(position - read_before)
                read_before = position
            if not block:
                break
            block = remainder + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                remainder = block
                continue
            chunk, remainder = block[:cut], block[cut:]
            yield chunk[:-1], line_no
            line_no += chunk.count(b"\n")
    if remainder:
        yield remainder, line_no


def _decode_chunk(chunk: bytes, path: Path, line_no: int, skip_bad: bool):
    try:
        lines = chunk.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines, bad = [], 0
        for i, raw in enumerate(chunk.split(b"\n")):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                if not skip_bad:
                    raise undecodable_error(path, line_no + i + 1, raw, e) from None
                bad += 1
        if bad:
            yield bad
    if lines and lines[0].startswith("\ufeff") and line_no == 0:
        lines[0] = lines[0][1:]  # a UTF-8 byte-order mark is not text
    yield [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def require_columns(ds, names: list[str], where: str):
    """Check `names` exist (dotted paths read nested fields, e.g. translation.en); return `ds`
    with nested fields flattened so each name is a column. Lists the columns that exist."""
    if any("." in n and n not in ds.column_names for n in names):
        ds = ds.flatten()
    missing = list(dict.fromkeys(n for n in names if n not in ds.column_names))
    if missing and looks_like_conll(ds):
        raise DataError(
            f"{where}: no column {', '.join(repr(m) for m in missing)}: the file was read as "
            "plain text, but its lines look like CoNLL (a token and its tag per line, blank "
            "lines between sentences)",
            "set data.format: conll (llmkit eval: --data-format conll)",
        )
    if missing:
        raise DataError(
            f"{where}: no column {', '.join(repr(m) for m in missing)}; "
            f"columns are: {', '.join(ds.column_names)}",
            "set data.columns.<role> to one of these",
        )
    return ds
