"""What an evaluation shows and writes: a rich table (systems side by side), scores.json,
predictions.jsonl, and the --fail-under gates."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from llmkit.config.eval import EvalConfig
from llmkit.config.load import save_resolved_config
from llmkit.errors import ConfigError, GateFailed
from llmkit.metrics.functions import LOWER_IS_BETTER
from llmkit.outputs import check_output_dir, check_output_file, staged_output_dir


@dataclass
class SystemResult:
    """The scores of one model or one predictions file."""

    name: str
    """How the system is labelled in the table: the model directory or predictions file."""
    metrics: dict[str, float]
    signatures: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    """Which model/file produced the predictions: path, and for models their type and size."""
    rows: list[dict[str, Any]] | None = None
    """Per-example {"input", "prediction", "reference"} (model mode) for predictions.jsonl."""


def _format(name: str, value: float) -> str:
    if name in ("bleu", "chrf", "ter", "perplexity"):
        return f"{value:.2f}"
    if name in ("tokens", "examples", "problems", "samples") or name.endswith("total"):
        return f"{value:,.0f}"
    return f"{value:.4f}"


def print_table(results: list[SystemResult], data: str | None = None) -> None:
    """One row per metric, one column per system; the best system per metric in bold."""
    table = Table(title=f"llmkit eval{f' · {data}' if data else ''}")
    table.add_column("metric")
    for result in results:
        table.add_column(result.name, justify="right")
    names = list(dict.fromkeys(n for r in results for n in r.metrics))
    for name in names:
        values = [r.metrics.get(name) for r in results]
        present = [v for v in values if v is not None]
        best = (min if name in LOWER_IS_BETTER else max)(present) if len(results) > 1 else None
        cells = []
        for v in values:
            text = "–" if v is None else _format(name, v)
            cells.append(f"[bold]{text}[/bold]" if v is not None and v == best else text)
        table.add_row(name, *cells)
    console = Console()
    console.print(table)
    for result in results:
        for name, signature in result.signatures.items():
            prefix = f"{result.name} " if len(results) > 1 else ""
            console.print(
                f"{prefix}{name} signature: {signature}",
                style="dim",
                highlight=False,
                soft_wrap=True,
            )


def scores_json(results: list[SystemResult], cfg: EvalConfig) -> dict[str, Any]:
    """One system: {"metrics", "signatures", "model"|"predictions", "data", "config"}.
    Several: the same per system under "systems", plus "data" and "config"."""
    config = cfg.model_dump(mode="json")

    def one(result: SystemResult) -> dict[str, Any]:
        key = "model" if not cfg.file_mode else "predictions"
        return {
            "name": result.name,
            "metrics": result.metrics,
            "signatures": result.signatures,
            key: result.identity,
        }

    data = {"path": cfg.data} if not cfg.file_mode else {"references": cfg.references}
    if len(results) == 1:
        return {**one(results[0]), "data": data, "config": config}
    return {"systems": [one(r) for r in results], "data": data, "config": config}


def check_outputs(cfg: EvalConfig, force: bool) -> None:
    """Before any scoring: --output and --output-dir may only replace an earlier eval's."""
    if cfg.output is not None:
        check_output_file(Path(cfg.output), "eval", force, "output")
    if cfg.output_dir is not None:
        check_output_dir(Path(cfg.output_dir), "eval", force)


def write_outputs(results: list[SystemResult], cfg: EvalConfig, force: bool = False) -> None:
    """scores.json (and predictions*.jsonl, resolved config) into output_dir; the JSON to output."""
    payload = json.dumps(scores_json(results, cfg), indent=2, ensure_ascii=False) + "\n"
    if cfg.output is not None:
        out = Path(cfg.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(payload, encoding="utf-8")
        tmp.replace(out)
    if cfg.output_dir is None:
        return
    with staged_output_dir(Path(cfg.output_dir), "eval", force) as tmp_dir:
        (tmp_dir / "scores.json").write_text(payload, encoding="utf-8")
        for i, result in enumerate(results):
            if result.rows is None:
                continue
            name = "predictions.jsonl" if len(results) == 1 else f"predictions-{i + 1}.jsonl"
            with open(tmp_dir / name, "w", encoding="utf-8") as f:
                for row in result.rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        save_resolved_config(cfg, tmp_dir)


def parse_gates(texts: list[str]) -> dict[str, float]:
    """["bleu=20", "accuracy=0.9"] → {"bleu": 20.0, "accuracy": 0.9}."""
    gates = {}
    for text in texts:
        name, sep, value = text.partition("=")
        try:
            gates[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--fail-under {text!r}: expected metric=value, e.g. bleu=20")
    return gates


def check_gates(results: list[SystemResult], gates: dict[str, float]) -> None:
    """Raise GateFailed (exit 1) naming every gate any system misses."""
    failures = []
    for name, threshold in gates.items():
        for result in results:
            if name not in result.metrics:
                known = ", ".join(result.metrics)
                raise ConfigError(
                    f"fail_under: no metric '{name}' was computed (computed: {known}); "
                    "add it with --metric or fix the name"
                )
            value = result.metrics[name]
            lower = name in LOWER_IS_BETTER
            if (value > threshold) if lower else (value < threshold):
                relation = "above" if lower else "below"
                where = f"{result.name}: " if len(results) > 1 else ""
                failures.append(
                    f"{where}{name} = {_format(name, value)} is {relation} the gate {threshold:g}"
                )
    if failures:
        raise GateFailed("quality gate failed: " + "; ".join(failures))
