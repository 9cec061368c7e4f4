"""Why a JSON or JSON Lines file failed to load, in words a user can act on.

datasets' JSON builder (pyarrow underneath) reports a bad line as "row 5 … Invalid encoding in
string", counting from 0 and only within a block, and an empty file as a bare StopIteration. Once
the builder has failed, the file is read again here, line by line, to name the file, the real
1-based line number and what is wrong with it.
"""

import contextlib
import json
import logging
from pathlib import Path

from llmkit.errors import DataError

_HINT = "fix the file, or set data.format if it is not JSON"


def json_problem(files: list[Path]) -> DataError | None:
    """The first problem in `files` (empty, undecodable, not JSON, a row that is not an object),
    or None when each file parses and the builder failed for another reason."""
    for path in files:
        problem = _file_problem(path)
        if problem is not None:
            return problem
    return None


def _file_problem(path: Path) -> DataError | None:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head and not fh.read(1):
            return DataError(
                f"{path}: the file is empty", "give a file with one JSON object per line"
            )
    if path.suffix.lower() == ".json":
        return _whole_file_problem(path)
    return _lines_problem(path)


def _whole_file_problem(path: Path) -> DataError | None:
    """A .json file: one JSON document (an array of objects), or JSON Lines under that name."""
    try:
        json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        return DataError(f"{path}: not valid UTF-8 (byte offset {e.start})", _HINT)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # a second document after the first: JSON Lines
            return _lines_problem(path)
        return DataError(f"{path}: line {e.lineno}: not valid JSON ({_reason(e)})", _HINT)
    return None


def _lines_problem(path: Path) -> DataError | None:
    """A JSON Lines file: one object per line, blank lines allowed."""
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8").rstrip("\r\n")
                row = json.loads(text)
            except UnicodeDecodeError as e:
                return DataError(
                    f"{path}: line {line_no}: not valid UTF-8 (byte {raw[e.start]:#04x} at column "
                    f"{e.start + 1})",
                    _HINT,
                )
            except json.JSONDecodeError as e:
                return DataError(f"{path}: line {line_no}: not valid JSON ({_reason(e)})", _HINT)
            if not isinstance(row, dict):
                return DataError(
                    f'{path}: line {line_no}: a row must be a JSON object ({{"column": value}}), '
                    f"not a {type(row).__name__}",
                    _HINT,
                )
    return None


@contextlib.contextmanager
def builder_logs_muted(fmt: str):
    """The JSON builder logs its own "Failed to load JSON …" line before raising; the error
    raised from json_problem replaces it, so the user sees one line, not two."""
    logger = logging.getLogger("datasets.packaged_modules.json.json")
    level = logger.level
    if fmt == "json":
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(e: json.JSONDecodeError) -> str:
    """ "Unterminated string starting at" + the column, without json's "line 1" of one line."""
    return f"{e.msg.removesuffix(' at')} at column {e.colno}"
