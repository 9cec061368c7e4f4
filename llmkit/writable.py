"""Preflight for outputs: refuse, before any data is read or model built, an output path that
cannot be written (a file in the way, no write permission, a read-only file system).

Every command that writes calls one of these first, so a wrong path costs a second, not a data
preparation and a model build followed by a PermissionError traceback. Nothing is created:
making the directory stays the command's own step.
"""

import errno
import os
import tempfile
from pathlib import Path

from llmkit.errors import ConfigError


def require_writable_dir(path: str | Path, key: str, *, swapped_in: bool = False) -> None:
    """`path` can be created or written as a directory. With `swapped_in`, the command builds
    the directory as a sibling and renames it into place, so the parent must be writable too."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}: {path} is a file, not a directory", f"choose another {key}")
    if path.is_dir():
        _require_writable(path, path, key)
        if swapped_in:
            _require_writable(path.parent.resolve(), path, key)
        return
    _require_writable(_nearest_existing_dir(path, key), path, key)


def require_writable_file(path: str | Path, key: str) -> None:
    """`path` can be (re)written as a file: it is not a directory and its directory is
    writable (the file is written beside it and renamed into place)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{key}: {path} is a directory; name a file", f"choose another {key}")
    _require_writable(_nearest_existing_dir(path.parent, key, path), path, key)


def _nearest_existing_dir(path: Path, key: str, target: Path | None = None) -> Path:
    """The closest existing ancestor of `path` (or `path` itself), which the command would create
    the rest under; a file there makes the path impossible."""
    # the file system root always exists, so there is one
    existing = next(p for p in (path, *path.resolve().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"{key}: cannot create {target or path}: {existing} is a file, not a directory",
            f"choose another {key}",
        )
    return existing


def _require_writable(directory: Path, target: Path, key: str) -> None:
    reason = _why_not_writable(directory)
    if reason is None:
        return
    where = f"{target}" if directory == target else f"{target} ({directory})"
    raise ConfigError(
        f"{key}: cannot write to {where}: {reason}",
        f"choose another {key}, or fix the directory's permissions",
    )


def _why_not_writable(directory: Path) -> str | None:
    """None if a file can be created in `directory`, else why not. os.access sees permission
    bits and read-only mounts; the probe (an unnamed temporary file, removed on close) catches
    what access() cannot see, such as ACLs or an NFS server refusing root."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return _access_reason(directory)
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        return (e.strerror or str(e)).lower()
    return None


def _access_reason(directory: Path) -> str:
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES).lower()
