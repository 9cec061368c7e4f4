"""Fixtures for the training loop's tests: packed data directories from the shipped corpus."""

from pathlib import Path

import pytest
from pretrain_helpers import write_packed_dir


@pytest.fixture(scope="session")
def clm_data_dir(tmp_path_factory, causal_tokenizer_dir, corpus_lines) -> Path:
    """~150 train rows of 32 byte-level BPE tokens."""
    out = tmp_path_factory.mktemp("clm") / "data"
    return write_packed_dir(causal_tokenizer_dir, corpus_lines[:1200], out, 32)


@pytest.fixture(scope="session")
def mlm_data_dir(tmp_path_factory, masked_tokenizer_dir, corpus_lines) -> Path:
    """~150 train rows of 32 WordPiece tokens joined by [SEP]."""
    out = tmp_path_factory.mktemp("mlm") / "data"
    return write_packed_dir(masked_tokenizer_dir, corpus_lines[:1000], out, 32)
