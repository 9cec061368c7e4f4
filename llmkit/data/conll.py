"""CoNLL / BIO files: one word per line (word first, tag last), blank lines between sentences,
read into rows of a words list and a tags list."""

import os
from pathlib import Path

from datasets import Features, Sequence, Value
from datasets.arrow_writer import ArrowWriter

from llmkit.config.data import DataConfig
from llmkit.data.arrow_cache import cache_path, read_cached, undecodable_error
from llmkit.errors import DataError


def looks_like_conll(ds, sample: int = 500) -> bool:
    """Whether a plain-text read (one string column) holds CoNLL/BIO lines: every non-blank line
    has the same number (2 to 10) of whitespace-separated fields, and blank lines separate
    sentences."""
    if len(ds.column_names) != 1:
        return False
    rows = [r for r in ds[: min(sample, len(ds))][ds.column_names[0]] if isinstance(r, str)]
    lines = [line for row in rows for line in row.split("\n")]
    widths = {len(line.split()) for line in lines if line.strip()}
    # blank lines are rows of their own (text_unit: line) or join a paragraph's lines
    sentences = any(not line.strip() for line in lines) or any("\n" in row for row in rows)
    return len(widths) == 1 and 2 <= min(widths) <= 10 and sentences


def read_conll(files: list[Path], data: DataConfig):
    """CoNLL/BIO files → Arrow file in datasets' cache, one row per sentence: the words (first
    column) and tags (last column) as lists, in columns named by data.columns.words and .label."""
    columns = data.columns
    if columns.words == columns.label:
        raise DataError(
            f"data.columns: words and label are both {columns.words!r}",
            "a CoNLL file gives two columns; name them differently",
        )
    settings = f"{data.encoding_errors}|{columns.words}|{columns.label}"
    target = cache_path(files, "llmkit_conll", settings)
    return read_cached(target, lambda: _write_conll_arrow(files, data, target))


def _write_conll_arrow(files: list[Path], data: DataConfig, target: Path) -> int:
    words_column, tags_column = data.columns.words, data.columns.label
    strings = Sequence(Value("string"))
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    skipped = 0
    writer = ArrowWriter(
        path=str(tmp), features=Features({words_column: strings, tags_column: strings})
    )
    try:
        for path in files:
            for sentence in _conll_sentences(path, data.encoding_errors == "skip"):
                if isinstance(sentence, int):
                    skipped += sentence
                else:
                    writer.write({words_column: sentence[0], tags_column: sentence[1]})
        writer.finalize()
    finally:
        writer.close()
    os.replace(tmp, target)
    return skipped


def _conll_sentences(path: Path, skip_bad: bool):
    """Yield (words, tags) per blank-line-separated sentence of one file, and ints counting
    skipped undecodable lines. `-DOCSTART-` lines are document markers, not words."""
    words: list[str] = []
    tags: list[str] = []
    first_token: tuple[int, int] | None = None  # (line number, column count) of the first word
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                if not skip_bad:
                    raise undecodable_error(path, line_no, raw, e) from None
                yield 1
                continue
            if line_no == 1:
                line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not text
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    yield words, tags
                    words, tags = [], []
                continue
            first_token = first_token or (line_no, len(fields))
            _check_token_line(fields, path, line_no, first_token)
            words.append(fields[0])
            tags.append(fields[-1])
    if words:
        yield words, tags


def _check_token_line(fields: list[str], path: Path, line_no: int, first_token: tuple[int, int]):
    """A token line has a word and a tag, and as many columns as the file's first one: a
    different count usually means a word with a space in it, which would shift the columns."""
    if len(fields) == 1:
        raise DataError(
            f"{path}: line {line_no}: {fields[0]!r} has no tag (one column)",
            "give each word line its word first and its tag last, separated by spaces or tabs; "
            "separate sentences by blank lines",
        )
    first_line, width = first_token
    if len(fields) != width:
        raise DataError(
            f"{path}: line {line_no}: {len(fields)} columns, but line {first_line} has {width}",
            "every word line of a CoNLL file needs the same columns (word first, tag last); "
            "a word may not contain spaces",
        )
