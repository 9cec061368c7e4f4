"""Content-hash caching and atomic output directories for preprocessing.

The cache key covers what decides the output: every input file's resolved path, size and
modification time, the config (minus keys that only change speed or the location), the tokenizer's
full serialized form and the output format version. A matching manifest means "already done".
"""

import contextlib
import hashlib
import json
import os
import shutil
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


def config_hash(cfg) -> str:
    settings = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in _NOT_IN_KEY}
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temp_dirs(final: Path) -> None:
    """Temp dirs of runs that were killed (their process no longer exists)."""
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(final: Path):
    """Yield a temporary sibling of `final`; rename it to `final` only if the block completes.

    On any error (or Ctrl-C) the temporary directory is removed and `final` is left as it was,
    so a directory at `final` is always a finished one.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
