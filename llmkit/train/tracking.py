"""Watching a run: metrics.jsonl, accelerate trackers, a live display and the loss-curve PNG.

`RunTracker` is the loop's one object for reporting progress. Only the main process writes or
prints; on the others every method returns at once, so the loop calls it unconditionally.

Rows of metrics.jsonl (one JSON object per line, flushed as it is written so a killed run keeps
everything up to its last log step; a resumed run appends to the same file):

    {"step": 100, "split": "train", "loss": 2.31, "lr": 0.001, "tokens_per_s": 15400.0, "time": …}
    {"step": 100, "split": "validation", "loss": 2.40, "perplexity": 11.0, "time": …}

`time` is the Unix time of the row. Train metrics the display knows by name: loss, lr, grad_norm,
tokens_per_s; any other key is logged and shown as it comes.
"""

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from llmkit.config.train import LoggingConfig
from llmkit.errors import ConfigError

METRICS_FILE = "metrics.jsonl"
TRACKER_DIR = "tensorboard"
"""TensorBoard event files go to output_dir/tensorboard/ (`tensorboard --logdir RUN_DIR`)."""


def _tracker_instances(names: list[str], output_dir: Path, run_name: str) -> list[Any]:
    """Accelerate tracker objects for `names`, so they work whatever the Accelerator was built
    with. A tracker whose package is missing is a user error naming the package."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

    available = {str(t) for t in get_available_trackers()}
    trackers = []
    for name in names:
        if name not in available:
            raise ConfigError(
                f"train.logging.trackers: '{name}' is not installed; `pip install {name}` "
                "or remove it from the list"
            )
        klass = LOGGER_TYPE_TO_CLASS[name]
        if klass.requires_logging_directory:
            trackers.append(klass(TRACKER_DIR if name == "tensorboard" else run_name, output_dir))
        else:
            trackers.append(klass(run_name))
    return trackers


def _flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config → {"train.lr": 0.001, …}; trackers accept only scalars."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_hparams(value, f"{name}."))
        elif isinstance(value, bool | int | float | str) or value is None:
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_metrics(metrics: dict[str, float]) -> str:
    """`loss 2.3100 | lr 1.00e-03 | 15.4k tok/s` — known keys first, the rest as they come."""
    parts = []
    for key, value in metrics.items():
        if key == "lr":
            parts.append(f"lr {value:.2e}")
        elif key == "tokens_per_s":
            parts.append(f"{value / 1000:.1f}k tok/s" if value >= 1000 else f"{value:.0f} tok/s")
        elif isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
            parts.append(f"{key} {int(value):,}")  # counters such as tokens_seen
        elif isinstance(value, int):
            parts.append(f"{key} {value:,}")
        elif isinstance(value, float) and math.isfinite(value):
            parts.append(f"{key} {value:.4g}" if abs(value) >= 1e4 else f"{key} {value:.4f}")
        else:
            parts.append(f"{key} {value}")
    return " | ".join(parts)


def drop_torn_last_line(path: Path) -> int:
    """Truncate a last line that a kill cut short (no newline, or not JSON), so that rows a
    resumed run appends do not follow it; returns the bytes removed."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    if data.endswith(b"\n"):
        try:
            json.loads(data[start:])
            return 0
        except ValueError:
            pass
    os.truncate(path, start)
    return len(data) - start


class RunTracker:
    """Reports a run's progress. Metrics come in as host floats; nothing here syncs a device."""

    def __init__(
        self,
        accelerator: Any,
        output_dir: Path,
        cfg: LoggingConfig,
        total_steps: int,
        hparams: dict[str, Any] | None = None,
    ):
        """`hparams` (the resolved config as a dict) is stored with the trackers when given."""
        self.enabled = accelerator.is_main_process
        self.accelerator = accelerator
        self.output_dir = Path(output_dir)
        self.metrics_path = self.output_dir / METRICS_FILE
        self.total_steps = total_steps
        self._rate_start: tuple[int, float] | None = None  # (step, time) of the first train log
        self._progress: Progress | None = None
        if not self.enabled:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._console = Console()
        torn = drop_torn_last_line(self.metrics_path)
        if torn:
            self._plain(
                f"{self.metrics_path}: removed a torn last line ({torn} bytes) that a killed run "
                "left half-written"
            )
        self._init_trackers(cfg, hparams)
        if cfg.live and self._console.is_terminal:
            self._progress = _live_display(self._console)
            self._task = self._progress.add_task("train", total=total_steps, metrics="")
            self._progress.start()

    def _init_trackers(self, cfg: LoggingConfig, hparams: dict[str, Any] | None) -> None:
        acc = self.accelerator
        if acc.trackers:  # the loop already started them
            return
        configured = {getattr(t, "name", str(t)) for t in acc.log_with}
        missing = [n for n in cfg.trackers if n not in configured]
        # Trackers built here are GeneralTracker instances, which init_trackers takes as they are,
        # so they work whether or not the Accelerator was constructed with log_with.
        acc.log_with = list(acc.log_with) + _tracker_instances(
            missing, self.output_dir, self.output_dir.name
        )
        if acc.log_with:
            config = _flat_hparams(hparams) if hparams else None
            acc.init_trackers(self.output_dir.name, config=config)

    def _write_row(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": step, "split": split, **metrics, "time": time.time()}
        # Open, append, close per row: rows come every N steps, and a killed run keeps them all.
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()

    def _eta(self, step: int, now: float) -> str:
        if self._rate_start is None:
            self._rate_start = (step, now)
            return "?"
        first_step, first_time = self._rate_start
        if step <= first_step:
            return "?"
        seconds_per_step = (now - first_time) / (step - first_step)
        return format_duration(seconds_per_step * (self.total_steps - step))

    def log_train(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._write_row(step, "train", metrics)
        self.accelerator.log({f"train/{k}": v for k, v in metrics.items()}, step=step)
        eta = self._eta(step, time.monotonic())
        text = format_metrics(metrics)
        if self._progress is not None:
            self._progress.update(self._task, completed=step, metrics=f"{text} | eta {eta}")
        else:
            self._plain(f"step {step}/{self.total_steps} | {text} | eta {eta}")

    def log_eval(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._write_row(step, "validation", metrics)
        self.accelerator.log({f"validation/{k}": v for k, v in metrics.items()}, step=step)
        line = f"validation @ step {step}: {format_metrics(metrics)}"
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            self._plain(line)

    def _plain(self, line: str) -> None:
        # One unwrapped line per log step: CI logs and `grep` see whole rows.
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        """Stop the display, finish the trackers and draw loss_curve.png (if anything was
        logged). Safe to call twice."""
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        for tracker in self.accelerator.trackers:
            tracker.finish()
        from llmkit.train.plot import plot_metrics, read_metrics

        if self.metrics_path.is_file():
            rows = read_metrics(self.metrics_path)
            if rows:
                plot_metrics(rows, self.output_dir / "loss_curve.png", title=self.output_dir.name)


def _live_display(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]step"),
        MofNCompleteColumn(),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[metrics]}"),
        console=console,
        refresh_per_second=4,
        transient=False,
    )
