"""`llmkit preprocess` through the real CLI: output format, caching, --force, atomic output,
and one clear error (exit code 2) for each kind of bad input."""

import json
import re

import pytest
import yaml
from datasets import load_from_disk

from llmkit.config.data import CleaningConfig, DataConfig, SplitConfig
from llmkit.data.preprocess import load_clean_splits


@pytest.fixture
def corpus_file(tmp_path, corpus_lines):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus_lines[:800]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path, corpus_file, causal_tokenizer_dir):
    def _make(**overrides):
        cfg = {
            "stage": "preprocess",
            "data": {"train": str(corpus_file)},
            "tokenizer": str(causal_tokenizer_dir),
            "block_size": 32,
            "output_dir": str(tmp_path / "out"),
        }
        for key, value in overrides.items():
            node = cfg
            *parents, leaf = key.split("__")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        path = tmp_path / "pre.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        return path

    return _make


def test_preprocess_writes_blocks_manifest_tokenizer_and_config(cli, make_config, tmp_path):
    from transformers import AutoTokenizer

    result = cli("preprocess", make_config(split__validation_ratio=0.1))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    dd = load_from_disk(str(out))
    assert set(dd) == {"train", "validation"}
    manifest = json.loads((out / "manifest.json").read_text())
    for name, ds in dd.items():
        assert ds.column_names == ["input_ids"]
        assert {len(r) for r in ds["input_ids"]} == {32}
        assert manifest["splits"][name]["rows"] == len(ds)
        assert manifest["splits"][name]["tokens"] == 32 * len(ds)
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert manifest["tokenizer"]["vocab_size"] == len(tokenizer)
    assert manifest["block_size"] == 32 and manifest["config_hash"]
    assert manifest["dropped"]["train"]["duplicate"] > 0  # the play repeats short lines
    assert yaml.safe_load((out / "llmkit_config.yaml").read_text())["block_size"] == 32
    assert tokenizer.eos_token_id in dd["train"][0]["input_ids"]


def test_same_inputs_reuse_the_output_and_changes_rebuild_only_with_force(
    cli, make_config, corpus_file
):
    config = make_config()
    assert cli("preprocess", config).exit_code == 0
    out = corpus_file.parent / "out"
    manifest = (out / "manifest.json").read_text()

    result = cli("preprocess", config, "--set", "num_proc=1")
    assert result.exit_code == 0 and "up to date" in result.output
    assert (out / "manifest.json").read_text() == manifest, "same inputs must reuse the output"

    result = cli("preprocess", config, "--set", "block_size=16")
    assert result.exit_code == 2
    assert "other settings (the config changed)" in result.output and "--force" in result.output
    assert (out / "manifest.json").read_text() == manifest, "no silent rebuild"
    assert cli("preprocess", config, "--set", "block_size=16", "--force").exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["block_size"] == 16

    with corpus_file.open("a", encoding="utf-8") as f:
        f.write("A brand new line of text for the corpus.\n")
    result = cli("preprocess", config, "--set", "block_size=16")
    assert result.exit_code == 2 and "(the input files changed)" in result.output
    assert cli("preprocess", config, "--set", "block_size=16", "--force").exit_code == 0
    assert cli("preprocess", config, "--set", "block_size=16").exit_code == 0  # up to date


def _finished_training_run(run):
    (run / "checkpoints" / "step-2").mkdir(parents=True)
    (run / "checkpoints" / "step-2" / "state.json").write_text("{}")
    (run / "model.safetensors").write_bytes(b"weights")
    (run / "config.json").write_text("{}")
    (run / "llmkit_config.yaml").write_text("stage: pretrain\n")


def _users_own_files(run):
    run.mkdir()
    (run / "notes.txt").write_text("my notes")


