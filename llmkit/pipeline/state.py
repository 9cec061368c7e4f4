"""What a pipeline remembers between runs: per stage, the config and input hashes it ran with and
a fingerprint of what it wrote, in <pipeline output_dir>/pipeline_state.json.

The file is replaced atomically (written beside, fsynced, renamed), so a kill at any moment
leaves either the old or the new state. A stage is recorded `started` before it runs and
`complete` only when it returned, so an interrupted stage is never taken for a finished one.
"""

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

STATE_FILE = "pipeline_state.json"
RUN_CONTROL_KEYS = (("force",), ("train", "resume"))
"""Keys the pipeline sets itself (replace its own output, continue a checkpoint); they say how a
stage runs, not what it computes, so they are left out of its config hash."""


def load_state(pipeline_dir: Path) -> dict[str, dict[str, Any]]:
    path = Path(pipeline_dir) / STATE_FILE
    if not path.is_file():
        return {}
    try:
        stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # unreadable: every stage reruns, which is always safe
    return stages if isinstance(stages, dict) else {}


def save_state(pipeline_dir: Path, stages: dict[str, dict[str, Any]]) -> None:
    pipeline_dir = Path(pipeline_dir)
    pipeline_dir.mkdir(parents=True, exist_ok=True)
    tmp = pipeline_dir / f".{STATE_FILE}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"stages": stages}, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, pipeline_dir / STATE_FILE)


def config_view(config: BaseModel) -> dict[str, Any]:
    """The resolved config without the run-control keys."""
    data = config.model_dump(mode="json")
    for path in RUN_CONTROL_KEYS:
        node = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return data


def config_hash(config: BaseModel) -> str:
    text = json.dumps(config_view(config), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dumps."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [prefix] if old != new else []
    found = []
    for key in dict.fromkeys([*old, *new]):
        found += changed_keys(old.get(key), new.get(key), f"{prefix}.{key}".lstrip("."))
    return found


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def tree_fingerprint(paths: list[Path]) -> str | None:
    """Names, sizes and modification times of every file under `paths` (None if one is
    missing): any rewrite of an output changes it, without reading gigabytes of weights."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        if not path.exists():
            return None
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"{file}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
