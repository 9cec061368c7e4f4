"""`preprocess` with segments: each document as its tokenized sentences or lines, documents kept
whole and in order, and outputs cached before the option existed still up to date."""

import json

import yaml
from datasets import load_from_disk
from transformers import AutoTokenizer

from llmkit.config.preprocess import PreprocessConfig
from llmkit.data.cache import config_hash

DOCS = [
    "The king is dead. Long live the king! Who comes there?",
    "A horse, a horse. My kingdom for a horse.",
    "Now is the winter of our discontent. Made glorious summer by this sun of York.",
]


def _config(tmp_path, corpus, tokenizer, **extra):
    cfg = {
        "stage": "preprocess",
        "data": {"train": str(corpus), "text_unit": "paragraph"},
        "split": {"validation_ratio": 0.0},
        "tokenizer": str(tokenizer),
        "pack": False,
        "segments": "sentence",
        "output_dir": str(tmp_path / "out"),
        **extra,
    }
    path = tmp_path / "pre.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_documents_become_their_tokenized_sentences(cli, tmp_path, write, masked_tokenizer_dir):
    corpus = write("docs.txt", "\n\n".join(DOCS) + "\n")
    result = cli("preprocess", _config(tmp_path, corpus, masked_tokenizer_dir))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    train = load_from_disk(str(out))["train"]
    assert train.column_names == ["segments"] and len(train) == 3
    tok = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    decoded = [[tok.decode(ids) for ids in doc] for doc in train["segments"]]
    assert decoded[0] == ["The king is dead.", "Long live the king!", "Who comes there?"]
    assert len(decoded[1]) == 2 and len(decoded[2]) == 2
    assert all(tok.cls_token_id not in ids for doc in train["segments"] for ids in doc)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["segments"] == "sentence" and manifest["block_size"] == 512
    assert manifest["splits"]["train"] == {"documents": 3, "segments": 7,
                                           "tokens": sum(map(len, sum(train["segments"], [])))}  # fmt: skip


def test_segments_with_pack_true_exits_2(cli, tmp_path, write, masked_tokenizer_dir):
    corpus = write("docs.txt", "\n\n".join(DOCS) + "\n")
    result = cli("preprocess", _config(tmp_path, corpus, masked_tokenizer_dir, pack=True))
    assert result.exit_code == 2
    assert "segments writes whole documents, not packed blocks; set pack: false" in result.output


def test_outputs_made_before_segments_existed_stay_valid():
    cfg = PreprocessConfig(data={"train": "x.txt"}, tokenizer="tok")
    before = {k: v for k, v in cfg.model_dump(mode="json").items() if k != "segments"}
    assert config_hash(cfg) == config_hash_of(before)
    assert config_hash(cfg.model_copy(update={"segments": "line", "pack": False})) != config_hash(
        cfg
    )


def config_hash_of(settings: dict) -> str:
    """The hash of a config dump as cache.py computed it before `segments` existed."""
    import hashlib

    kept = {k: v for k, v in settings.items()
            if k not in {"output_dir", "num_proc", "batch_chars", "shard_mb"}}  # fmt: skip
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()
