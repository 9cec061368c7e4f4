"""Bad input: one line naming the problem, exit 2 (1 for a failed verification), and nothing
half-written next to the output."""

import shutil
from pathlib import Path

import pytest


def _nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_directory_that_is_not_a_model_or_run(cli, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("hi")
    out = tmp_path / "out"
    result = cli("export", tmp_path / "notes", "--format", "hf", "--output", out)
    assert result.exit_code == 2
    assert "is not a model or run directory" in _one_error_line(result)
    _nothing_written(out)


def test_gguf_for_bert_is_refused(cli, bert_classifier_dir, tmp_path):
    out = tmp_path / "out"
    result = cli("export", bert_classifier_dir, "--format", "gguf", "--output", out)
    assert result.exit_code == 2
    assert "gguf takes LLaMA- and GPT-2-family causal LMs" in _one_error_line(result)
    _nothing_written(out)


def test_an_output_holding_other_files_is_refused_even_with_force(cli, gpt2_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for flags in ([], ["--force"]):
        result = cli("export", gpt2_dir, "--format", "hf", "--output", out, *flags)
        assert result.exit_code == 2
        assert "nothing was written" in _one_error_line(result)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_an_earlier_export_is_replaced_only_with_force(cli, gpt2_dir, tmp_path):
    out = tmp_path / "out"
    assert cli("export", gpt2_dir, "--format", "hf", "--output", out).exit_code == 0
    result = cli("export", gpt2_dir, "--format", "onnx", "--output", out)
    assert result.exit_code == 2
    assert "holds an earlier `llmkit export` output" in _one_error_line(result)
    assert (out / "model.safetensors").is_file()
    assert cli("export", gpt2_dir, "--format", "hf", "--output", out, "--force",
               "--dtype", "fp16").exit_code == 0  # fmt: skip
    assert "dtype: fp16" in (out / "llmkit_config.yaml").read_text()


def test_unwritable_output_is_refused_before_any_work(cli, gpt2_dir, tmp_path, monkeypatch):
    import os

    # the suite may run as root, for whom mode bits do not apply: os.access answers as it does
    # for anyone else (tests/test_writable.py does the same)
    denied = tmp_path / "read-only"
    denied.mkdir()
    denied.chmod(0o555)
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, m, **kw: (
            False if m & os.W_OK and Path(p).resolve() == denied.resolve() else real_access(p, m)
        ),
    )
    result = cli("export", gpt2_dir, "--format", "hf", "--output", denied / "out")
    assert result.exit_code == 2
    assert "cannot write to" in _one_error_line(result)
    assert list(denied.iterdir()) == []
    denied.chmod(0o755)


def test_pickled_weights_are_refused(cli, gpt2_dir, tmp_path):
    source = tmp_path / "pickled"
    shutil.copytree(gpt2_dir, source)
    (source / "model.safetensors").rename(source / "pytorch_model.bin")
    out = tmp_path / "out"
    result = cli("export", source, "--format", "hf", "--output", out)
    assert result.exit_code == 2
    assert "pickled weights" in _one_error_line(result)
    _nothing_written(out)


@pytest.mark.parametrize("flags", [["--adapter-only"], ["--set", "format=tflite"]])
def test_options_the_source_cannot_take(cli, bert_classifier_dir, tmp_path, flags):
    out = tmp_path / "out"
    result = cli("export", bert_classifier_dir, "--output", out, *flags)
    assert result.exit_code == 2
    _one_error_line(result)
    _nothing_written(out)


def test_onnx_above_tolerance_fails_with_exit_1_and_removes_the_export(
    cli, bert_classifier_dir, tmp_path
):
    out = tmp_path / "out"
    result = cli("export", bert_classifier_dir, "--format", "onnx", "--output", out,
                 "--set", "onnx.tolerance=1e-30")  # fmt: skip
    assert result.exit_code == 1
    assert "the export was removed" in _one_error_line(result)
    _nothing_written(out)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--format", "onnx", "--dtype", "fp16"], "dtype: fp16"),
        (["--format", "gguf", "--dtype", "bf16"], "dtype: bf16"),
        (["--format", "hf", "--quantize", "int8"], "onnx.quantize: int8"),
        (["--format", "gguf", "--quantize", "int8"], "onnx.quantize: int8"),
    ],
)
def test_an_option_of_another_format_is_refused(cli, gpt2_dir, tmp_path, flags, named):
    """--dtype is hf's and --quantize onnx's: given with another format they were ignored, and
    the user got fp32 weights (or no int8 model) without a word."""
    out = tmp_path / "out"
    result = cli("export", gpt2_dir, "--output", out, *flags)
    assert result.exit_code == 2
    assert named in _one_error_line(result)
    _nothing_written(out)
