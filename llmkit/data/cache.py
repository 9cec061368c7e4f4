"""Content-hash caching for preprocessing.

The cache key covers what decides the output: every input file's resolved path, size and
modification time, the config (minus keys that only change speed or the location), the tokenizer's
full serialized form and the output format version. A matching manifest means "already done".
"""

import hashlib
import json
from pathlib import Path

from llmkit.config.data import DataConfig
from llmkit.data.sources import SPLITS, resolve_files

FORMAT_VERSION = 1
# Keys that do not change the output (speed, location), so changing them keeps the cache valid.
_NOT_IN_KEY = {"output_dir", "num_proc", "batch_chars", "shard_mb"}


def input_fingerprint(data: DataConfig) -> list[dict]:
    """One entry per input file (or hub dataset) of every given split."""
    entries = []
    for split in SPLITS:
        spec = getattr(data, split)
        if spec is None:
            continue
        if data.format == "hub":
            entries.append({"split": split, "hub": spec, "config": data.hub_config})
            continue
        for path in resolve_files(spec, f"data.{split}"):
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                st = f.stat()
                entries.append(
                    {"split": split, "path": str(f.resolve()), "size": st.st_size,
                     "mtime_ns": st.st_mtime_ns}
                )  # fmt: skip
    return entries


def tokenizer_identity(tokenizer) -> dict | None:
    if tokenizer is None:
        return None
    serialized = tokenizer.backend_tokenizer.to_str()
    return {
        "name_or_path": str(tokenizer.name_or_path),
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "eos_token": tokenizer.eos_token,
        "sep_token": tokenizer.sep_token,
        "model_max_length": tokenizer.model_max_length
        if tokenizer.model_max_length < 1_000_000
        else None,
        "sha256": hashlib.sha256(serialized.encode("utf-8")).hexdigest(),
    }


# Keys added after outputs were cached, left out of the key while at their default so that
# those outputs stay valid.
_ADDED_LATER = {"segments": None}


def config_hash(cfg) -> str:
    settings = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in _NOT_IN_KEY}
    for key, default in _ADDED_LATER.items():
        if key in settings and settings[key] == default:
            del settings[key]
    return _sha256(settings)


def cache_key(cfg, inputs: list[dict], tokenizer: dict | None) -> str:
    return _sha256(
        {
            "format": FORMAT_VERSION,
            "config": config_hash(cfg),
            "inputs": inputs,
            "tokenizer": tokenizer and tokenizer["sha256"],
        }
    )


def _sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()


def cached_manifest(out_dir: Path, key: str) -> dict | None:
    """The manifest of a finished output made with the same cache key, else None."""
    manifest = out_dir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("cache_key") == key else None


def what_changed(out_dir: Path, cfg, inputs: list[dict], tokenizer: dict | None) -> str:
    """Which of config, input files and tokenizer differ from the manifest in `out_dir`."""
    try:
        saved = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "it has no readable manifest.json"
    changed = [
        name
        for name, now, before in (
            ("the config", config_hash(cfg), saved.get("config_hash")),
            ("the input files", inputs, saved.get("inputs")),
            (
                "the tokenizer",
                tokenizer and tokenizer["sha256"],
                (saved.get("tokenizer") or {}).get("sha256"),
            ),
        )  # fmt: skip
        if now != before
    ]
    return " and ".join(changed) if changed else "its format changed"
