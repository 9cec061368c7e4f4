"""A training run never mixes with another's or with files it did not write: one run per
output_dir (a lock naming its owner), --resume only into this stage's own run, a kill's leftovers
and a torn metrics line cleaned at start-up, and outputs with the modes the umask gives."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import yaml
from pretrain_helpers import tiny_config

from llmkit.train.lock import LOCK_FILE

pytestmark = pytest.mark.usefixtures("one_thread")


def _config_file(tmp_path, cfg) -> str:
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return str(path)


def _tiny_run_config(tmp_path, clm_data_dir):
    cfg = tiny_config(
        tmp_path / "run", clm_data_dir, max_steps=6, checkpoint={"every_steps": 3},
        logging={"every_steps": 2, "trackers": [], "live": False}, eval={"max_batches": 1},
    )  # fmt: skip
    return _config_file(tmp_path, cfg)


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    return int(finished.stdout)


def test_outputs_get_umask_modes_and_a_resume_cleans_what_a_kill_left(tmp_path, clm_data_dir, cli):
    config = _tiny_run_config(tmp_path, clm_data_dir)
    run = tmp_path / "run"
    previous = os.umask(0o022)
    try:
        result = cli("pretrain", config)
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert (run / "model.safetensors").stat().st_mode & 0o777 == 0o644
    for path in [run, *run.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path
    assert not (run / LOCK_FILE).exists(), "the lock is released at the end"

    # What a kill leaves: a checkpoint half-way through pruning, a final model being staged,
    # a lock of a process that no longer exists and a metrics row cut short.
    checkpoints = run / "checkpoints"
    shutil.copytree(checkpoints / "step-3", checkpoints / ".deleting-step-3")
    (run / ".final-123").mkdir()
    (run / ".final-123" / "model.safetensors").write_bytes(b"half")
    (checkpoints / "notes.txt").write_text("mine")
    lock = {"host": socket.gethostname(), "pid": _dead_pid(), "started": 0}
    (run / LOCK_FILE).write_text(json.dumps(lock))
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 7, "split": "tra')

    result = cli("pretrain", config, "--resume", "--set", "train.max_steps=8")
    assert result.exit_code == 0, result.output
    assert f"taking over the stale lock {run / LOCK_FILE} of pid {lock['pid']}" in result.output
    assert "removed a torn last line" in result.output
    assert not (checkpoints / ".deleting-step-3").exists() and not (run / ".final-123").exists()
    assert (checkpoints / "notes.txt").read_text() == "mine", "only llmkit's own names go"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 8
    assert json.loads((run / "trainer_state.json").read_text())["step"] == 8
    assert not (run / LOCK_FILE).exists()


def test_a_second_run_on_the_same_output_dir_exits_2_naming_the_first(tmp_path, clm_data_dir, cli):
    config = _tiny_run_config(tmp_path, clm_data_dir)
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.mkdir()
        owner = {"host": socket.gethostname(), "pid": first.pid, "started": 0}
        (run / LOCK_FILE).write_text(json.dumps(owner))
        for args in ([], ["--resume"]):
            result = cli("pretrain", config, *args)
            assert result.exit_code == 2
            [line] = result.output.strip().splitlines()
            assert f"in use by another llmkit run (host {owner['host']}, pid {first.pid}" in line
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]
        assert json.loads((run / LOCK_FILE).read_text()) == owner, "the first run keeps its lock"
    finally:
        first.kill()
        first.wait()


def test_a_failed_run_releases_its_lock(tmp_path, clm_data_dir, cli):
    config = _tiny_run_config(tmp_path, clm_data_dir)
    result = cli("pretrain", config, "--set", "train.batch_size=4096")
    assert result.exit_code == 2 and "needs 4096 training rows" in result.output
    assert not (tmp_path / "run").exists(), "a run that wrote nothing leaves nothing"


@pytest.mark.parametrize(
    ("stage", "message"),
    [("preprocess", "holds a `llmkit preprocess` output"), (None, "files llmkit did not write")],
)
def test_resume_into_a_directory_that_is_not_this_stages_run_is_refused(
    stage, message, tmp_path, clm_data_dir, cli
):
    config = _tiny_run_config(tmp_path, clm_data_dir)
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    if stage:
        (run / "llmkit_config.yaml").write_text(f"stage: {stage}\n")
    result = cli("pretrain", config, "--resume")
    assert result.exit_code == 2
    assert "is not a `llmkit pretrain` run" in result.output and message in result.output
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["notes.txt"] + (["llmkit_config.yaml"] if stage else [])
    )
