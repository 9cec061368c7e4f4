"""Fixtures for the data tests: an isolated datasets cache and small files written per test."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path, monkeypatch):
    """datasets' cache (and llmkit's text cache inside it) in the test's own directory."""
    import datasets

    cache = tmp_path / "hf_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


@pytest.fixture
def write(tmp_path):
    """write("name.txt", "text" or b"bytes") → path of a file in the test's directory."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
