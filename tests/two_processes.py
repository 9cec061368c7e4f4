"""`accelerate launch` of an llmkit command on 2 CPU processes (gloo), for the multi-process
tests. Each launch gets its own free rendezvous port, so a launch can never join the store of an
earlier one that is still shutting down (every launch on the default port 29500 could); on a
timeout the whole process group (launcher and workers) is killed, so no worker outlives its test
and holds a port or the CPU, and the failure shows what each side printed."""

import os
import signal
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_processes(*llmkit_args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `llmkit *llmkit_args` on 2 processes; returns the finished launcher process."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(free_port()),
              "-m", "llmkit", *map(str, llmkit_args)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        launch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(
            f"2-process `llmkit {' '.join(map(str, llmkit_args))}` still running after "
            f"{timeout:.0f} s; killed.\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(launch, proc.returncode, out, err)
