"""pass@k file mode end to end through the CLI: hand-written completions each get the verdict
they deserve, in bounded time; nothing runs without the opt-in; HumanEval-style references."""

import json
import os

import pytest
from code_problems import write_problems

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"]
LIMITS = ["--set", "code.timeout=6", "--set", "code.memory_mb=100", "--set", "code.k=[1]"]

CASES = {
    "correct": ("def add(a, b):\n    return a + b\n", "passed", ""),
    "wrong": ("def add(a, b):\n    return a - b\n", "failed", "assert add(1, 2) == 3"),
    "infinite loop": ("def add(a, b):\n    while True:\n        pass\n", "timed_out", "6 s"),
    "unbounded allocation": (
        "s = 'x'\nwhile True:\n    s = s * 2\n", "error", "MemoryError"
    ),
    "raises": ("def add(a, b):\n    raise ValueError('no adding today')\n", "error",
               "ValueError: no adding today"),
    "stderr but passes": (
        "import sys\nprint('Traceback? no, just chatter', file=sys.stderr)\n"
        "def add(a, b):\n    return a + b\n", "passed", ""),
    "an assertion failure shown on stderr": (
        "import traceback\ndef add(a, b):\n    return a + b\ntry:\n    assert add(1, 1) == 3\n"
        "except AssertionError:\n    traceback.print_exc()\n", "failed", "AssertionError"),
    "sys.exit(0) before the asserts": (
        "import sys\ndef add(a, b):\n    return 0\nsys.exit(0)\n", "error", "SystemExit: 0"),
    "os._exit(0) before the asserts": (
        "import os\ndef add(a, b):\n    return 0\nos._exit(0)\n", "error", "before its tests"),
    "prints a fake pass marker": (
        "print('passed')\nprint(\"{'verdict': 'passed'}\")\ndef add(a, b):\n    return 0\n",
        "failed", "AssertionError"),
    "tries to fork": ("import os\nos.fork()\ndef add(a, b):\n    return a + b\n", "error",
                      "PermissionError"),
    "tries to delete files": (
        "import shutil\nshutil.rmtree('/tmp/nothing-here')\ndef add(a, b):\n    return a + b\n",
        "error", "PermissionError"),
}  # fmt: skip


@pytest.fixture
def problem_files(jsonl):
    def write(completions: list[str], tests=ADD_TESTS, setup=""):
        refs = jsonl("refs.jsonl", [{"task_id": 1, "text": "Add two numbers.",
                                     "test_setup_code": setup, "test_list": tests}])  # fmt: skip
        preds = jsonl("preds.jsonl", [{"task_id": 1, "completion": c} for c in completions])
        return preds, refs

    return write


def _samples(out) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_each_hand_written_completion_gets_its_verdict(cli, problem_files, tmp_path):
    preds, refs = problem_files([code for code, _, _ in CASES.values()])
    out = tmp_path / "scores"
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution",
                 "--output-dir", out, *LIMITS)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _samples(out)
    assert len(rows) == len(CASES)
    for (name, (_, verdict, error)), row in zip(CASES.items(), rows, strict=True):
        assert row["verdict"] == verdict, (name, row)
        assert error in row["error"], (name, row)
    scores = json.loads((out / "scores.json").read_text())
    passed = sum(v == "passed" for _, v, _ in CASES.values())
    assert scores["metrics"] == {"pass@1": pytest.approx(passed / len(CASES)), "problems": 1.0,
                                 "samples": float(len(CASES))}  # fmt: skip
    assert scores["predictions"]["verdicts"]["passed"] == passed


def test_nothing_runs_without_the_opt_in(cli, problem_files, tmp_path):
    marker = tmp_path / "ran"
    preds, refs = problem_files([f"open({str(marker)!r}, 'w').close()\n"])
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k")
    assert result.exit_code == 2
    assert "--allow-code-execution" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists()
    # model mode stops at the config, before a model is loaded or anything generated
    result = cli("eval", "--model", tmp_path / "no-model", "--data", refs, "--task", "code")
    assert result.exit_code == 2 and "--allow-code-execution" in result.output
    # with the opt-in the same program does run
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution",
                 *LIMITS)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert marker.exists()


def test_program_runs_alone_in_an_empty_private_directory(cli, problem_files, tmp_path):
    probe = (
        "import os, sys\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
        "assert os.environ['HOME'] == os.getcwd() != " + repr(os.getcwd()) + "\n"
        "assert sys.flags.isolated and sys.flags.no_user_site\n"
        "open('scratch.txt', 'w').write('x')\n"
        "def add(a, b):\n    return a + b\n"
    )
    preds, refs = problem_files([probe, probe])  # the second must not see the first's file
    out = tmp_path / "scores"
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution",
                 "--output-dir", out, *LIMITS)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["verdict"] for r in _samples(out)] == ["passed", "passed"], _samples(out)


