"""What is being exported: a model directory, a training run, or a LoRA adapter.

A run's output_dir holds its saved model (the best validated one when the run had
`checkpoint.keep_best`, else the last step's), its resolved config, trainer_state.json and
metrics.jsonl; a LoRA run also holds `adapter/`. Weights are read from safetensors only: a
directory that only has pickled weights (pytorch_model.bin) is refused, because unpickling runs
code the file chose.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmkit.errors import CheckpointError

PICKLED = ("pytorch_model.bin", "adapter_model.bin", "pytorch_model.bin.index.json")


@dataclass
class ExportSource:
    model_dir: Path
    """The Hugging Face model directory the weights come from (merged, for a LoRA run)."""
    run_dir: Path | None = None
    """The training run it belongs to (its metrics, config and data report), if any."""
    adapter_dir: Path | None = None
    """A LoRA adapter (adapter_config.json + adapter_model.safetensors), if any."""
    config: dict[str, Any] = field(default_factory=dict)
    """config.json of the model that is exported."""
    config_dir: Path | None = None
    """Where that config.json is, when it is not model_dir (an adapter of a run: the run's)."""
    description: str = ""
    """What is exported, said to the user: 'the best model of run X (step 40, accuracy 0.9)'."""

    @property
    def architecture(self) -> str:
        return (self.config.get("architectures") or ["?"])[0]

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type"))

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.config.get("is_encoder_decoder"))


def resolve_source(path: str) -> ExportSource:
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(
            f"source: {root} is not a directory",
            "give a model directory or a training run's output_dir",
        )
    if (root / "config.json").is_file():
        _refuse_pickled(root)
        adapter = root / "adapter"
        source = ExportSource(
            model_dir=root,
            run_dir=root if _is_run(root) else None,
            adapter_dir=adapter if (adapter / "adapter_config.json").is_file() else None,
            config=_read_json(root / "config.json"),
        )
        source.description = _describe(source)
        return source
    if (root / "adapter_config.json").is_file():
        return _adapter_only(root)
    hint = "give a model directory (config.json + model.safetensors) or a run's output_dir"
    if (root / "checkpoints").is_dir():
        hint = (
            "this run has checkpoints but no saved model: it did not finish; continue it with "
            "--resume, then export its output_dir"
        )
    raise CheckpointError(f"source: {root} is not a model or run directory (no config.json)", hint)


def _adapter_only(root: Path) -> ExportSource:
    """A LoRA adapter directory: its base model is the one named in adapter_config.json."""
    _refuse_pickled(root)
    adapter_cfg = _read_json(root / "adapter_config.json")
    base = adapter_cfg.get("base_model_name_or_path")
    if not base or not (Path(base) / "config.json").is_file():
        raise CheckpointError(
            f"source: the adapter {root} names base model {base!r}, which is not a local "
            "model directory",
            "export the run's output_dir (it holds the merged model) instead",
        )
    run = root.parent if root.name == "adapter" and _is_run(root.parent) else None
    # the run's config names the head (and its labels) the adapter was trained with
    config_dir = run if run is not None else Path(base)
    source = ExportSource(
        model_dir=Path(base),
        run_dir=run,
        adapter_dir=root,
        config=_read_json(config_dir / "config.json"),
        config_dir=config_dir,
    )
    source.description = f"the LoRA adapter {root} on its base model {base}"
    return source


def _is_run(path: Path) -> bool:
    return (path / "trainer_state.json").is_file() or (path / "metrics.jsonl").is_file()


def _trainer_state(run_dir: Path) -> dict[str, Any]:
    state_file = run_dir / "trainer_state.json"
    return _read_json(state_file) if state_file.is_file() else {}


def _keeps_best(run_cfg: dict[str, Any]) -> bool:
    return bool(run_cfg.get("train", {}).get("checkpoint", {}).get("keep_best"))


def model_step(run_dir: Path | None) -> int | None:
    """The step whose weights a run saved as its model (trainer_state.json's model_step; runs
    of an llmkit before it: the best step under checkpoint.keep_best, else the last); None when
    that is not recorded."""
    if run_dir is None:
        return None
    return _saved_step(_trainer_state(run_dir), read_run_config(run_dir))


def _saved_step(state: dict[str, Any], run_cfg: dict[str, Any]) -> int | None:
    if "model_step" in state:
        return state["model_step"]
    if _keeps_best(run_cfg) and state.get("best_step") is not None:
        return state["best_step"]
    return state.get("step")


def _describe(source: ExportSource) -> str:
    if source.run_dir is None:
        return f"the model directory {source.model_dir}"
    state = _trainer_state(source.run_dir)
    run_cfg = read_run_config(source.run_dir)
    best_step, step = state.get("best_step"), state.get("step")
    if _keeps_best(run_cfg) and best_step is not None and _saved_step(state, run_cfg) == best_step:
        metric = run_cfg.get("train", {}).get("eval", {}).get("best_metric")
        return (
            f"the best checkpoint of run {source.run_dir} (step {best_step} of {step}, "
            f"{metric} {state.get('best_metric'):.4g}), saved as the run's model"
        )
    return f"the final model of run {source.run_dir} (step {step})"


def read_run_config(run_dir: Path | None) -> dict[str, Any]:
    """The run's resolved llmkit config (llmkit_config.yaml), {} when there is none."""
    if run_dir is None or not (run_dir / "llmkit_config.yaml").is_file():
        return {}
    return yaml.safe_load((run_dir / "llmkit_config.yaml").read_text(encoding="utf-8")) or {}


def _refuse_pickled(root: Path) -> None:
    pickled = [name for name in PICKLED if (root / name).is_file()]
    safe = list(root.glob("*.safetensors"))
    if pickled and not safe:
        raise CheckpointError(
            f"source: {root} holds pickled weights ({', '.join(pickled)}) and no safetensors; "
            "llmkit does not unpickle files (loading one can run arbitrary code)",
            "convert them once where you trust the file: "
            "AutoModel.from_pretrained(dir).save_pretrained(dir2)  (safetensors by default)",
        )
    if not safe:
        raise CheckpointError(f"source: {root} has no *.safetensors weights")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"source: {path} cannot be read: {e}") from None
