"""The export's output directory: checked before any work, written to a temporary sibling, renamed
into place only when complete, so a failed or interrupted export leaves nothing half-written."""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from llmkit.errors import UserError


def check_output_dir(output_dir: str, force: bool, source: Path) -> Path:
    """Refuse, before any work, an output that would mix with or overwrite something."""
    out = Path(output_dir)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise UserError(f"output_dir: {out} is inside the source {source}; choose another place")
    if out.exists() and not out.is_dir():
        raise UserError(f"output_dir: {out} exists and is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(
            f"output_dir: {out} already exists and is not empty; nothing was written",
            "choose a new directory, or pass --force to replace its contents",
        )
    parent = out.parent if not out.is_dir() else out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"output_dir: {parent} is not writable; choose a directory you can write")
    return out


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Yield a temporary directory next to `out`; on success it becomes `out` (replacing the
    previous contents when --force allowed that), on any failure it is deleted."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        # only reached with --force (checked up front); move the old contents aside first so
        # a crash between the two renames never leaves neither copy
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        os.replace(staging, out)
