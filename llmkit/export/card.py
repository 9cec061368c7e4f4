"""README.md model card in the Hugging Face Hub's format: YAML front matter (library_name,
pipeline_tag, license, datasets, metrics and a model-index with the run's last validation scores)
and a body saying what the model is, what it was trained on and how to load it."""

import json
from pathlib import Path
from typing import Any

import yaml

from llmkit.export.source import ExportSource, model_step, read_run_config
from llmkit.train.plot import read_metrics

_NOT_SCORES = {"step", "split", "time", "examples", "tokens"}


def model_evaluation(run_dir: Path | None) -> tuple[int | None, dict[str, float]]:
    """(step, scores) of the validation of the weights the run saved as its model: the best
    step's under checkpoint.keep_best, else the last; (None, {}) when it never validated."""
    path = run_dir / "metrics.jsonl" if run_dir is not None else None
    if path is None or not path.is_file():
        return None, {}
    validations = [r for r in read_metrics(path) if r["split"] == "validation"]
    if not validations:
        return None, {}
    step = model_step(run_dir)
    row = next((r for r in validations if r["step"] == step), validations[-1])
    return row["step"], {k: float(v) for k, v in row.items() if k not in _NOT_SCORES}


def data_files(run_cfg: dict[str, Any]) -> list[str]:
    data = run_cfg.get("data")
    if isinstance(data, str):
        return [data]
    if not isinstance(data, dict):
        return []
    names = [data.get(split) for split in ("train", "validation", "test", "path")]
    return [str(n) for n in names if isinstance(n, str)]


def data_summary(run_dir: Path | None, run_cfg: dict[str, Any]) -> str:
    """finetune_data.json (examples and truncation per split), or a pretraining data manifest."""
    if run_dir is not None and (run_dir / "finetune_data.json").is_file():
        report = json.loads((run_dir / "finetune_data.json").read_text(encoding="utf-8"))
        return "\n".join(f"- {split}: {_flat(stats)}" for split, stats in report.items())
    for name in data_files(run_cfg):
        manifest = Path(name) / "manifest.json"
        if manifest.is_file():
            return f"- {name}: {_flat(json.loads(manifest.read_text(encoding='utf-8')))}"
    return "- not recorded (the source is not an llmkit run)"


def _flat(stats: Any) -> str:
    if not isinstance(stats, dict):
        return str(stats)
    return ", ".join(f"{k} {v}" for k, v in stats.items() if isinstance(v, int | float | str))


def front_matter(source, pipeline_tag: str, license: str | None, scores: dict) -> dict:
    run_cfg = read_run_config(source.run_dir)
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": pipeline_tag}
    if license:
        meta["license"] = license
    datasets = [Path(n).stem if Path(n).suffix else Path(n).name for n in data_files(run_cfg)]
    if datasets:
        meta["datasets"] = list(dict.fromkeys(datasets))
    if scores:
        meta["metrics"] = list(scores)
        name = source.model_dir.name or "model"
        dataset = datasets[0] if datasets else "validation"
        meta["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": pipeline_tag},
                        "dataset": {"name": dataset, "type": dataset, "split": "validation"},
                        "metrics": [{"type": k, "value": v} for k, v in scores.items()],
                    }
                ],
            }
        ]
    return meta


def model_card(
    source: ExportSource,
    model,
    auto_class: str,
    pipeline_tag: str,
    license: str | None,
    adapter_only: bool = False,
) -> str:
    run_cfg = read_run_config(source.run_dir)
    step, scores = model_evaluation(source.run_dir)
    meta = front_matter(source, pipeline_tag, license, scores)
    parameters = sum(p.numel() for p in model.parameters())
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {source.model_dir.name}",
        "",
        f"Exported by `llmkit export` from {source.description}.",
        "",
        "## Model",
        "",
        f"- architecture: `{source.architecture}` (model_type `{source.model_type}`)",
        f"- parameters: {parameters:,}",
        f"- weights: {_weights_dtype(model)}, safetensors",
    ]
    if scores:
        lines += ["", f"## Evaluation (validation, step {step})", ""]
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in scores.items()]
    lines += ["", "## Training data", "", data_summary(source.run_dir, run_cfg)]
    if run_cfg:
        config = yaml.safe_dump(run_cfg, sort_keys=False, allow_unicode=True)
        lines += ["", "## Training config (resolved)", "", "```yaml", config.rstrip(), "```"]
    lines += ["", "## How to load", "", "```python", *_load_snippet(auto_class, adapter_only)]
    lines += ["```", ""]
    return "\n".join(lines)


def _weights_dtype(model) -> str:
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def _load_snippet(auto_class: str, adapter_only: bool) -> list[str]:
    if adapter_only:
        return [
            f"from peft import PeftModel\nfrom transformers import {auto_class}, AutoTokenizer",
            "",
            f'base = {auto_class}.from_pretrained("BASE_MODEL")  # see adapter_config.json',
            'model = PeftModel.from_pretrained(base, "path/to/this/dir")',
        ]
    return [
        f"from transformers import {auto_class}, AutoTokenizer",
        "",
        f'model = {auto_class}.from_pretrained("path/to/this/dir")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/dir")',
    ]
