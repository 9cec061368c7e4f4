"""On `--resume`, compare the config the checkpoint was trained with (its llmkit_config.yaml)
with the one given now, before any data or model work.

- A change to what is trained (model, task, data, tokenizer, LoRA, freezing, …) is refused with
  the keys that differ: the weights and optimizer state would not fit, or would silently mean
  something else (a "size mismatch" traceback at best).
- A change to how long the run is, where and how often it reports or saves, or settings that
  only change speed is expected when resuming (extending max_steps is the common case): noted.
- Any other training setting (seed, learning rate, batch size, precision, schedule, …) is
  allowed with a warning: the run goes on, but will not repeat an uninterrupted one.
- A setting the saved config lacks (added to llmkit after the run was saved) is allowed with a
  warning naming its value now.
"""

from pathlib import Path
from typing import Any

import yaml

from llmkit.config.load import dump_config
from llmkit.errors import CheckpointError

SAVED_CONFIG = "llmkit_config.yaml"
_NOT_COMPARED = ("train.resume",)  # "never" in the saved run, "auto" or a path now
_EXPECTED = (
    "output_dir",
    "train.max_steps",
    "train.epochs",
    "train.num_workers",
    "train.logging",
    "train.checkpoint.every_steps",
    "train.checkpoint.keep_last",
    "train.eval.every_steps",
    "train.eval.max_batches",
    "train.eval.batch_size",
    "data.preprocess.output_dir",
)
_SPEED_ONLY = ("num_proc", "batch_chars")  # leaves that never change a row of the data
_TRAINING = ("train", "batching")
_ABSENT = object()


def check_resumed_config(checkpoint: Path, run_cfg, say) -> None:
    """Refuse (CheckpointError) or report, via `say(line)`, how `run_cfg` differs from the
    config saved in `checkpoint`. A checkpoint without a saved config is not compared."""
    saved_file = Path(checkpoint) / SAVED_CONFIG
    if not saved_file.is_file():
        return
    old = _flat(yaml.safe_load(saved_file.read_text(encoding="utf-8")) or {})
    new = _flat(yaml.safe_load(dump_config(run_cfg)))  # the same JSON-typed form as saved
    changed = [
        k for k in sorted(old.keys() | new.keys()) if old.get(k, _ABSENT) != new.get(k, _ABSENT)
    ]
    by_kind: dict[str, list[str]] = {"refuse": [], "warn": [], "note": [], "added": []}
    for key in changed:
        # A key the saved config lacks was added to llmkit after the run was saved: refusing
        # it would strand every run of an earlier version.
        kind = "added" if key not in old else _kind(key)
        if kind is not None:
            by_kind[kind].append(
                f"{key} {_shown(old.get(key, _ABSENT))} → {_shown(new.get(key, _ABSENT))}"
            )
    if by_kind["refuse"]:
        raise CheckpointError(
            f"cannot resume from {checkpoint}: the model, task or data differ from the run's "
            f"saved config ({saved_file.name}): {'; '.join(by_kind['refuse'])}",
            "resume with the settings the run was started with, or start a new run in another "
            "output_dir",
        )
    if by_kind["warn"]:
        say(
            "warning: resuming with changed training settings (the run will not repeat an "
            f"uninterrupted one): {'; '.join(by_kind['warn'])}"
        )
    if by_kind["added"]:
        say(
            "warning: settings added to llmkit since this run was saved take their values "
            f"from now on (set them to the run's earlier behaviour to repeat it exactly): "
            f"{'; '.join(by_kind['added'])}"
        )
    if by_kind["note"]:
        say(f"resuming with changed run length or reporting: {'; '.join(by_kind['note'])}")


def _kind(key: str) -> str | None:
    if _under(key, _NOT_COMPARED):
        return None
    if _under(key, _EXPECTED) or key.rsplit(".", 1)[-1] in _SPEED_ONLY:
        return "note"
    if _under(key, _TRAINING):
        return "warn"
    return "refuse"


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            flat.update(_flat(value, key + "."))
        else:
            flat[key] = value
    return flat


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )
