"""Benchmark: how long `llmkit --help` takes (the goal: under 1 s), next to a bare interpreter.

Runs `python -m llmkit --help` from this checkout and `python -c pass` interleaved (benchlib),
each in a fresh process, and reports the median wall time of each, the spread of the llmkit side
and the load average at start and end. The command modules import their stages (torch,
transformers, datasets) only when they run, so `--help` pays for typer, pydantic and the config
schemas alone.

    python scripts/bench_help.py [--repeats 15]

Ends with: RESULT help_seconds=<median> help_seconds_min=… help_seconds_max=…
python_seconds=<median of `python -c pass`> load_start=… load_end=…
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, Run, interleave, timed  # noqa: E402


def _seconds(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's llmkit
    run = lambda: subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)  # noqa: E731
    return timed(run)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    run = Run("llmkit --help against `python -c pass`, interleaved")
    times = interleave(
        {
            "help": lambda _: _seconds([sys.executable, "-m", "llmkit", "--help"]),
            "python": lambda _: _seconds([sys.executable, "-c", "pass"]),
        },
        args.repeats,
    )
    help_times, python_times = times["help"], times["python"]
    print(f"llmkit --help: median {statistics.median(help_times):.3f} s "
          f"(min {min(help_times):.3f}, max {max(help_times):.3f}, n={len(help_times)})")  # fmt: skip
    print(f"python -c pass: median {statistics.median(python_times):.3f} s")
    run.finish(
        {
            "help_seconds": statistics.median(help_times),
            "help_seconds_min": min(help_times),
            "help_seconds_max": max(help_times),
            "python_seconds": statistics.median(python_times),
        },
        digits=3,
    )


if __name__ == "__main__":
    main()
