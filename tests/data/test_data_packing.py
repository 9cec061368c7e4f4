"""Packing keeps every token, in order, with the separator after each document, in full blocks."""

import numpy as np
import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from llmkit.data.packing import DocumentEncoder, check_block_size, pack_split, separator_id
from llmkit.errors import ConfigError


def _reference_ids(tokenizer, docs, sep):
    """What packing must produce: each document encoded alone, followed by the separator."""
    out = []
    for doc in docs:
        out += tokenizer(doc, add_special_tokens=False)["input_ids"] + [sep]
    return out


@pytest.mark.parametrize("kind", ["causal", "masked"])
def test_pack_keeps_every_token_in_order(kind, corpus_lines, tmp_path, request):
    tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue(f"{kind}_tokenizer_dir"))
    docs = corpus_lines[:300]
    sep = tokenizer.eos_token_id if kind == "causal" else tokenizer.sep_token_id
    expected = _reference_ids(tokenizer, docs, sep)
    block = 64
    # a small batch_chars makes the carry buffer cross many batch boundaries
    stats = pack_split(
        Dataset.from_dict({"text": docs}), "text", tokenizer, block, tmp_path / "p.arrow", 2000
    )
    blocks = Dataset.from_file(str(tmp_path / "p.arrow"))["input_ids"]
    assert all(len(b) == block for b in blocks)
    flat = [t for b in blocks for t in b]
    assert flat == expected[: len(flat)]
    assert stats.rows == len(blocks) == len(expected) // block
    assert stats.tokens_dropped == len(expected) % block
    assert stats.tokens + stats.tokens_dropped == len(expected)
    assert stats.documents == len(docs)
    assert flat.count(sep) == expected[: len(flat)].count(sep) > 0
    if kind == "masked":
        assert tokenizer.cls_token_id not in flat


def test_tokenizer_where_joining_changes_ids_falls_back_to_one_encoding_per_document():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    docs = ["the cat sat", "on the mat", "the end"] * 20
    tok = Tokenizer(models.Unigram())
    # "first" adds the word-start marker only at the start of the whole text, so ids of a
    # document depend on whether it starts the string
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tok.train_from_iterator(docs, trainers.UnigramTrainer(vocab_size=30, special_tokens=["</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>")
    encoder = DocumentEncoder(fast)
    ids = encoder.encode(docs)
    assert encoder.joined is False
    assert ids.tolist() == _reference_ids(fast, docs, fast.eos_token_id)


def test_block_size_above_model_max_length_is_a_config_error(causal_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(causal_tokenizer_dir, model_max_length=128)
    check_block_size(tokenizer, 128)
    with pytest.raises(ConfigError, match="block_size: 129 is larger than .*model_max_length"):
        check_block_size(tokenizer, 129)


def test_tokenizer_without_eos_or_sep_is_a_config_error(masked_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    tokenizer.sep_token = None
    with pytest.raises(ConfigError, match="neither an EOS nor a SEP"):
        separator_id(tokenizer)


def test_joined_fast_path_is_used_for_byte_level_bpe(causal_tokenizer_dir, corpus_lines):
    tokenizer = AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    encoder = DocumentEncoder(tokenizer)
    ids = encoder.encode(corpus_lines[:50])
    assert encoder.joined is True
    assert np.array_equal(ids, _reference_ids(tokenizer, corpus_lines[:50], tokenizer.eos_token_id))


def test_pack_reads_rows_through_an_indices_mapping(causal_tokenizer_dir, corpus_lines, tmp_path):
    """Cleaning and splitting select rows; packing must read exactly those, in that order."""
    tokenizer = AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    ds = Dataset.from_dict({"text": corpus_lines[:200]}).select(list(range(0, 200, 3)))
    pack_split(ds, "text", tokenizer, 16, tmp_path / "p.arrow", batch_chars=1000)
    flat = [t for b in Dataset.from_file(str(tmp_path / "p.arrow"))["input_ids"] for t in b]
    expected = _reference_ids(tokenizer, corpus_lines[:200:3], tokenizer.eos_token_id)
    assert flat == expected[: len(flat)] and len(expected) - len(flat) < 16
