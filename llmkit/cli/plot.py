"""`llmkit plot`: redraw a run's loss curve from its metrics.jsonl."""

from pathlib import Path

import typer

EXAMPLE = "Example: llmkit plot runs/tiny-gpt  (writes runs/tiny-gpt/loss_curve.png)"


def plot(
    run_dir: Path = typer.Argument(
        ..., file_okay=False, help="A training run's output_dir (it holds metrics.jsonl)."
    ),
) -> None:
    """Draw train and validation loss against step into RUN_DIR/loss_curve.png."""
    # The stage imports torch/transformers/datasets: loaded only when the command runs, so
    # `llmkit --help` stays under a second (BENCHMARKS.md).
    from llmkit.train.plot import plot_run

    typer.echo(f"wrote {plot_run(run_dir)}")
