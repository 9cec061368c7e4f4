"""RunTracker: metrics.jsonl survives kills and resumes, TensorBoard gets events, the PNG exists."""

import json

import pytest
from accelerate import Accelerator

from llmkit.config.train import LoggingConfig
from llmkit.errors import ConfigError
from llmkit.train.tracking import RunTracker, format_metrics


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _log_some(run_dir, steps, cfg=None, hparams=None):
    acc = Accelerator(cpu=True)
    tracker = RunTracker(acc, run_dir, cfg or LoggingConfig(), total_steps=40, hparams=hparams)
    for step in steps:
        tracker.log_train(step, {"loss": 5.0 - step / 10, "lr": 1e-3, "tokens_per_s": 1234.0})
    tracker.log_eval(steps[-1], {"loss": 4.0, "perplexity": 54.6})
    return tracker


def test_rows_are_on_disk_before_close_and_a_resumed_run_appends(tmp_path):
    run = tmp_path / "run"
    _log_some(run, [10, 20])  # never closed: as if the run was killed
    rows = _rows(run)
    assert [(r["step"], r["split"]) for r in rows] == [
        (10, "train"),
        (20, "train"),
        (20, "validation"),
    ]
    assert rows[0]["loss"] == 4.0 and rows[0]["lr"] == 1e-3 and rows[0]["time"] > 0
    assert rows[2]["perplexity"] == 54.6

    _log_some(run, [30, 40]).close()  # the resumed run
    steps = [(r["step"], r["split"]) for r in _rows(run)]
    assert steps[:3] == [(10, "train"), (20, "train"), (20, "validation")]
    assert steps[3:] == [(30, "train"), (40, "train"), (40, "validation")]


def test_tensorboard_events_and_loss_curve_written(tmp_path):
    run = tmp_path / "run"
    hparams = {"train": {"optimizer": {"lr": 1e-3, "betas": [0.9, 0.99]}, "max_steps": None}}
    _log_some(run, [10, 20, 30], hparams=hparams).close()
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    png = run / "loss_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_no_trackers_still_writes_jsonl_and_plain_lines(tmp_path, capsys):
    run = tmp_path / "run"
    _log_some(run, [10, 20], LoggingConfig(trackers=[], live=False)).close()
    assert not (run / "tensorboard").exists()
    assert len(_rows(run)) == 3
    out = capsys.readouterr().out
    assert "step 20/40" in out and "loss 3.0000" in out and "1.2k tok/s" in out
    assert "validation @ step 20" in out
    step_lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(step_lines) == 2 and all(line.endswith(("eta ?", "s")) for line in step_lines)


def test_uninstalled_tracker_is_a_user_error(tmp_path, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", lambda: ["tensorboard"])
    with pytest.raises(ConfigError, match="wandb"):
        RunTracker(Accelerator(cpu=True), tmp_path, LoggingConfig(trackers=["wandb"]), 10)


def test_format_metrics_names_known_keys():
    text = format_metrics(
        {"loss": 2.5, "lr": 3e-4, "tokens_per_s": 15400.0, "grad_norm": 0.5, "tokens_seen": 7680.0}
    )
    assert text == "loss 2.5000 | lr 3.00e-04 | 15.4k tok/s | grad_norm 0.5000 | tokens_seen 7,680"
    assert format_metrics({"tokens_per_s": 42.4}) == "42 tok/s"
