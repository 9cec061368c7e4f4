"""Tokenizer training (`llmkit tokenizer train`): every type round-trips text, loads through
AutoTokenizer with its family's special tokens, and user mistakes end in one clear message."""

import json
import types
from pathlib import Path

import pytest
import yaml
from transformers import AutoTokenizer

from llmkit.config.load import load_config
from llmkit.config.tokenizer import TokenizerTrainConfig
from llmkit.errors import ConfigError, DataError
from llmkit.tokenizer import train_tokenizer

TRICKY = "First Citizen:\nBefore we  proceed,\tany further — hear me speak. Ünïcödé 🙂\n"


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, corpus_lines) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(corpus_lines[:1200]) + "\n", encoding="utf-8")
    return path


def _config(corpus: Path, out: Path, *sets: str) -> TokenizerTrainConfig:
    return load_config(
        TokenizerTrainConfig, None, [f"data.train={corpus}", f"output_dir={out}", *sets]
    )


def _train(corpus: Path, out: Path, *sets: str):
    train_tokenizer(_config(corpus, out, *sets))
    return AutoTokenizer.from_pretrained(out)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus_file):
    """One tokenizer of each type, trained once: type → (output dir, AutoTokenizer)."""
    setups = {
        "bpe": ["tokenizer.type=bpe", "tokenizer.vocab_size=400"],
        "char": ["tokenizer.type=char", "tokenizer.vocab_size=200"],
        "wordpiece": ["tokenizer.type=wordpiece", "tokenizer.family=masked"],
        "unigram": ["tokenizer.type=unigram", "tokenizer.family=seq2seq"],
    }
    result = {}
    for kind, sets in setups.items():
        out = tmp_path_factory.mktemp("tok") / kind
        small = [] if kind in ("bpe", "char") else ["tokenizer.vocab_size=500"]
        result[kind] = (out, _train(corpus_file, out, *sets, *small))
    return result


def _no_space(text: str) -> str:
    return "".join(text.split())


def test_byte_level_bpe_decodes_any_text_back_exactly(trained):
    tok = trained["bpe"][1]
    ids = tok(TRICKY)["input_ids"]
    assert tok.decode(ids) == TRICKY
    assert tok.unk_token is None  # every byte is in the vocabulary: nothing is ever unknown
    assert len(tok) == 400


def test_char_tokenizer_has_one_token_per_character_and_round_trips(trained, corpus_lines):
    tok = trained["char"][1]
    text = "Before we proceed any further,\n  hear me speak.\n\n"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    seen = set("".join(corpus_lines[:1200])) | {"\n"}
    assert set(tok.get_vocab()) == seen | {"<|endoftext|>", "<pad>", "<unk>"}


def test_char_tokenizer_maps_unseen_characters_to_unk(trained):
    tok = trained["char"][1]
    ids = tok("a🙂b")["input_ids"]
    assert ids[1] == tok.unk_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "ab"


def test_wordpiece_round_trips_modulo_whitespace(trained, corpus_lines):
    tok = trained["wordpiece"][1]
    text = corpus_lines[5]
    decoded = tok.decode(tok(text)["input_ids"], skip_special_tokens=True)
    assert _no_space(decoded) == _no_space(text)


def test_unigram_round_trips_modulo_whitespace(trained, corpus_lines):
    tok = trained["unigram"][1]
    text = corpus_lines[5] + "\n" + corpus_lines[6]
    decoded = tok.decode(tok(text)["input_ids"], skip_special_tokens=True)
    assert decoded == text.replace("\n", " ")
    assert tok.convert_ids_to_tokens(tok("we proceed")["input_ids"])[0].startswith("▁")


def test_causal_family_uses_endoftext_for_bos_and_eos_and_adds_nothing(trained):
    tok = trained["bpe"][1]
    assert tok.bos_token == tok.eos_token == "<|endoftext|>"
    assert tok.pad_token == "<pad>"
    assert tok.mask_token is None and tok.cls_token is None
    ids = tok("hello")["input_ids"]
    assert tok.eos_token_id not in ids and tok.decode(ids) == "hello"
    assert tok.model_max_length == 1024


