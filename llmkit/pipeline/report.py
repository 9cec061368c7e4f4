"""What a pipeline run shows and leaves: the plan, a summary table (stage, status, wall time, key
figures), report.md with the loss curves, score tables and the command that repeats each stage,
and pipeline.json with the same figures for CI."""

import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tokenizers import Tokenizer

from llmkit.config.pipeline import PipelineConfig
from llmkit.outputs import command_name
from llmkit.pipeline.plan import TRAINING, StagePlan
from llmkit.train.plot import PNG_NAME, read_metrics
from llmkit.train.tracking import format_duration

REPORT = "report.md"
FIGURES = "pipeline.json"
STATUS = {"run": "ran", "resume": "resumed", "skip": "skipped"}


def print_plan(plans: list[StagePlan], console: Console) -> None:
    table = Table(title="llmkit run · plan")
    for column in ("stage", "type", "action", "why"):
        table.add_column(column)
    for plan in plans:
        style = "green" if plan.runs else "dim"
        table.add_row(plan.stage.name, plan.stage.kind, f"[{style}]{plan.action}[/]", plan.reason)
    console.print(table)


def stage_summary(plan: StagePlan, record: dict[str, Any], pipeline_dir: Path) -> dict[str, Any]:
    """One stage's row of the report: status, wall time (of this run; a skipped stage keeps the
    time it took when it ran), the figures read back from its output, and the command that
    repeats it."""
    stage = plan.stage
    summary: dict[str, Any] = {
        "stage": stage.name,
        "type": stage.kind,
        "status": STATUS[plan.action],
        "reason": plan.reason,
        "seconds": record.get("seconds") if plan.runs else None,
    }
    if not plan.runs:
        summary["seconds_when_it_ran"] = record.get("seconds")
    out = getattr(stage.config, "output_dir", None)
    summary["command"] = _command(
        stage.kind,
        pipeline_dir / "stages" / f"{stage.name}.yaml",
        None if out is None else str(out),
    )
    if out is not None:
        summary["output_dir"] = str(out)
    if stage.kind in TRAINING:
        summary.update(_training_figures(Path(out), pipeline_dir, stage.name))
    elif stage.kind == "eval":
        summary["scores"] = _scores(stage.config)
    elif stage.kind == "export":
        summary["files"] = _files(Path(out))
    elif stage.kind == "tokenizer":
        summary.update(_vocabulary(Path(out)))
    elif stage.kind == "preprocess":
        summary.update(_token_counts(Path(out)))
    elif stage.kind == "generate":
        summary.update(_generations(Path(out)))
    return summary


def _command(kind: str, config: Path, output_dir: str | None) -> str:
    """The stage's own command on its resolved config; into a new directory, since its own
    command would not replace the pipeline's output without --force."""
    takes_option = kind in ("export", "generate")  # their argument is a source, not a config
    command = f"{command_name(kind)} {'--config ' if takes_option else ''}{config}"
    return command if output_dir is None else f"{command} --set output_dir={output_dir}-again"


def _vocabulary(directory: Path) -> dict[str, Any]:
    path = directory / "tokenizer.json"
    if not path.is_file():
        return {}
    # the library's count: each tokenizer model stores its vocabulary in its own shape (a dict of
    # token → id for BPE and WordPiece, a list of [piece, score] for unigram)
    tokenizer = Tokenizer.from_file(str(path))
    return {"vocab_size": tokenizer.get_vocab_size(with_added_tokens=True)}


def _token_counts(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.is_file():
        return {}
    splits = json.loads(path.read_text(encoding="utf-8"))["splits"]
    return {
        "tokens": {name: split["tokens"] for name, split in splits.items() if "tokens" in split}
    }


SHOWN_GENERATIONS = 3
PROMPT_CHARS, OUTPUT_CHARS = 100, 200
"""How much of each generation the report shows; generations.jsonl holds them all."""


def _generations(directory: Path) -> dict[str, Any]:
    """How many generations the stage wrote, and the first few (prompt, output), shortened."""
    path = directory / "generations.jsonl"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    first = [
        {
            "prompt": _shorten(r["prompt"], PROMPT_CHARS),
            "output": _shorten(r["output"], OUTPUT_CHARS),
        }
        for r in rows[:SHOWN_GENERATIONS]
    ]
    return {"generations": len(rows), "first_generations": first}


def _shorten(text: str, limit: int) -> str:
    """One line (newlines shown as ⏎) of at most about `limit` characters, cut at a space when
    one is near the end."""
    text = text.replace("\r\n", "\n").replace("\n", "⏎")
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + " …"


def _training_figures(run_dir: Path, pipeline_dir: Path, name: str) -> dict[str, Any]:
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        return {}
    rows = read_metrics(metrics)
    train = [r for r in rows if r["split"] == "train" and "loss" in r]
    validation = [r for r in rows if r["split"] == "validation"]
    found: dict[str, Any] = {}
    if train:
        found["steps"] = train[-1]["step"]
        found["train_loss"] = round(float(train[-1]["loss"]), 4)
    if validation:
        last = validation[-1]
        found["validation"] = {
            k: round(float(v), 4)
            for k, v in last.items()
            if k not in ("step", "split", "time") and isinstance(v, int | float)
        }
    curve = run_dir / PNG_NAME
    if curve.is_file() and pipeline_dir.is_dir():
        copy = pipeline_dir / f"{name}-{PNG_NAME}"
        shutil.copyfile(curve, copy)
        found["loss_curve"] = copy.name
    return found


def _scores(cfg) -> dict[str, dict[str, float]]:
    """System name → its metrics, from the eval's scores.json."""
    path = Path(cfg.output) if cfg.output else Path(cfg.output_dir or "") / "scores.json"
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text(encoding="utf-8"))
    systems = saved["systems"] if "systems" in saved else [saved]
    return {s["name"]: s["metrics"] for s in systems}


