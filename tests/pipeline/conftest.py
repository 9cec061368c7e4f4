"""The tiny pipeline of pipeline_helpers.py, written into each test's directory."""

from pathlib import Path

import pytest
from pipeline_helpers import tiny_pipeline, write_data


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, dict]:
    """(the test directory with the pipeline's data, the pipeline as a dict)."""
    write_data(tmp_path)
    return tmp_path, tiny_pipeline(tmp_path)
