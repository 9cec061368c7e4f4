"""The streaming preprocess: a corpus given as many files (a directory of shards, .gz) packs to
the same ids as the same text in one file; output written as several Arrow shards that
`load_from_disk` reads as one; a run killed with kill -9 leaves nothing pretraining would read,
and the rerun ends with the dataset an uninterrupted run writes."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from datasets import load_from_disk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preprocess"
CORPUS = Path(__file__).resolve().parents[2] / "llmkit" / "corpus" / "tinyshakespeare.txt"


def _config(tmp_path: Path, train, out: str, **extra) -> Path:
    cfg = {
        "stage": "preprocess",
        "data": {"train": train},
        "cleaning": {"deduplicate": False},
        "split": {"validation_ratio": 0.1},
        "tokenizer": str(FIXTURES / "tokenizers" / "bpe"),
        "block_size": 32,
        "output_dir": str(tmp_path / out),
        **extra,
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _ids(out: Path) -> dict[str, np.ndarray]:
    dd = load_from_disk(str(out))
    return {name: np.asarray(ds.with_format("numpy")["input_ids"]) for name, ds in dd.items()}


def _assert_same_dataset(a: Path, b: Path) -> None:
    ids_a, ids_b = _ids(a), _ids(b)
    assert list(ids_a) == list(ids_b)
    for name in ids_a:
        assert np.array_equal(ids_a[name], ids_b[name]), name
    manifest_a = json.loads((a / "manifest.json").read_text())
    manifest_b = json.loads((b / "manifest.json").read_text())
    assert manifest_a["splits"] == manifest_b["splits"]
    assert manifest_a["dropped"] == manifest_b["dropped"]


def test_directory_of_plain_and_gzip_shards_gives_the_ids_of_one_file(cli, tmp_path):
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:3000]
    whole = tmp_path / "whole.txt"
    whole.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, start in enumerate(range(0, len(lines), 700)):
        text = ("\n".join(lines[start : start + 700]) + "\n").encode("utf-8")
        if i % 2:
            (shards / f"part-{i:02d}.txt.gz").write_bytes(gzip.compress(text))
        else:
            (shards / f"part-{i:02d}.txt").write_bytes(text)
    for out, train in (("one", str(whole)), ("many", str(shards))):
        result = cli("preprocess", _config(tmp_path, train, out))
        assert result.exit_code == 0, result.output
    _assert_same_dataset(tmp_path / "one", tmp_path / "many")


def test_gzip_jsonl_gives_the_ids_of_the_same_text_file(cli, tmp_path):
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:1500]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = "".join(json.dumps({"text": line}) + "\n" for line in lines)
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(rows.encode("utf-8")))
    for out, train in (("txt", "c.txt"), ("jsonl", "c.jsonl.gz")):
        result = cli("preprocess", _config(tmp_path, str(tmp_path / train), out))
        assert result.exit_code == 0, result.output
    _assert_same_dataset(tmp_path / "txt", tmp_path / "jsonl")


def test_packed_blocks_are_written_as_several_shards_read_as_one(cli, tmp_path):
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:3000]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("preprocess", _config(tmp_path, str(tmp_path / "c.txt"), "one"))
    assert result.exit_code == 0, result.output
    sharded = _config(tmp_path, str(tmp_path / "c.txt"), "sharded", shard_mb=0.002)
    result = cli("preprocess", sharded)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "sharded" / "train").glob("*.arrow"))
    assert len(files) > 3 and files[0] == f"data-00000-of-{len(files):05d}.arrow"
    _assert_same_dataset(tmp_path / "one", tmp_path / "sharded")


def test_kill_9_after_the_first_shard_then_rerun_gives_the_uninterrupted_dataset(cli, tmp_path):
    """The rerun starts clean (the killed run's temporary directory is removed): the dataset at
    output_dir is only ever a finished one."""
    corpus = tmp_path / "big.txt"
    corpus.write_bytes(CORPUS.read_bytes())
    extra = {"shard_mb": 0.05, "tokenizer": str(FIXTURES / "tokenizers" / "char")}
    killed_cfg = _config(tmp_path, str(corpus), "out", **extra)
    command = [sys.executable, "-m", "llmkit", "preprocess", str(killed_cfg)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second_shard = f".out.tmp-{proc.pid}/train/shard-00001.arrow.partial"
    while proc.poll() is None and not (tmp_path / second_shard).exists():
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "out").exists(), "no dataset at output_dir after kill -9"
    assert list(tmp_path.glob(".out.tmp-*")), "the killed run left its temporary directory"

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(tmp_path.glob(".out.tmp-*"))
    uninterrupted = _config(tmp_path, str(corpus), "clean", **extra)
    assert cli("preprocess", uninterrupted).exit_code == 0
    assert len(list((tmp_path / "out" / "train").glob("data-*.arrow"))) > 2
    _assert_same_dataset(tmp_path / "out", tmp_path / "clean")
