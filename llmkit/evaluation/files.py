"""File mode: read prediction and reference files into aligned lists, or say exactly what's wrong.

Plain text is one example per line, read as sacrebleu's command reads it (universal newlines,
trailing whitespace stripped), so scores equal what `sacrebleu` prints for the same files. A
.jsonl file holds one JSON object per line; the config names the field to read.

Empty lines: an empty *prediction* is legal (a system may output nothing; BLEU and ROUGE score
it as such). An empty *reference* is an error naming the file and line: it almost always means
the files are misaligned (a blank line inserted or a line lost), which would silently shift every
pair after it. Label-like metrics (classification, regression, seqeval) need non-empty
predictions too.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.errors import DataError
from llmkit.evaluation.report import SystemResult
from llmkit.metrics.scoring import LABEL_METRICS, score_labels, score_texts, split_signatures


@dataclass
class Column:
    """Values read from one file, with where they came from (for messages)."""

    path: Path
    values: list[Any]
    blank_lines: list[int] = field(default_factory=list)
    """1-based line numbers whose value is empty."""


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip() for line in f]
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def _jsonl_values(path: Path, lines: list[str], name: str) -> list[Any]:
    values = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}:{number}: empty line in a .jsonl file; remove it")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}:{number}: not valid JSON ({e.msg}, column {e.colno})"
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        if name not in row:
            present = ", ".join(sorted(row)) or "none"
            raise DataError(
                f"{path}:{number}: no field '{name}' (fields present: {present}); "
                "set prediction_field / reference_field to one of them"
            )
        values.append(row[name])
    return values


def read_column(path: str | Path, name: str) -> Column:
    """Plain text lines, or the field `name` of each .jsonl row."""
    path = Path(path)
    lines = _lines(path)
    values: list[Any] = _jsonl_values(path, lines, name) if path.suffix == ".jsonl" else lines
    blanks = [n for n, v in enumerate(values, 1) if isinstance(v, str) and not v.strip()]
    return Column(path, values, blanks)


def has_field(path: str | Path, name: str) -> bool:
    """Whether the first row of a .jsonl file has field `name` (a self-contained predictions file)."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and name in row


def check_aligned(predictions: Column, references: list[Column]) -> None:
    """Same number of examples everywhere; no empty references."""
    for ref in references:
        if len(ref.values) != len(predictions.values):
            raise DataError(
                f"{predictions.path} has {len(predictions.values)} lines but {ref.path} has "
                f"{len(ref.values)}; predictions and references must pair line by line"
                + _blank_hint(predictions, ref)
            )
    for ref in references:
        if ref.blank_lines:
            shown = ", ".join(map(str, ref.blank_lines[:5]))
            raise DataError(
                f"{ref.path}: empty reference on line {shown}"
                f"{' …' if len(ref.blank_lines) > 5 else ''}; a reference cannot be empty "
                "(a blank line usually means the files are misaligned)"
            )


def _blank_hint(*columns: Column) -> str:
    notes = [
        f"{c.path} has {len(c.blank_lines)} blank line{'s' * (len(c.blank_lines) != 1)}"
        for c in columns
        if c.blank_lines
    ]
    return f" ({'; '.join(notes)})" if notes else ""


def reference_streams(references: list[Column]) -> list[list[str]]:
    """Columns → sacrebleu-style streams. A .jsonl field holding a list gives several references
    per example; examples with fewer references than others repeat their last one (sacrebleu
    needs rectangular streams; a repeated reference changes no n-gram maxima)."""
    per_example: list[list[str]] = [[] for _ in references[0].values]
    for ref in references:
        for i, value in enumerate(ref.values):
            per_example[i].extend(value if isinstance(value, list) else [value])
    width = max(len(refs) for refs in per_example) if per_example else 1
    for i, refs in enumerate(per_example):
        if not refs:
            raise DataError(f"{references[0].path}: example {i + 1} has an empty reference list")
        per_example[i] = [str(r) for r in refs] + [str(refs[-1])] * (width - len(refs))
    return [list(stream) for stream in zip(*per_example, strict=True)] if per_example else [[]]


def require_non_empty(column: Column, purpose: str) -> None:
    if column.blank_lines:
        raise DataError(
            f"{column.path}: empty value on line {column.blank_lines[0]}; {purpose} needs a "
            "value on every line"
        )


def evaluate_files(cfg) -> list:
    """File mode: every predictions file scored against the references, one result each."""
    names = cfg.metrics or ["bleu", "chrf", "rouge"]
    if names == ["squad"]:
        # reads references with datasets (seconds to import), which the other metrics never need
        from llmkit.evaluation.squad_files import evaluate_squad_files

        return evaluate_squad_files(cfg)
    results = []
    for path in cfg.predictions:
        predictions = read_column(path, cfg.prediction_field)
        if cfg.references:
            references = [read_column(r, cfg.reference_field) for r in cfg.references]
        elif has_field(path, cfg.reference_field):
            references = [read_column(path, cfg.reference_field)]
        else:
            raise DataError(
                f"no references for {path}: pass --references FILE, or use a .jsonl predictions "
                f"file whose rows also hold '{cfg.reference_field}'"
            )
        check_aligned(predictions, references)
        if not predictions.values:
            raise DataError(f"{path} is empty; nothing to score")
        hypotheses = [str(v) for v in predictions.values]
        scores = score_texts(hypotheses, reference_streams(references), names, cfg.metric_options)
        for name in (n for n in names if n in LABEL_METRICS):
            require_non_empty(predictions, f"the {name} metric")
            scores |= score_labels(
                predictions.values, references[0].values, name, cfg.metric_options
            )
        numbers, signatures = split_signatures(scores)
        results.append(
            SystemResult(
                path, numbers, signatures, {"path": str(path), "examples": len(hypotheses)}
            )
        )
    return results
