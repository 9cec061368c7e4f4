"""A JSON Lines file that cannot be read is one line naming the file, the real 1-based line
number and the cause, through the real CLI, not pyarrow's "row 5 … Invalid encoding in string"
(counted from 0) after a log line of its own, nor a bare StopIteration for an empty file."""

import json
import os
import subprocess
import sys

import pytest

ROWS = [json.dumps({"text": f"row {i} of the corpus"}) for i in range(10)]


def _tokenizer_config(tmp_path, data_file) -> str:
    cfg = tmp_path / "tok.yaml"
    cfg.write_text(
        f"stage: tokenizer\ndata:\n  train: {data_file}\noutput_dir: {tmp_path / 'tok'}\n"
        "tokenizer:\n  type: char\n",
        encoding="utf-8",
    )
    return str(cfg)


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_truncated_line_is_named_by_its_line_number_without_a_stray_log_line(tmp_path):
    lines = list(ROWS)
    lines[5] = lines[5][:12]  # line 6 cut short, as by a killed writer
    data = tmp_path / "corpus.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf_cache")}
    run = subprocess.run(
        [sys.executable, "-m", "llmkit", "tokenizer", "train", _tokenizer_config(tmp_path, data)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "Failed to load JSON" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {data}: line 6: not valid JSON (Unterminated string"), line
    assert "row 5" not in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"\n  \n", "the file is empty"),
        ("\n".join(ROWS[:3] + ["[1, 2]"]).encode(), "line 4: a row must be a JSON object"),
        ("\n".join(ROWS[:1] + ["", '{"text": "a",}']).encode(), "line 3: not valid JSON"),
    ],
)
def test_bad_json_lines_name_the_file_the_line_and_the_cause(cli, tmp_path, content, expected):
    data = tmp_path / "corpus.jsonl"
    data.write_bytes(content)
    line = _error_line(cli("tokenizer", "train", _tokenizer_config(tmp_path, data)))
    assert line.startswith(f"error: {data}: {expected}"), line


def test_a_json_array_file_names_the_line_of_its_syntax_error(cli, tmp_path):
    data = tmp_path / "corpus.json"
    data.write_text('[\n{"text": "a"},\n{"text": "b"}\n{"text": "c"}\n]\n', encoding="utf-8")
    line = _error_line(cli("tokenizer", "train", _tokenizer_config(tmp_path, data)))
    assert line.startswith(f"error: {data}: line 4: not valid JSON (Expecting ','"), line


def test_json_lines_under_a_json_name_are_checked_line_by_line(cli, tmp_path):
    data = tmp_path / "corpus.json"
    data.write_text("\n".join(ROWS[:2] + ['{"text": 3'] + ROWS[3:]) + "\n", encoding="utf-8")
    line = _error_line(cli("tokenizer", "train", _tokenizer_config(tmp_path, data)))
    assert line.startswith(f"error: {data}: line 3: not valid JSON (Expecting ','"), line