def test_masked_family_has_bert_specials_and_wraps_cls_sep(trained):
    tok = trained["wordpiece"][1]
    assert (tok.pad_token, tok.unk_token, tok.cls_token, tok.sep_token, tok.mask_token) == (
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    )
    assert tok.pad_token_id == 0
    pair = tok("to be", "or not")
    tokens = tok.convert_ids_to_tokens(pair["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and tokens[-1] == "[SEP]"
    assert pair["token_type_ids"][-1] == 1 and pair["token_type_ids"][0] == 0


def test_seq2seq_family_appends_eos_with_pad_id_zero(trained):
    tok = trained["unigram"][1]
    assert (tok.pad_token, tok.eos_token, tok.unk_token) == ("<pad>", "</s>", "<unk>")
    assert tok.pad_token_id == 0 and tok.bos_token is None
    ids = tok("to be or not")["input_ids"]
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1


def test_output_directory_holds_tokenizer_files_and_a_reloadable_config(trained):
    out = trained["char"][0]
    names = {p.name for p in out.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    assert "llmkit_config.yaml" in names
    saved = load_config(TokenizerTrainConfig, out / "llmkit_config.yaml")
    assert saved.tokenizer.type == "char" and saved.tokenizer.special_tokens.unk == "<unk>"
    specials = json.loads((out / "special_tokens_map.json").read_text())
    assert specials["eos_token"] == "<|endoftext|>"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_special_tokens_can_be_overridden_dropped_and_added(tmp_path, corpus_file):
    tok = _train(
        corpus_file,
        tmp_path / "tok",
        "tokenizer.type=char",
        "tokenizer.special_tokens.bos=null",
        "tokenizer.special_tokens.eos=</doc>",
        "tokenizer.special_tokens.additional=[<|user|>, <|assistant|>]",
    )
    assert tok.bos_token is None and tok.eos_token == "</doc>"
    ids = tok("<|user|>hi</doc>")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<|user|>", "h", "i", "</doc>"]
    assert tok.decode(ids, skip_special_tokens=True) == "hi"


def test_normalisation_and_lowercase_apply_before_tokenizing(tmp_path, corpus_file):
    tok = _train(
        corpus_file,
        tmp_path / "tok",
        "tokenizer.type=char",
        "tokenizer.normalization=NFKC",
        "tokenizer.lowercase=true",
    )
    assert tok.decode(tok("ﬁRST Citizen")["input_ids"]) == "first citizen"
    assert not any(c.isupper() for c in tok.get_vocab() if len(c) == 1)


def test_text_column_of_a_jsonl_corpus_is_read(tmp_path, corpus_lines):
    corpus = tmp_path / "docs.jsonl"
    rows = [json.dumps({"id": i, "body": line}) for i, line in enumerate(corpus_lines[:300])]
    corpus.write_text("\n".join(rows) + "\n", encoding="utf-8")
    tok = _train(corpus, tmp_path / "tok", "tokenizer.type=char", "data.columns.text=body")
    assert tok.decode(tok("Citizen")["input_ids"]) == "Citizen"


def test_corpus_is_streamed_in_batches_not_loaded_as_a_list(tmp_path, corpus_lines):
    from datasets import Dataset

    from llmkit.tokenizer import CorpusStats, _text_batches

    data = Dataset.from_dict({"text": corpus_lines[:250] + ["", None]})
    stats = CorpusStats()
    batches = _text_batches(data, "text", 100, stats)
    assert isinstance(batches, types.GeneratorType) and stats.rows == 0  # nothing read yet
    sizes = [len(batch) for batch in batches]
    assert sizes == [100, 100, 50] and stats.rows == 250  # empty and null rows are skipped


def test_retraining_over_an_earlier_tokenizer_needs_force(cli, tmp_path, corpus_file):
    out = tmp_path / "tok"
    _train(corpus_file, out, "tokenizer.type=char")
    cfg = _write_config(tmp_path / "tok.yaml", corpus_file, out, type="bpe", vocab_size=300)
    result = cli("tokenizer", "train", cfg)
    assert result.exit_code == 2
    assert "holds an earlier `llmkit tokenizer train` output" in result.stderr
    assert "--force" in result.stderr
    assert cli("tokenizer", "train", cfg, "--force").exit_code == 0
    assert len(AutoTokenizer.from_pretrained(out)) == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok", "tok.yaml"]


def test_refuses_a_model_directory_even_with_a_tokenizer_json_in_it(cli, tmp_path, corpus_file):
    """A finetuned model directory holds tokenizer.json too; it is not a tokenizer output."""
    out = tmp_path / "model"
    out.mkdir()
    (out / "tokenizer.json").write_text("{}")
    (out / "model.safetensors").write_bytes(b"weights")
    (out / "llmkit_config.yaml").write_text("stage: finetune\n")
    cfg = _write_config(tmp_path / "tok.yaml", corpus_file, out, type="char")
    for args in ([], ["--force"]):
        result = cli("tokenizer", "train", cfg, *args)
        assert result.exit_code == 2
        assert "holds a `llmkit finetune` output; nothing was written" in result.stderr
    assert (out / "model.safetensors").read_bytes() == b"weights"
    assert (out / "tokenizer.json").read_text() == "{}"


def test_refuses_to_overwrite_a_directory_that_is_not_a_tokenizer(tmp_path, corpus_file):
    out = tmp_path / "results"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="files llmkit did not write .precious.txt."):
        train_tokenizer(_config(corpus_file, out, "tokenizer.type=char"), force=True)
    assert (out / "precious.txt").read_text() == "keep me"


def test_tokenizer_directory_gets_the_modes_the_umask_gives(tmp_path, corpus_file):
    import os

    previous = os.umask(0o022)
    try:
        _train(corpus_file, tmp_path / "tok", "tokenizer.type=char")
    finally:
        os.umask(previous)
    assert (tmp_path / "tok").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "tok").iterdir()} == {0o644}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["tokenizer.type=char", "tokenizer.vocab_size=10"],
            "set tokenizer.vocab_size to at least",
        ),
        (["tokenizer.type=wordpiece", "tokenizer.vocab_size=20"], "at least"),
        (["tokenizer.type=unigram", "tokenizer.vocab_size=10"], "raise tokenizer.vocab_size"),
    ],
)
def test_vocab_too_small_for_the_alphabet_is_a_config_error(tmp_path, corpus_file, sets, message):
    with pytest.raises(ConfigError, match=message):
        train_tokenizer(_config(corpus_file, tmp_path / "tok", *sets))
    assert not (tmp_path / "tok").exists()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["tokenizer.type=bpe", "tokenizer.vocab_size=100"], r"vocab_size >= 258"),
        (["tokenizer.type=char", "tokenizer.special_tokens.unk=null"], "needs special_tokens.unk"),
        (
            ["tokenizer.family=masked", "tokenizer.special_tokens.cls=null"],
            "needs special_tokens.cls",
        ),
        (["tokenizer.family=seq2seq", "tokenizer.special_tokens.eos=<e:1>"], "cannot contain ':'"),
    ],
)
def test_settings_that_cannot_work_fail_when_the_config_loads(tmp_path, corpus_file, sets, message):
    with pytest.raises(ConfigError, match=message):
        _config(corpus_file, tmp_path / "tok", *sets)


