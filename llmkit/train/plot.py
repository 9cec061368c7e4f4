"""The loss curve of a run, drawn from its metrics.jsonl (`llmkit plot RUN_DIR`).

matplotlib is used through `Figure` directly (Agg canvas), never pyplot: no GUI backend, no global
state, safe in headless training jobs.
"""

import json
import sys
from pathlib import Path
from typing import Any

from llmkit.errors import DataError

PNG_NAME = "loss_curve.png"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl. A run killed mid-write leaves a torn line (a resume from before
    llmkit truncated it may have written after it); torn lines are skipped with a warning.
    When a resumed run logged a step again, the later row wins (it belongs to the weights that
    were kept)."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            print(
                f"warning: {path}:{number}: skipped a torn line (not JSON; a run killed while "
                "writing it leaves one)",
                file=sys.stderr,
            )
            continue
        if not isinstance(row, dict) or "step" not in row or "split" not in row:
            raise DataError(f"{path}:{number}: a metrics row needs 'step' and 'split' keys")
        latest[(row["split"], int(row["step"]))] = row
    return sorted(latest.values(), key=lambda r: (r["step"], r["split"]))


def _series(rows: list[dict[str, Any]], split: str, key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in rows if r["split"] == split and key in r]
    return [p[0] for p in points], [float(p[1]) for p in points]


def plot_metrics(rows: list[dict[str, Any]], out_path: Path, title: str = "") -> Path:
    """Train and validation loss against optimizer step; learning rate on a second axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    steps, losses = _series(rows, "train", "loss")
    ax.plot(steps, losses, label="train loss", color="tab:blue", linewidth=1.2)
    val_steps, val_losses = _series(rows, "validation", "loss")
    if val_steps:
        ax.plot(val_steps, val_losses, "o-", label="validation loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    lr_steps, lrs = _series(rows, "train", "lr")
    if lr_steps:
        lr_ax = ax.twinx()
        lr_ax.plot(lr_steps, lrs, color="tab:gray", linewidth=0.8, alpha=0.6, label="lr")
        lr_ax.set_ylabel("learning rate", color="tab:gray")
        lr_ax.set_ylim(bottom=0)
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(out_path)  # a reader never sees half a PNG
    return out_path


def plot_run(run_dir: str | Path) -> Path:
    """Redraw RUN_DIR/loss_curve.png from RUN_DIR/metrics.jsonl; returns the PNG's path."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory; pass the output_dir of a training run")
    if not metrics.is_file():
        raise DataError(
            f"{metrics}: not found; is {run_dir} the output_dir of `llmkit pretrain` or "
            "`llmkit finetune`? (metrics appear after the first logging step)"
        )
    rows = read_metrics(metrics)
    if not any(r["split"] == "train" and "loss" in r for r in rows):
        raise DataError(
            f"{metrics}: has no train loss rows yet; the run logs every "
            "train.logging.every_steps steps — try again after that"
        )
    return plot_metrics(rows, run_dir / PNG_NAME, title=run_dir.name)
