"""What preprocessing shows the user: rich progress for long stages and a summary at the end."""

import contextlib

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

console = Console(stderr=True)


def new_progress() -> Progress:
    """Bars of bytes done / bytes total with throughput (tasks count bytes of input or text)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextlib.contextmanager
def stage(progress: Progress, description: str):
    """A spinner line for a stage whose length is not known (reading, cleaning)."""
    task = progress.add_task(description, total=None)
    yield
    progress.update(task, total=1, completed=1)


def summary_table(manifest: dict) -> Table:
    packed = manifest["pack"]
    table = Table(title=f"Preprocessed → {manifest['output_dir']}")
    table.add_column("split")
    table.add_column("documents", justify="right")
    segmented = bool(manifest.get("segments"))
    if packed:
        for name in ("blocks", "tokens", "tokens dropped"):
            table.add_column(name, justify="right")
    if segmented:
        for name in ("segments", "tokens"):
            table.add_column(name, justify="right")
    table.add_column("rows dropped by reason")
    for split, s in manifest["splits"].items():
        drops = manifest["dropped"].get(split, {})
        reasons = ", ".join(f"{r} {n:,}" for r, n in drops.items()) or "none"
        cells = [split, f"{s['documents']:,}"]
        if packed:
            cells += [f"{s['rows']:,}", f"{s['tokens']:,}", f"{s['tokens_dropped']:,}"]
        if segmented:
            cells += [f"{s['segments']:,}", f"{s['tokens']:,}"]
        table.add_row(*cells, reasons)
    return table


def print_summary(manifest: dict) -> None:
    console.print(summary_table(manifest))
    tok = manifest["tokenizer"]
    if manifest["pack"]:
        console.print("tokens dropped = the final partial block of each split (no padding)")
    if tok:
        console.print(
            f"tokenizer {tok['name_or_path']} (vocab {tok['vocab_size']:,}), "
            f"block_size {manifest['block_size']}"
        )
