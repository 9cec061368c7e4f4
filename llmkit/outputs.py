"""Where a command may write: a new or empty directory, or its own earlier output.

Every output llmkit writes carries the resolved config (`llmkit_config.yaml`), whose `stage:` key
says which command wrote it. That is how a command recognises its own earlier output. A directory
that is not empty and holds anything else is someone's work: it is refused before any work starts,
never deleted. Replacing a command's own earlier output takes --force.

Directories are staged in a hidden sibling named after the process id and swapped in when
complete. A killed command's staging directory is removed by the next one only if it carries
STAGING_MARK (or is an earlier output set aside): a name alone proves nothing. They are made with plain `mkdir` (`tempfile.mkdtemp` is always 0700) and their files
are given the modes the user's umask gives, so others in the user's group can read them.
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import yaml

from llmkit.errors import ConfigError

MARKER = "llmkit_config.yaml"
_COMMANDS = {"tokenizer": "tokenizer train"}


def command_name(stage: str) -> str:
    return f"llmkit {_COMMANDS.get(stage, stage)}"


def stage_of_output(directory: Path) -> str | None:
    """The stage whose output `directory` is (the `stage:` of its llmkit_config.yaml), or None."""
    try:
        saved = yaml.safe_load((Path(directory) / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if isinstance(saved, dict) and isinstance(saved.get("stage"), str):
        return saved["stage"]
    return None


def is_empty_dir(directory: Path, ignore: tuple[str, ...] = ()) -> bool:
    return not any(p.name not in ignore for p in Path(directory).iterdir())


def _what_it_holds(directory: Path) -> str:
    found = stage_of_output(directory)
    if found is not None:
        return f"a `{command_name(found)}` output"
    names = sorted(p.name for p in directory.iterdir())
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return f"files llmkit did not write ({shown})"


def check_output_dir(directory: Path, stage: str, force: bool, key: str = "output_dir") -> bool:
    """Raise ConfigError unless `stage` may write `directory`. True when the directory holds an
    earlier output of `stage` (that --force allowed to be replaced)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{key}: {directory} is a file; name a directory")
    if not directory.is_dir() or is_empty_dir(directory):
        return False
    if stage_of_output(directory) != stage:
        raise ConfigError(
            f"{key}: {directory} is not empty and holds {_what_it_holds(directory)}; "
            "nothing was written",
            "choose another output_dir, or empty that directory yourself",
        )
    if not force:
        raise ConfigError(
            f"{key}: {directory} holds an earlier `{command_name(stage)}` output",
            "pass --force to replace it, or choose another output_dir",
        )
    return True


def check_output_file(path: Path, stage: str, force: bool, key: str) -> None:
    """The same rule for a single JSON file whose "config" names its stage (eval's scores)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{key}: {path} is a directory; name a file")
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        ours = saved["config"]["stage"] == stage
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        ours = False
    if not ours:
        raise ConfigError(
            f"{key}: {path} exists and is not a `{command_name(stage)}` output; nothing was written",
            "choose another file name, or remove that file yourself",
        )
    if not force:
        raise ConfigError(
            f"{key}: {path} holds an earlier `{command_name(stage)}` output",
            "pass --force to replace it, or choose another file name",
        )


def give_umask_modes(directory: Path) -> None:
    """Give every file under `directory` the mode a plain `open` would have: some writers
    (safetensors' save_file writes through a 0600 temporary file) keep others in the user's
    group from reading a model whatever the umask."""
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o777 != mode:
                os.chmod(path, mode)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


STAGING_MARK = ".llmkit-staging"
"""Made first in every staging directory and removed before the swap: only a directory holding it
(a staging directory) or holding MARKER (an earlier output set aside) is ever removed as stale."""


def _written_by_llmkit(directory: Path) -> bool:
    return (directory / STAGING_MARK).is_file() or stage_of_output(directory) is not None


def _remove_stale_staging(final: Path) -> None:
    """Staging directories of runs that were killed (their process no longer exists)."""
    for pattern in (f".{final.name}.tmp-*", f".{final.name}.old-*"):
        for stale in final.parent.glob(pattern):
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)) and _written_by_llmkit(stale):
                shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staged_output_dir(
    final: Path, stage: str, force: bool, key: str = "output_dir"
) -> Iterator[Path]:
    """Check `final` (see check_output_dir), yield a hidden sibling to write into, and swap it in
    for `final` only if the block completes. On any error (or Ctrl-C) the staging directory is
    removed and `final` is left as it was, so a directory at `final` is always a finished one."""
    final = Path(final)
    check_output_dir(final, stage, force, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():  # a killed run's, whose pid this process now has
        if not _written_by_llmkit(tmp):
            raise ConfigError(
                f"{key}: {tmp} is in the way of the staging directory and llmkit did not "
                "write it; nothing was written",
                "move or remove it yourself",
            )
        shutil.rmtree(tmp)
    tmp.mkdir()
    (tmp / STAGING_MARK).touch()
    try:
        yield tmp
        (tmp / STAGING_MARK).unlink()
        give_umask_modes(tmp)
        # Checked again: something may have appeared at `final` while the command worked.
        check_output_dir(final, stage, force=True, key=key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    set_aside = final.exists()
    if set_aside:
        os.replace(final, old)
    os.replace(tmp, final)
    if set_aside:
        shutil.rmtree(old, ignore_errors=True)
