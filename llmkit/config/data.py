"""Where raw data comes from and how it is cleaned and split. Shared by `preprocess`, `pretrain`
(raw data named in the config is preprocessed first) and `finetune` (column mapping)."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.templates import PromptTemplate

Format = Literal[
    "auto", "text", "jsonl", "json", "csv", "tsv", "parquet", "arrow", "conll", "squad", "hub"
]


class ColumnsConfig(Section):
    """Which input column plays which role. Only the roles a task needs are read."""

    text: str = "text"
    """Text column (pretraining, classification's first text, SFT's prompt-less text)."""
    pair: str | None = None
    """Second text of a pair (paraphrase/NLI classification)."""
    label: str = "label"
    """Label column: class name or id, a list of names (multi-label), a float (regression)
    or a list of tags per word (token classification). A CoNLL file's tags (its last column)
    are read into the column of this name."""
    words: str = "words"
    """Word list column for token classification. A CoNLL file's words (its first column) are
    read into the column of this name."""
    source: str = "source"
    """Source text column for seq2seq. A dotted path reads nested JSON: translation.en."""
    target: str = "target"
    """Target text column for seq2seq. A dotted path reads nested JSON: translation.ro."""
    prompt: str = "prompt"
    """Prompt column for instruction tuning (prompt/response data)."""
    response: str = "response"
    """Response column for instruction tuning (prompt/response data)."""
    messages: str = "messages"
    """Chat column for instruction tuning: a list of {role, content}."""
    premise: str = "sent1"
    """Multiple choice: the context every ending continues (SWAG's sent1, HellaSwag's ctx_a)."""
    ending_start: str | None = "sent2"
    """Multiple choice: the start of the sentence each ending completes, put before every ending
    (SWAG's sent2, HellaSwag's ctx_b); null when the endings stand alone."""
    endings: list[str] | str = ["ending0", "ending1", "ending2", "ending3"]
    """Multiple choice: the ending columns (a list: SWAG's ending0–ending3), or one column that
    holds a list of endings per row (a string: HellaSwag's endings). `label` is the index of the
    right ending."""
    question: str = "question"
    """Question column for extractive question answering."""
    context: str = "context"
    """Context (passage) column for extractive question answering."""
    answer_text: str = "answers.text"
    """Question answering: the answers' texts, a list per row (empty: no answer, SQuAD 2.0)."""
    answer_start: str = "answers.answer_start"
    """Question answering: each answer's character offset in the context, a list per row."""
    id: str = "id"
    """Question answering: the question id that predictions are keyed by (row numbers when
    the data has no such column)."""


class IdSplitConfig(Section):
    """Split data.train into train/validation/test by inclusive ranges of an integer id column
    (MBPP's conventional split: train [601, 974], validation [511, 600], test [11, 510]); rows
    outside every range are left out and split: ratios are not used."""

    column: str = "task_id"
    train: tuple[int, int]
    validation: tuple[int, int] | None = None
    test: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _ranges(self):
        given = {n: getattr(self, n) for n in ("train", "validation", "test")}
        ranges = sorted((r, n) for n, r in given.items() if r is not None)
        for (low, high), name in ranges:
            if low > high:
                raise ValueError(f"{name}: [{low}, {high}] is empty (low > high)")
        for ((_, high), first), ((low, _), second) in zip(ranges, ranges[1:], strict=False):
            if low <= high:
                raise ValueError(f"the {first} and {second} ranges overlap")
        return self


class GroupSplitConfig(Section):
    """Split data.train into train/validation/test by the value of a column, keeping each group
    whole: SQuAD by article (column title), so that no validation question shares an article
    with training. The rows of the groups named under validation and test go there; every
    other row is training data. split: ratios are not used."""

    column: str = "title"
    validation: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _groups(self):
        if not self.validation and not self.test:
            raise ValueError("name the groups (values of the column) for validation or test")
        both = set(self.validation) & set(self.test)
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is named for both validation and test")
        return self


class DataConfig(Section):
    """Input files (or a hub dataset name) and how to read them."""

    train: str | list[str] | None = None
    """Training data: a file, a glob, a list of files/globs, a directory of data files (shards,
    read in name order), a `save_to_disk` directory, or with format: hub, a hub dataset name.
    Text and JSON lines files may be gzip-compressed (`.txt.gz`, `.jsonl.gz`)."""
    validation: str | list[str] | None = None
    """Validation data in the same forms; when absent a seeded ratio split is made (split:)."""
    test: str | list[str] | None = None
    """Test data in the same forms."""
    format: Format = "auto"
    """File format; `auto` decides from the file extension. `conll` (auto for .conll, .iob,
    .bio; set it for CoNLL-2003's .txt files) reads one word per line, whitespace-separated
    columns with the word first and the tag last, a blank line between sentences, `-DOCSTART-`
    lines skipped: each sentence becomes a row with list columns `words` and `label` (the names
    set in data.columns), which token classification reads without a column mapping. `tsv` has
    no quoting: a `"` is part of the text. `squad` (auto for a .json file in SQuAD's layout,
    {"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}) reads one row per
    question: id, title, context, question, answers {text, answer_start}."""
    hub_config: str | None = None
    """Hub dataset configuration name (format: hub only)."""
    text_unit: Literal["line", "paragraph", "file"] = "line"
    """For .txt: one document per line, per blank-line-separated block, or per file."""
    encoding_errors: Literal["error", "skip"] = "error"
    """Undecodable bytes in a text file: stop with the file and line, or skip the line and count it."""
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    id_split: IdSplitConfig | None = None
    """Split the rows of data.train by ranges of an id column instead of files or ratios."""
    group_split: GroupSplitConfig | None = None
    """Split the rows of data.train by the value of a column (e.g. SQuAD's article title)
    instead of files or ratios."""
    prompt_template: PromptTemplate | None = None
    """SFT (task causal, prompt-response): build each prompt from several columns, e.g.
    "{text}\nYour code should pass these tests:\n{test_list}" ({column} fields; a list
    column is joined by newlines; {{ and }} are literal braces). null reads columns.prompt."""

    @model_validator(mode="after")
    def _needs_train(self):
        if self.train is None:
            raise ValueError("data.train is required: a file, glob, list of files or directory")
        for name in ("id_split", "group_split"):
            if getattr(self, name) is not None and (self.validation, self.test) != (None, None):
                raise ValueError(f"data.{name} splits data.train; remove data.validation / .test")
        if self.id_split is not None and self.group_split is not None:
            raise ValueError("give data.id_split or data.group_split, not both")
        return self


class CleaningConfig(Section):
    """Text cleaning applied to the text columns before tokenization. Every drop is counted."""

    unicode_normalization: Literal["NFC", "NFKC", "NFD", "NFKD", "none"] = "NFC"
    strip_control_chars: bool = True
    """Remove control characters other than newline and tab."""
    normalize_whitespace: bool = False
    """Collapse runs of spaces/tabs to one space and trim each line."""
    min_chars: int = Field(1, ge=0)
    """Drop documents shorter than this (after cleaning)."""
    max_chars: int | None = Field(None, ge=1)
    """Drop documents longer than this (after cleaning); null keeps all."""
    deduplicate: bool = True
    """Drop exact duplicate documents (after cleaning), keeping the first."""


class SplitConfig(Section):
    """Seeded ratio split, used for the splits not given as files."""

    validation_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    test_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 42

    @model_validator(mode="after")
    def _room_for_train(self):
        if self.validation_ratio + self.test_ratio >= 1.0:
            raise ValueError("validation_ratio + test_ratio must leave room for training (< 1)")
        return self
