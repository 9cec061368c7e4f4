"""Question-answering rows checked before they are windowed.

A row without a question or context, answer lists of different lengths, or an answer that
reaches outside its context is an error naming the file and row (or, with task.bad_rows: skip,
counted and skipped). An answer whose answer_start does not point at its text in the context (a
shifted offset, a context edited after annotation) is counted and reported, and never trained
on: training takes the row's first answer that does match, and skips the row if none does.
"""

from dataclasses import dataclass, field

from llmkit.config.data import ColumnsConfig
from llmkit.errors import DataError
from llmkit.tasks.finetune_common import DataReport, warn


@dataclass
class RowProblems:
    """What the checks of one split found."""

    where: str
    """The split and its files, e.g. "data.train (squad.json)"."""
    options_key: str = "task"
    """Where bad_rows is set (FinetuneSpec.options_key)."""
    bad_rows: int = 0
    mismatched: int = 0
    """Answers whose answer_start does not point at their text."""
    untrainable: int = 0
    """Rows with answers none of which matches (not trained on)."""
    first: dict[str, str] = field(default_factory=dict)
    """The first row of each kind of problem, for the messages."""

    def bad(self, row: str, problem: str, skip: bool) -> None:
        if not skip:
            raise DataError(
                f"{self.where}: {row}: {problem}",
                f"fix or remove the row, or set {self.options_key}.bad_rows: skip to skip "
                "such rows",
            )
        self.bad_rows += 1
        self.first.setdefault("bad", f"{row}: {problem}")

    def mismatch(self, row: str) -> None:
        self.mismatched += 1
        self.first.setdefault("mismatch", row)

    def report(self, report: DataReport, split: str, training: bool) -> None:
        counts = {"skipped_bad_rows": self.bad_rows, "answer_start_mismatch": self.mismatched}
        report.record(split, **{k: v for k, v in counts.items() if v})
        if self.bad_rows:
            warn(f"{self.where}: skipped {self.bad_rows} bad rows (first: {self.first['bad']})")
        if self.mismatched:
            consequence = (
                f"; those answers are not trained on ({self.untrainable} rows are left without "
                "a usable answer and skipped)"
                if training
                else ""
            )
            warn(
                f"{self.where}: {self.mismatched} answers' answer_start does not point at the "
                f"answer text in the context (first: {self.first['mismatch']}){consequence}"
            )


def check_rows(ds, columns: ColumnsConfig, problems: RowProblems, skip: bool, training: bool):
    """(indices of the rows kept, per kept row the character span [start, end) of its first
    answer that matches the context, or None for a row without one). Training leaves out the
    rows with answers none of which matches: they are not unanswerable questions."""
    has_ids = columns.id in ds.column_names
    ids = ds[columns.id] if has_ids else [None] * len(ds)
    rows = zip(
        ds[columns.question], ds[columns.context], ds[columns.answer_text],
        ds[columns.answer_start], ids, strict=True,
    )  # fmt: skip
    kept, spans = [], []
    for i, (question, context, texts, starts, qid) in enumerate(rows):
        row = f"row {i + 1}" + (f" (id {qid})" if qid is not None else "")
        problem = _row_problem(question, context, texts, starts, columns)
        if problem:
            problems.bad(row, problem, skip)
            continue
        matching = [
            (start, start + len(text))
            for text, start in zip(texts, starts, strict=True)
            if context[start : start + len(text)] == text
        ]
        for _ in range(len(texts) - len(matching)):
            problems.mismatch(row)
        if texts and not matching:
            problems.untrainable += 1
            if training:
                continue
        kept.append(i)
        spans.append(matching[0] if matching else None)
    return kept, spans


def _row_problem(question, context, texts, starts, columns: ColumnsConfig) -> str | None:
    if not isinstance(context, str) or not context.strip():
        return f"no context (column {columns.context!r} is empty)"
    if not isinstance(question, str) or not question.strip():
        return f"no question (column {columns.question!r} is empty)"
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        return (
            f"{columns.answer_text!r} and {columns.answer_start!r} must be lists of the same "
            f"length (got {texts!r} and {starts!r})"
        )
    for text, start in zip(texts, starts, strict=True):
        if not isinstance(text, str) or isinstance(start, bool) or not isinstance(start, int):
            return f"answer {text!r} at {start!r}: needs a text and an integer answer_start"
        if start < 0 or start + len(text) > len(context):
            return (
                f"answer {text!r} at answer_start {start} lies outside its context "
                f"({len(context)} characters)"
            )
    return None
