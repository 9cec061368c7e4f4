"""Staged outputs (llmkit/outputs.py): a killed command's staging directory is cleaned up on the
next run, and nothing llmkit did not write is ever removed, even under a staging-like name."""

import os
import subprocess
import sys

import pytest

from llmkit.errors import ConfigError
from llmkit.outputs import STAGING_MARK, staged_output_dir


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write(tmp):
    (tmp / "result.txt").write_text("done", encoding="utf-8")


def test_a_killed_runs_staging_directory_is_removed_and_the_output_holds_no_mark(
    tmp_path, dead_pid
):
    killed = tmp_path / f".out.tmp-{dead_pid}"
    killed.mkdir()
    (killed / STAGING_MARK).touch()
    (killed / "half-written.arrow").write_text("x", encoding="utf-8")
    with staged_output_dir(tmp_path / "out", "generate", force=False) as tmp:
        _write(tmp)
    assert not killed.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.txt"]


def test_a_users_directory_with_a_staging_like_name_is_never_removed(tmp_path, dead_pid):
    theirs = [tmp_path / f".out.tmp-{dead_pid}", tmp_path / f".out.old-{dead_pid}"]
    for directory in theirs:
        directory.mkdir()
        (directory / "notes.txt").write_text("mine", encoding="utf-8")
    with staged_output_dir(tmp_path / "out", "generate", force=False) as tmp:
        _write(tmp)
    for directory in theirs:
        assert (directory / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_foreign_directory_where_this_process_stages_is_refused_not_removed(tmp_path):
    theirs = tmp_path / f".out.tmp-{os.getpid()}"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="llmkit did not write it"):
        with staged_output_dir(tmp_path / "out", "generate", force=False):
            pass
    assert (theirs / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "out").exists()
