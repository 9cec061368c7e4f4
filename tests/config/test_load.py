"""Config loading through the real CLI: every mistake a user can make in a YAML file or a --set
override stops the command before any work, with exit code 2 and one line naming the key and file."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmkit.config.load import parse_override
from llmkit.errors import ConfigError

GOOD = "stage: tokenizer\ndata:\n  train: corpus.txt\ntokenizer:\n  type: char\n"


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "  vocab_sise: 300\n",
            ["cfg.yaml", "unknown key 'tokenizer.vocab_sise'", "did you mean 'vocab_size'?"],
        ),
        (GOOD + "output_dri: runs/x\n", ["unknown key 'output_dri'", "did you mean 'output_dir'?"]),
        (GOOD + "  zzz: 1\n", ["unknown key 'tokenizer.zzz'", "allowed keys: type, family"]),
        (
            GOOD + "  vocab_size: lots\n",
            ["cfg.yaml", "tokenizer.vocab_size", "valid integer", "'lots'"],
        ),
        (GOOD + "  vocab_size: 0\n", ["tokenizer.vocab_size", "greater than or equal to 1"]),
        (
            GOOD.replace("type: char", "type: sentencepiece"),
            ["tokenizer.type", "'bpe'", "'unigram'", "'sentencepiece'"],
        ),
        ("stage: tokenizer\ntokenizer:\n  type: char\n", ["cfg.yaml", "data: required key"]),
        ("stage: tokenizer\ndata: {}\n", ["data.train is required"]),
        (
            "stage: tokenizer\ndata:\n  train: [a, b\nbatch_size: 3\n",
            ["cfg.yaml:4", "not valid YAML"],
        ),
        ("- just\n- a list\n", ["top level must be a mapping"]),
        (
            "stage: finetune\ntokenizer: tok\ndata: {train: t.jsonl}\n"
            "split: {validation_ratio: 0}\ntrain: {checkpoint: {keep_best: true}}\n",
            ["train.checkpoint.keep_best", "give data.validation"],
        ),
    ],
)
def test_config_mistakes_exit_2_with_one_line_naming_key_and_file(cli, tmp_path, text, expected):
    line = _one_error_line(cli("config", "validate", _write(tmp_path, text)))
    for fragment in expected:
        assert fragment in line


def test_stage_command_rejects_a_bad_config_before_doing_any_work(cli, tmp_path):
    cfg = _write(tmp_path, GOOD + "  vocab_size: -5\n" + f"output_dir: {tmp_path / 'out'}\n")
    line = _one_error_line(cli("tokenizer", "train", cfg))
    assert "tokenizer.vocab_size" in line
    assert not (tmp_path / "out").exists()


def test_missing_config_file_is_named(cli, tmp_path):
    line = _one_error_line(cli("tokenizer", "train", tmp_path / "nope.yaml"))
    assert "config file not found" in line and "nope.yaml" in line


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.train.path=x.txt", "data.train is a value, not a section"),
        ("tokenizer.vocab_size", "expected key.path=value"),
        ("tokenizer.vocab_size=many", "--set: tokenizer.vocab_size: Input should be a valid"),
        ("tokenizer.vocab_sise=300", "--set: unknown key 'tokenizer.vocab_sise'; did you mean"),
    ],
)
def test_bad_overrides_exit_2_with_one_line(cli, tmp_path, override, expected):
    line = _one_error_line(cli("config", "show", _write(tmp_path, GOOD), "--set", override))
    assert expected in line


def test_overrides_are_typed_as_yaml(cli, tmp_path):
    result = cli(
        "config",
        "show",
        _write(tmp_path, GOOD),
        "--set",
        "tokenizer.vocab_size=300",
        "--set",
        "tokenizer.lowercase=true",
        "--set",
        "data.train=[a.txt, b.txt]",
        "--set",
        "tokenizer.special_tokens.additional=[<a>, <b>]",
        "--set",
        "tokenizer.special_tokens.bos=null",
        "--set",
        "batch_size=64",
        "--set",
        "batch_size=128",  # the last override of a key wins
    )
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["tokenizer"]["vocab_size"] == 300
    assert shown["tokenizer"]["lowercase"] is True
    assert shown["data"]["train"] == ["a.txt", "b.txt"]
    assert shown["tokenizer"]["special_tokens"]["additional"] == ["<a>", "<b>"]
    assert shown["tokenizer"]["special_tokens"]["bos"] is None
    assert shown["batch_size"] == 128


@pytest.mark.parametrize(
    ("text", "value"),
    [("train.lr=3e-4", 3e-4), ("a.b=1e5", 1e5), ("n=12", 12), ("flag=false", False), ("x=", None)],
)
def test_override_values_read_numbers_as_numbers(text, value):
    path, parsed = parse_override(text)
    assert parsed == value and type(parsed) is type(value)
    assert path == text.partition("=")[0].split(".")


def test_debug_shows_the_traceback_in_process(cli, tmp_path):
    with pytest.raises(ConfigError, match="did you mean"):
        cli("--debug", "config", "validate", _write(tmp_path, GOOD + "  vocab_sise: 1\n"))


def test_debug_after_the_command_shows_the_traceback(tmp_path):
    cfg = _write(tmp_path, GOOD + "  vocab_sise: 1\n")
    run = [sys.executable, "-m", "llmkit", "config", "validate", str(cfg)]
    plain = subprocess.run(run, capture_output=True, text=True, timeout=60)
    debug = subprocess.run([*run, "--debug"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    assert "ConfigError" in debug.stderr and "vocab_sise" in debug.stderr


def test_a_task_union_key_error_names_the_key_the_user_wrote(cli, tmp_path):
    """A discriminated union (finetune `task:`) must not leak its internal tag into the path."""
    text = "stage: finetune\ntask:\n  type: seq2seq\n  source_prefx: 'x'\ndata:\n  train: t.jsonl\n"
    line = _one_error_line(cli("config", "validate", _write(tmp_path, text)))
    assert "unknown key 'task.source_prefx'" in line
    assert "did you mean 'source_prefix'?" in line


def test_a_bad_section_given_by_set_names_set_not_the_file(cli, tmp_path):
    cfg = _write(tmp_path, GOOD)
    line = _one_error_line(cli("config", "validate", cfg, "--set", "tokenizr.type=char"))
    assert line.startswith("error: --set: unknown key 'tokenizr'")
    assert "did you mean 'tokenizer'?" in line


def test_a_config_that_is_not_utf8_names_the_file_and_the_byte(cli, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(GOOD.encode("utf-16"))  # b"\xff\xfe" + "s\x00t\x00…", as Notepad saves it
    for command in (("tokenizer", "train", cfg), ("config", "validate", cfg)):
        line = _one_error_line(cli(*command))
        assert "cfg.yaml: not UTF-8" in line and "byte 0xff at offset 0" in line, line
        assert "UTF-16" in line and "save the config as UTF-8" in line


def test_a_latin1_byte_in_a_config_names_its_line(cli, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(GOOD.encode() + "# café\n".encode("latin-1"))
    line = _one_error_line(cli("config", "show", cfg))
    assert "byte 0xe9" in line and f"offset {len(GOOD) + 5}" in line and "line 6" in line
