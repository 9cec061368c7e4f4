"""What every scripts/bench_*.py shares: running two sides interleaved, the median of the
per-pair ratios with its spread, the machine and its load average, and the final RESULT line.

One A-then-B measurement is at the mercy of whatever else the machine does meanwhile: a burst of
load during one side turned a 1.44x into a 0.37x. Running A, B, A, B … and taking the median of
the ratio within each adjacent pair keeps both sides of a pair under nearly the same load, and
the spread of the pairs shows how much the load moved them.

The scripts are not a package; each puts this directory on sys.path and imports `benchlib`.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # as llmkit.models.precision reads them
REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The shared data sets: ../shared/data next to the repository, or $LLMKIT_SHARED_DATA (for a
    checkout that does not sit next to them, e.g. a git worktree)."""
    return Path(os.environ.get("LLMKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class Spread:
    """The median of per-pair ratios, their minimum and maximum, and how many pairs."""

    median: float
    low: float
    high: float
    pairs: int

    def __str__(self) -> str:
        return (
            f"{self.median:.2f}x (pairs: min {self.low:.2f}, max {self.high:.2f}, n={self.pairs})"
        )

    def figures(self, key: str) -> dict[str, float]:
        """RESULT keys: `key` is the median, `key_min` / `key_max` the spread."""
        return {key: self.median, f"{key}_min": self.low, f"{key}_max": self.high}


def run_worker(script: str, kind: str, work: Path, argv: list[str]) -> dict:
    """Run `script --worker KIND --work WORK ARGV` in a fresh process (its own imports, caches
    and peak memory) and return the JSON it printed on its last `WORKER {...}` line; a failed
    worker stops the bench with its output."""
    cmd = [sys.executable, script, "--worker", kind, "--work", str(work), *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{kind} run failed (exit {proc.returncode})")
    return json.loads(lines[-1].removeprefix("WORKER "))


def ratio_spread(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """Median, min and max of numerators[i] / denominators[i], one ratio per interleaved pair."""
    if not numerators or len(numerators) != len(denominators):
        raise ValueError(f"need equal, non-empty lists ({len(numerators)}, {len(denominators)})")
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return Spread(statistics.median(ratios), min(ratios), max(ratios), len(ratios))


def interleave(sides: dict[str, Callable[[int], T]], repeats: int) -> dict[str, list[T]]:
    """Call every side once per repetition (passing the repetition index), the sides of one
    repetition back to back. The order flips each repetition (A B, B A, A B …) so that no side
    always runs first, in a cold cache, or last, after the other has warmed it."""
    results: dict[str, list[T]] = {name: [] for name in sides}
    names = list(sides)
    for rep in range(repeats):
        for name in names if rep % 2 == 0 else reversed(names):
            results[name].append(sides[name](rep))
    return results


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """(fn(), its wall time in seconds)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def cpu_model() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    names = [
        ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")
    ]
    return names[0] if names else "unknown CPU"


def has_native_bf16() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else []
    return any(flag in flags for flag in BF16_FLAGS)


def machine() -> str:
    bf16 = "yes" if has_native_bf16() else "no"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, AVX512-BF16/AMX {bf16}, "
        f"Python {platform.python_version()}"
    )


class Run:
    """A benchmark run: prints the machine and load average at the start, and at the end the load
    average again and the RESULT line (with the 1-minute load averages as load_start/load_end)."""

    def __init__(self, title: str) -> None:
        self.load_start = load_average()
        print(f"{title}\nmachine: {machine()}")
        print(f"load average at start: {_loads(self.load_start)}", flush=True)

    def finish(self, figures: dict[str, object], digits: int = 2) -> None:
        load_end = load_average()
        print(f"load average at end: {_loads(load_end)}")
        figures = {**figures, "load_start": self.load_start[0], "load_end": load_end[0]}
        print("RESULT " + " ".join(f"{k}={_format(v, digits)}" for k, v in figures.items()))


def _loads(loads: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in loads) + " (1, 5, 15 min)"


def _format(value: object, digits: int) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