@pytest.mark.parametrize("holder", [_finished_training_run, _users_own_files])
@pytest.mark.parametrize("force", [False, True])
def test_a_directory_holding_anything_else_is_refused_and_kept(
    holder, force, cli, make_config, tmp_path
):
    target = tmp_path / "precious"
    holder(target)
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    args = ["--force"] if force else []
    result = cli("preprocess", make_config(), "--set", f"output_dir={target}", *args)
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert f"output_dir: {target} is not empty" in line and "nothing was written" in line
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_interrupted_run_leaves_no_finished_looking_output(cli, make_config, monkeypatch):
    from llmkit.data.shards import ShardedWriter

    config = make_config()
    real_close = ShardedWriter.close

    def close_then_fail(writer):
        real_close(writer)
        raise OSError(28, "No space left on device")  # fails in the middle of writing splits

    monkeypatch.setattr(ShardedWriter, "close", close_then_fail)
    out = config.parent / "out"
    with pytest.raises(OSError):
        cli("preprocess", config)
    assert not out.exists()
    assert not list(config.parent.glob(".out.*")), "temporary directories are removed"

    monkeypatch.setattr(ShardedWriter, "close", real_close)
    assert cli("preprocess", config).exit_code == 0
    before = (out / "manifest.json").read_text()
    monkeypatch.setattr(ShardedWriter, "close", close_then_fail)
    with pytest.raises(OSError):
        cli("preprocess", config, "--force")
    assert (out / "manifest.json").read_text() == before, "the finished output is kept"


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "data.train: file not found: .*nope.txt"),
        ("missing_column", "no column 'text'; columns are: sentence, label"),
        ("block_too_large", "block_size: 4096 is larger than .*model_max_length"),
        ("all_filtered", "all 800 rows were removed .*'too_short'"),
        ("undecodable", r"bad.txt: line 2: bytes are not valid UTF-8"),
        ("no_tokenizer", "tokenizer: required with pack: true"),
        ("too_few_tokens", "split 'validation': .* fewer than one block"),
    ],
)
def test_bad_input_is_one_clear_error_with_exit_code_2(
    case, message, cli, make_config, tmp_path, causal_tokenizer_dir
):
    from transformers import AutoTokenizer

    args = {
        "missing_file": {"data__train": str(tmp_path / "nope.txt")},
        "missing_column": {
            "data__train": str(_jsonl(tmp_path / "d.jsonl", [{"sentence": "hi", "label": 1}]))
        },
        "all_filtered": {"cleaning__min_chars": 10_000},
        "no_tokenizer": {"tokenizer": None},
        "too_few_tokens": {"block_size": 1000, "split__validation_ratio": 0.001},
    }.get(case, {})
    if case == "block_too_large":
        limited = tmp_path / "limited_tok"
        AutoTokenizer.from_pretrained(causal_tokenizer_dir, model_max_length=1024).save_pretrained(
            limited
        )
        args = {"tokenizer": str(limited), "block_size": 4096}
    if case == "undecodable":
        (tmp_path / "bad.txt").write_bytes(b"fine line\n\xff\xfe not utf-8\n")
        args = {"data__train": str(tmp_path / "bad.txt")}
    result = cli("preprocess", make_config(**args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "out").exists()


def test_pack_false_writes_cleaned_raw_columns(cli, make_config, tmp_path):
    rows = [{"sentence": f"sentence number {i % 40}", "label": i % 2} for i in range(80)]
    data = _jsonl(tmp_path / "cls.jsonl", rows)
    config = make_config(
        data__train=str(data), data__columns={"text": "sentence"}, pack=False, tokenizer=None
    )
    assert cli("preprocess", config).exit_code == 0, "pack: false needs no tokenizer"
    dd = load_from_disk(str(tmp_path / "out"))
    assert set(dd["train"].column_names) == {"sentence", "label"}
    assert len(dd["train"]) + len(dd["validation"]) == 40  # 40 duplicates dropped
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dropped"]["train"] == {"duplicate": 40}


def test_load_clean_splits_reads_nested_columns_for_finetuning(tmp_path):
    rows = [{"translation": {"en": f"cat {i}", "ro": f"pisica {i}"}} for i in range(30)]
    rows.append({"translation": {"en": "", "ro": "gol"}})
    data = DataConfig(
        train=str(_jsonl(tmp_path / "train.jsonl", rows)),
        validation=str(_jsonl(tmp_path / "val.jsonl", rows[:3])),
    )
    dd = load_clean_splits(
        data, CleaningConfig(), SplitConfig(), ["translation.en", "translation.ro"]
    )
    assert set(dd) == {"train", "validation"}
    assert len(dd["train"]) == 30 and len(dd["validation"]) == 3
    assert dd["validation"][0] == {"translation.en": "cat 0", "translation.ro": "pisica 0"}


def test_block_size_below_two_is_rejected_before_any_work(cli, make_config, tmp_path):
    result = cli("preprocess", make_config(), "--set", "block_size=1")
    assert result.exit_code == 2
    assert "block_size" in result.output and "greater than or equal to 2" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("group_split", {"column": "title", "validation": ["B"]}),
        ("id_split", {"column": "n", "train": [0, 29], "validation": [30, 39]}),
    ],
)
def test_a_split_by_column_with_packing_is_refused(cli, make_config, tmp_path, key, value):
    """Packing streams the text column alone: data.group_split / id_split were ignored and the
    blocks were split by split.validation_ratio, validation holding other documents."""
    rows = [{"n": i, "title": "AB"[i // 30], "text": f"document {i} " * 20} for i in range(40)]
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = cli("preprocess", make_config(data__train=str(data), **{f"data__{key}": value}))
    assert result.exit_code == 2, result.output
    assert f"data.{key} splits by a column, which pack: true does not keep" in result.output
    assert not (tmp_path / "out").exists()
