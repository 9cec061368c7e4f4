"""One training run per output directory: a lock file holding the host and pid of its owner.

A second run on the same output_dir stops at once naming the first, instead of interleaving its
rows in metrics.jsonl and overwriting the other's checkpoints. A lock left by a run that was
killed (its pid no longer exists on this host) is reported and taken over.
"""

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from llmkit.errors import UserError
from llmkit.outputs import pid_alive

LOCK_FILE = ".llmkit.lock"


class OutputDirLocked(UserError):
    """Another run holds the output directory, or it cannot take the lock there at all."""


def _read_owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


class RunLock:
    """`with RunLock(output_dir):` holds the lock for the block, released on any exit."""

    def __init__(self, output_dir: Path, report=print):
        self.path = Path(output_dir) / LOCK_FILE
        self.report = report
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        self.created_dir = False

    def __enter__(self) -> "RunLock":
        self.created_dir = not self.path.parent.exists()
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise OutputDirLocked(f"output_dir {self.path.parent} is a file; name a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = self._try_create()
        except OSError as e:  # a file in the way, no permission, a read-only mount
            raise OutputDirLocked(
                f"output_dir {self.path.parent}: cannot write there ({e.strerror})",
                "choose a directory you can write",
            ) from None
        if not created:
            self._take_over_if_stale()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        owner = _read_owner(self.path)
        if owner is not None and (owner.get("host"), owner.get("pid")) == (
            self.owner["host"],
            self.owner["pid"],
        ):
            self.path.unlink(missing_ok=True)
        if self.created_dir:
            with contextlib.suppress(OSError):  # a run that wrote nothing leaves nothing behind
                self.path.parent.rmdir()

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.owner, f)
        return True

    def _take_over_if_stale(self) -> None:
        owner = _read_owner(self.path)
        if owner is None:  # torn by a kill while it was written: nobody can own it
            self.report(f"warning: {self.path} is unreadable (left by a killed run); taking over")
        else:
            host, pid = owner.get("host"), owner.get("pid")
            if host != self.owner["host"] or not isinstance(pid, int) or pid_alive(pid):
                raise OutputDirLocked(
                    f"output_dir {self.path.parent} is in use by another llmkit run "
                    f"(host {host}, pid {pid}, lock {self.path})",
                    "wait for it to finish or choose another output_dir; if that run is gone, "
                    "delete the lock file",
                )
            self.report(
                f"warning: taking over the stale lock {self.path} of pid {pid} on {host}, "
                "which is no longer running"
            )
        self.path.unlink(missing_ok=True)
        if not self._try_create():  # another run took it over in between
            self._take_over_if_stale()
