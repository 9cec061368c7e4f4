"""The executor itself: a forged report is not a pass, and a timeout kills the program's whole
process group (a grandchild forked behind the guard's back included)."""

import os
import signal
import textwrap
import time

from llmkit.evaluation.code_execution import Limits, Outcome, Program, _judge, run_program


def test_a_forged_report_without_the_secret_is_not_a_pass():
    forge = textwrap.dedent("""
        import os
        report = {"verdict": "passed", "tests_run": 1, "error": "", "nonce": "guess"}
        for fd in range(3, 64):
            try:
                os.write(fd, repr(report).encode())
            except OSError:
                pass
        os._exit(0)
    """)
    outcome = run_program(Program(forge, "", ("assert False",)), Limits(timeout=5))
    assert outcome.verdict == "error"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" in f.read()  # killed, waiting for init to reap it
    except FileNotFoundError:
        return True


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    program = textwrap.dedent(f"""
        import ctypes, time
        libc = ctypes.CDLL(None)
        pid = libc.fork()  # not os.fork, which the guard disables
        if pid == 0:
            time.sleep(120)
            libc._exit(0)
        open({str(pid_file)!r}, "w").write(str(pid))
        while True:
            pass
    """)
    outcome = run_program(Program(program, "", ("assert True",)), Limits(timeout=3))
    assert outcome.verdict == "timed_out"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert _gone(pid), f"grandchild {pid} survived the timeout"
    finally:
        if not _gone(pid):
            os.kill(pid, 9)


def test_a_grandchild_that_escapes_the_group_cannot_hang_the_run(tmp_path):
    # a new session escapes killpg, and the grandchild keeps the result pipe open: reading the
    # result must not wait for it (it would sleep for 10 minutes)
    pid_file = tmp_path / "escaped.pid"
    program = textwrap.dedent(f"""
        import ctypes, time
        libc = ctypes.CDLL(None)
        pid = libc.fork()
        if pid == 0:
            libc.setsid()
            time.sleep(600)
            libc._exit(0)
        open({str(pid_file)!r}, "w").write(str(pid))
        def add(a, b):
            return a + b
    """)
    try:
        outcome = run_program(Program(program, "", ("assert add(1, 2) == 3",)), Limits(timeout=60))
        assert outcome.verdict == "passed"
    finally:
        if pid_file.exists() and not _gone(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), 9)


def test_limits_are_in_place_before_the_program_runs():
    # /proc/self/limits: "Max cpu time  <soft>  <hard>  seconds"
    probe = textwrap.dedent("""
        limits = {line[:26].strip(): line[26:].split()[:2] for line in open('/proc/self/limits')}
        assert limits["Max cpu time"] == ["7", "7"], limits["Max cpu time"]
        assert limits["Max address space"] == [str(300 << 20)] * 2, limits["Max address space"]
        assert limits["Max file size"] == [str(2 << 20)] * 2, limits["Max file size"]
        assert limits["Max core file size"] == ["0", "0"]
        try:
            open("big", "wb").write(b"x" * (3 << 20))
        except OSError as e:
            assert e.errno == 27, e  # EFBIG: the file size limit holds
        else:
            raise AssertionError("wrote past the file size limit")
    """)
    outcome = run_program(Program(probe, "", ()), Limits(timeout=6.5, memory_mb=300, file_mb=2))
    assert outcome == Outcome("passed", "")


def test_the_kernels_cpu_limit_kill_is_a_timeout_not_an_error():
    # RLIMIT_CPU is set with soft == hard, so Linux ends a CPU-bound program with SIGKILL; an
    # idle machine reaches it about when the wall clock runs out (CI saw 'killed by SIGKILL')
    outcome = _judge(None, "secret", 3, -signal.SIGKILL, "", Limits(timeout=6))
    assert outcome.verdict == "timed_out" and "6 s CPU time limit" in outcome.error
    assert _judge(None, "secret", 3, -signal.SIGXCPU, "", Limits(timeout=6)).verdict == "timed_out"