def test_every_test_must_run_and_setup_code_runs_first(cli, problem_files, tmp_path):
    setup = "OFFSET = 0\n"
    tests = ["assert add(1, 2) == 3 + OFFSET", "assert add(5, 5) == 10"]
    # defines add only after the first test could have run: the harness runs tests after the
    # whole program, so this passes; a program that hides a wrong answer behind an early
    # exit (above) does not
    preds, refs = problem_files(["def add(a, b):\n    return a + b\n", "add = max\n"],
                                tests=tests, setup=setup)  # fmt: skip
    out = tmp_path / "scores"
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution",
                 "--output-dir", out, "--fail-under", "pass@1=0.6", *LIMITS)  # fmt: skip
    assert result.exit_code == 1 and "pass@1 = 0.5000 is below the gate 0.6" in result.output
    assert [r["verdict"] for r in _samples(out)] == ["passed", "failed"]
    assert _samples(out)[1]["error"] == "AssertionError: assert add(1, 2) == 3 + OFFSET"


def test_humaneval_style_references_and_several_samples(cli, jsonl, tmp_path):
    refs = jsonl("he.jsonl", [
        {"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n",
         "entry_point": "add",
         "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"
                 "    assert candidate(0, 0) == 0\n"},
        {"task_id": "HumanEval/1", "prompt": "def neg(a):\n", "entry_point": "neg",
         "test": "def check(candidate):\n    assert candidate(1) == -1\n"},
    ])  # fmt: skip
    preds = jsonl("samples.jsonl", [
        {"task_id": "HumanEval/0", "completions": ["    return a + b\n", "    return a * b\n"]},
        {"task_id": "HumanEval/1", "completion": "    return -a\n"},
        {"task_id": "HumanEval/1", "completion": "    return a\n"},
    ])  # fmt: skip
    out = tmp_path / "s.json"
    result = cli("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution",
                 "--output", out, "--set", "code.k=[1,2,10]")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert scores["metrics"] == {"pass@1": 0.5, "pass@2": 1.0, "problems": 2.0, "samples": 4.0}
    assert scores["predictions"]["reference_style"] == "humaneval"


def test_bad_prediction_files_are_one_line_errors(cli, jsonl, problem_files):
    _, refs = problem_files(["x"])
    unknown = jsonl("unknown.jsonl", [{"task_id": 7, "completion": "pass"}])
    result = cli("eval", "-p", unknown, "-r", refs, "-m", "pass_at_k", "--allow-code-execution")
    assert result.exit_code == 2 and "task_id 7 is not in" in result.output
    nothing = jsonl("nothing.jsonl", [{"task_id": 1, "text": "pass"}])
    result = cli("eval", "-p", nothing, "-r", refs, "-m", "pass_at_k", "--allow-code-execution")
    assert result.exit_code == 2 and "'completion'" in result.output
    texts = jsonl("texts.jsonl", [{"task_id": 1, "text": "no tests here"}])
    result = cli("eval", "-p", unknown, "-r", texts, "-m", "pass_at_k", "--allow-code-execution")
    assert result.exit_code == 2 and "test_list" in result.output


def test_a_predictions_file_missing_problems_is_refused_unless_allowed(cli, jsonl, tmp_path):
    refs = write_problems(tmp_path / "mbpp.jsonl")  # task_ids 1..6
    rows = [json.loads(line) for line in refs.read_text().splitlines()]
    preds = jsonl("preds.jsonl", [{"task_id": r["task_id"], "completion": r["code"]}
                                  for r in rows[:3]])  # fmt: skip
    run = ("eval", "-p", preds, "-r", refs, "-m", "pass_at_k", "--allow-code-execution", *LIMITS)
    # scored as it is, pass@1 would read 1.0 for a file that solves half the benchmark
    result = cli(*run)
    assert result.exit_code == 2
    (error,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "no completion for 3 of the 6 problems" in error and "task_id 4, 5, 6" in error
    assert "code.allow_missing=true" in error

    out = tmp_path / "subset"
    result = cli(*run, "--set", "code.allow_missing=true", "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert "scoring 3 of the 6 problems" in result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["metrics"]["problems"] == 3.0 and scores["metrics"]["pass@1"] == 1.0
    assert scores["predictions"]["problems_selected"] == 6
    assert scores["predictions"]["problems_missing"] == 3

    # code.task_ids selects the problems in file mode too; predictions of others are left out
    out = tmp_path / "selected"
    result = cli(*run, "--set", "code.task_ids=[2,3]", "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert "1 predicted problems are outside code.task_ids [2, 3]" in result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["metrics"]["problems"] == 2.0
    assert scores["predictions"]["problems_selected"] == 2
    assert [r["task_id"] for r in _samples(out)] == [2, 3]
    result = cli(*run, "--set", "code.task_ids=[3,4]")
    assert result.exit_code == 2 and "no completion for 1 of the 2 problems" in result.output
    assert "with task_id in [3, 4] (task_id 4)" in result.output