def test_empty_corpus_is_a_data_error(tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no text"):
        train_tokenizer(_config(corpus, tmp_path / "tok", "tokenizer.type=char"))


def _write_config(path: Path, corpus: Path, out: Path, **tokenizer) -> Path:
    cfg = {"stage": "tokenizer", "data": {"train": str(corpus)}, "tokenizer": tokenizer}
    path.write_text(yaml.safe_dump({**cfg, "output_dir": str(out)}), encoding="utf-8")
    return path


def test_cli_trains_with_overrides_and_prints_a_summary(cli, tmp_path, corpus_file):
    cfg = _write_config(tmp_path / "tok.yaml", corpus_file, tmp_path / "out", type="bpe")
    result = cli("tokenizer", "train", cfg, "--set", "tokenizer.vocab_size=300")
    assert result.exit_code == 0, result.output
    assert "Tokenizer trained" in result.output and "300" in result.output
    assert len(AutoTokenizer.from_pretrained(tmp_path / "out")) == 300


@pytest.mark.parametrize(
    ("corpus_name", "sets", "message"),
    [
        ("missing.txt", [], "missing.txt"),
        ("corpus.txt", ["tokenizer.type=char", "tokenizer.vocab_size=5"], "tokenizer.vocab_size"),
        ("docs.jsonl", [], "no column 'text'; columns are: body"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(
    cli, tmp_path, corpus_file, corpus_name, sets, message
):
    corpus = corpus_file if corpus_name == "corpus.txt" else tmp_path / corpus_name
    if corpus_name == "docs.jsonl":
        corpus.write_text('{"body": "to be or not to be"}\n', encoding="utf-8")
    cfg = _write_config(tmp_path / "tok.yaml", corpus, tmp_path / "out", type="bpe")
    result = cli("tokenizer", "train", cfg, *[arg for s in sets for arg in ("--set", s)])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
