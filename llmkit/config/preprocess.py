"""`llmkit preprocess`: raw data → cleaned, split, tokenized and packed `datasets` directory."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.data import CleaningConfig, DataConfig, SplitConfig


class PreprocessConfig(Section):
    """Read raw data, clean it, split it and (with pack: true) tokenize and pack it into blocks."""

    stage: Literal["preprocess"] = "preprocess"
    data: DataConfig
    """Where the raw data is and how to read it (files, format, columns)."""
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    """Unicode/whitespace cleaning, length filters and de-duplication."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    """Seeded ratio split for the splits not given as files."""
    tokenizer: str | None = None
    """Tokenizer directory (e.g. runs/tokenizer-char from `llmkit tokenizer train`) or hub id.
    Required with pack: true."""
    block_size: int = Field(512, ge=2)
    """Tokens per packed row (pack: true); with segments, the longest sentence pair ([CLS] A
    [SEP] B [SEP]) next-sentence prediction builds from them. Must not exceed the tokenizer's
    model_max_length."""
    pack: bool = True
    """true: tokenize and pack into `input_ids` blocks for pretraining. false: write the cleaned
    and split raw columns (finetuning tokenizes them itself)."""
    segments: Literal["sentence", "line"] | None = None
    """With pack: false, write each document as its tokenized segments instead of raw text (a
    `segments` column: one list of token ids per segment), which next-sentence prediction pairs
    (pretrain task.nsp). sentence: cut after . ! or ? followed by a space and no lower-case
    letter (a simple rule: "Mr. Smith" is cut too); line: each non-empty line is a segment
    (BERT's own input format, one sentence per line, with text_unit: paragraph for blank lines
    between documents). A document is a data.text_unit. null: raw text."""
    num_proc: int | None = Field(None, ge=1)
    """Worker processes for cleaning with pack: false; null = the number of CPU cores. With
    pack: true the stage streams in the main process (Arrow's string kernels clean, the
    tokenizer's own Rust threads tokenize), which is faster than forked workers."""
    batch_chars: int = Field(4_000_000, ge=1000)
    """Characters of text tokenized per batch; bounds memory while packing."""
    shard_mb: float = Field(256.0, gt=0)
    """Size of each Arrow shard of packed blocks, in MB; `datasets.load_from_disk` reads the
    shards of a split as one dataset. Changes only the layout, not the content."""
    output_dir: str = "runs/preprocessed"
    """Where the Arrow dataset, manifest.json, tokenizer/ and llmkit_config.yaml are written."""

    @model_validator(mode="after")
    def _segments_unpacked(self):
        if self.segments is not None and self.pack:
            raise ValueError(
                "segments writes whole documents, not packed blocks; set pack: false with it"
            )
        for key in ("id_split", "group_split"):
            if self.pack and getattr(self.data, key) is not None:
                raise ValueError(
                    f"data.{key} splits by a column, which pack: true does not keep (it streams "
                    "the text column alone); give data.validation / data.test files or "
                    "split ratios, or set pack: false"
                )
        return self
