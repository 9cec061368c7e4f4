"""An output that cannot be written is refused before any work, through the real CLI: a file
where the output directory (or one of its parents) should be, or a directory the user may not
write. One line names the key and the path, exit 2; no PermissionError traceback after the data
was prepared and the model built."""

import os
from pathlib import Path

import pytest
import yaml
from tasks.finetune_helpers import QUIET_TRAIN, TINY_ENCODER, fixture

CORPUS = "\n".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(200))
TRAIN = {"batch_size": 4, "max_steps": 2, "optimizer": {"lr": 1e-3}, **QUIET_TRAIN}


def _yaml(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _tokenizer(tmp_path, out, corpus, tokenizers):
    body = {"stage": "tokenizer", "data": {"train": str(corpus)}, "output_dir": str(out),
            "tokenizer": {"type": "char"}}  # fmt: skip
    return ["tokenizer", "train", _yaml(tmp_path, body)], "output_dir"


def _preprocess(tmp_path, out, corpus, tokenizers):
    body = {"stage": "preprocess", "data": {"train": str(corpus)}, "pack": False,
            "output_dir": str(out)}  # fmt: skip
    return ["preprocess", _yaml(tmp_path, body)], "output_dir"


def _pretrain(tmp_path, out, corpus, tokenizers):
    # raw data preprocessed first: the refusal must come before that work, so prep/ never appears
    prep = {"data": {"train": str(corpus)}, "tokenizer": str(tokenizers[0]), "block_size": 32,
            "output_dir": str(tmp_path / "prep")}  # fmt: skip
    body = {"stage": "pretrain", "output_dir": str(out), "data": {"preprocess": prep},
            "model": {"family": "gpt2", "n_layers": 2, "hidden_size": 32, "n_heads": 2,
                      "context_length": 32},
            "train": TRAIN}  # fmt: skip
    return ["pretrain", _yaml(tmp_path, body)], "output_dir"


def _finetune(tmp_path, out, corpus, tokenizers):
    body = {"stage": "finetune", "output_dir": str(out), "tokenizer": str(tokenizers[1]),
            "model": TINY_ENCODER, "task": {"type": "classification"},
            "data": {"train": fixture("sentiment_train.jsonl")}, "train": TRAIN}  # fmt: skip
    return ["finetune", _yaml(tmp_path, body)], "output_dir"


def _eval(tmp_path, out, corpus, tokenizers):
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("the cat sat on the mat\n", encoding="utf-8")
    ref.write_text("the cat sat on a mat\n", encoding="utf-8")
    args = ["eval", "-p", hyp, "-r", ref, "--metric", "bleu", "--output", out / "scores.json"]
    return args, "output"


COMMANDS = [_tokenizer, _preprocess, _pretrain, _finetune, _eval]


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tokenizers(causal_tokenizer_dir, masked_tokenizer_dir):
    return causal_tokenizer_dir, masked_tokenizer_dir


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__.strip("_"))
def test_a_file_in_the_way_of_the_output_is_refused_before_any_work(
    cli, tmp_path, corpus, tokenizers, command, one_thread
):
    blocker = tmp_path / "results"
    blocker.write_text("a user's file, not a directory\n", encoding="utf-8")
    args, key = command(tmp_path, blocker / "run", corpus, tokenizers)
    line = _one_error_line(cli(*args))
    assert line.startswith(f"error: {key}: cannot create {blocker / 'run'}"), line
    assert f"{blocker} is a file, not a directory" in line
    assert blocker.read_text(encoding="utf-8") == "a user's file, not a directory\n"
    assert not (tmp_path / "prep").exists()  # pretrain: no data was prepared


@pytest.mark.parametrize("command", COMMANDS[:4], ids=lambda c: c.__name__.strip("_"))
def test_an_output_dir_that_is_a_file_is_refused(cli, tmp_path, corpus, tokenizers, command):
    out = tmp_path / "run"
    out.write_text("not a directory\n", encoding="utf-8")
    args, key = command(tmp_path, out, corpus, tokenizers)
    line = _one_error_line(cli(*args))
    assert f"{key}: {out} is a file" in line, line


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch):
    """A directory its user may not write. Root ignores mode bits, so under root (as in some
    CI containers) os.access is made to answer as it does for anyone else; the kernel's answer
    for a read-only mount is the same denial."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o555)
    if os.geteuid() == 0:
        real_access = os.access

        def access(path, mode, **kwargs):
            denied = mode & os.W_OK and Path(path).resolve() == directory.resolve()
            return False if denied else real_access(path, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)
    yield directory
    directory.chmod(0o755)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__.strip("_"))
def test_a_directory_without_write_permission_is_refused_before_any_work(
    cli, tmp_path, corpus, tokenizers, command, read_only_dir, one_thread
):
    args, key = command(tmp_path, read_only_dir / "run", corpus, tokenizers)
    line = _one_error_line(cli(*args))
    assert line.startswith(f"error: {key}: cannot write to {read_only_dir / 'run'}"), line
    assert "permission denied" in line and "fix the directory's permissions" in line
    assert not (tmp_path / "prep").exists()
    assert list(read_only_dir.iterdir()) == []