def _files(directory: Path) -> dict[str, int]:
    """The export's model files and their sizes in bytes."""
    if not directory.is_dir():
        return {}
    suffixes = (".onnx", ".gguf", ".safetensors", ".bin", ".data")
    return {
        p.name: p.stat().st_size
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name.endswith(suffixes)
    }


def key_figures(summary: dict[str, Any]) -> str:
    """The few numbers a person looks for, on one line."""
    parts = []
    if "vocab_size" in summary:
        parts.append(f"vocabulary {summary['vocab_size']:,}")
    for split, tokens in summary.get("tokens", {}).items():
        parts.append(f"{split} {tokens:,} tokens")
    if "train_loss" in summary:
        parts.append(f"train loss {summary['train_loss']:.4g}")
    validation = summary.get("validation", {})
    if "loss" in validation:
        parts.append(f"val loss {validation['loss']:.4g}")
    for system, metrics in summary.get("scores", {}).items():
        shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in _headline(metrics))
        parts.append(f"{Path(system).name}: {shown}" if len(summary["scores"]) > 1 else shown)
    for name, size in summary.get("files", {}).items():
        parts.append(f"{name} {_size(size)}")
    if "generations" in summary:
        parts.append(f"{summary['generations']} generations")
    return " · ".join(parts)


HEADLINE = ("accuracy", "f1", "bleu", "chrf", "rougeL", "exact_match", "perplexity", "pearson")
"""The scores the summary line shows when present (report.md's tables show them all)."""


def _headline(metrics: dict[str, float]) -> list[str]:
    found = [name for name in metrics if name in HEADLINE or name.startswith("pass@")]
    return found[:3] or list(metrics)[:3]


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def _wall(summary: dict[str, Any]) -> str:
    seconds = summary.get("seconds")
    return "–" if seconds is None else format_duration(seconds)


def write_report(
    cfg: PipelineConfig, plans: list[StagePlan], summaries: list[dict[str, Any]], console: Console
) -> None:
    table = Table(title=f"llmkit run · {cfg.output_dir}")
    for column in ("stage", "status", "wall time", "key figures"):
        table.add_column(column)
    for summary in summaries:
        table.add_row(summary["stage"], summary["status"], _wall(summary), key_figures(summary))
    console.print(table)
    root = Path(cfg.output_dir)
    (root / FIGURES).write_text(json.dumps({"stages": summaries}, indent=2) + "\n", "utf-8")
    (root / REPORT).write_text(_markdown(cfg, summaries), encoding="utf-8")
    console.print(f"report: {root / REPORT} · figures: {root / FIGURES}")


def _markdown(cfg: PipelineConfig, summaries: list[dict[str, Any]]) -> str:
    lines = [f"# Pipeline report: {cfg.output_dir}", "", "| stage | type | status | wall time "
             "| key figures |", "|---|---|---|---|---|"]  # fmt: skip
    for s in summaries:
        lines.append(
            f"| {s['stage']} | {s['type']} | {s['status']} | {_wall(s)} | {key_figures(s)} |"
        )
    for s in summaries:
        lines += ["", f"## {s['stage']} ({s['type']}): {s['status']}", "", f"Why: {s['reason']}."]
        if "output_dir" in s:
            lines += ["", f"Output: `{s['output_dir']}`"]
        if "loss_curve" in s:
            lines += ["", f"![loss curve of {s['stage']}]({s['loss_curve']})"]
        lines += _score_table(s.get("scores", {}))
        lines += _generation_table(s)
        if s.get("files"):
            lines += ["", "| file | size |", "|---|---|"]
            lines += [f"| {name} | {_size(size)} |" for name, size in s["files"].items()]
        lines += ["", "Repeat this stage alone (its config holds every --set of this run):", "",
                  "```bash", s["command"], "```"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _score_table(scores: dict[str, dict[str, float]]) -> list[str]:
    if not scores:
        return []
    names = list(dict.fromkeys(k for m in scores.values() for k in m))
    lines = ["", "| metric | " + " | ".join(scores) + " |", "|---" * (len(scores) + 1) + "|"]
    for name in names:
        cells = [_cell(m.get(name)) for m in scores.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _generation_table(summary: dict[str, Any]) -> list[str]:
    first = summary.get("first_generations")
    if not first:
        return []
    lines = ["", f"The first {len(first)} of {summary['generations']} generations (all of them in "
             f"`{Path(summary['output_dir']) / 'generations.jsonl'}`):", "",
             "| prompt | output |", "|---|---|"]  # fmt: skip
    for row in first:
        lines.append(f"| {_text_cell(row['prompt'])} | {_text_cell(row['output'])} |")
    return lines


def _text_cell(text: str) -> str:
    return text.replace("|", "\\|") if text.strip() else "*(empty)*"


def _cell(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
