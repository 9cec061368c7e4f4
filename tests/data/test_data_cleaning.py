"""Cleaning steps and the per-reason drop counts the manifest reports."""

from pathlib import Path

import pytest
from datasets import Dataset

from llmkit.config.data import CleaningConfig
from llmkit.data.cleaning import clean_dataset, clean_text
from llmkit.errors import DataError


def test_each_drop_reason_is_counted():
    texts = ["keep me", "", "   ", "ab", "x" * 50, "keep me", "another one", "another one"]
    cfg = CleaningConfig(min_chars=3, max_chars=20)
    ds, dropped = clean_dataset(Dataset.from_dict({"text": texts}), cfg, ["text"], None, "train")
    assert list(ds["text"]) == ["keep me", "another one"]
    assert dropped == {"empty": 2, "too_short": 1, "too_long": 1, "duplicate": 2}


def test_duplicates_are_found_after_cleaning_and_the_first_is_kept():
    texts = ["Caf\u0065\u0301 open", "Café open", "other", "Caf\u0065\u0301  open"]
    cfg = CleaningConfig(normalize_whitespace=True)
    ds = Dataset.from_dict({"text": texts, "id": [0, 1, 2, 3]})
    cleaned, dropped = clean_dataset(ds, cfg, ["text"], None, "train")
    assert list(cleaned["id"]) == [0, 2]
    assert dropped == {"duplicate": 2}


def test_each_step_can_be_switched_off():
    off = CleaningConfig(unicode_normalization="none", strip_control_chars=False, deduplicate=False)
    ds = Dataset.from_dict({"text": ["a\x07b", "a\x07b"]})
    cleaned, dropped = clean_dataset(ds, off, ["text"], None, "train")
    assert list(cleaned["text"]) == ["a\x07b", "a\x07b"]
    assert dropped == {}


def test_clean_text_steps():
    cfg = CleaningConfig(unicode_normalization="NFKC", normalize_whitespace=True)
    assert clean_text("ﬁne\x00 \t text \n  next\x1b line ", cfg) == "fine text\nnext line"
    assert clean_text("tab\tand\nnewline stay", CleaningConfig()) == "tab\tand\nnewline stay"


def test_several_text_columns_and_word_lists():
    ds = Dataset.from_dict(
        {
            "source": ["hello", "hello", "hello", ""],
            "target": ["salut", "salut", "bună", "x"],
            "words": [["A", "b"], ["A", "b"], ["c"], ["d"]],
        }
    )
    cleaned, dropped = clean_dataset(ds, CleaningConfig(), ["source", "target"], None, "train")
    assert list(cleaned["target"]) == ["salut", "bună"]
    assert dropped == {"empty": 1, "duplicate": 1}
    words, _ = clean_dataset(ds, CleaningConfig(), ["words"], None, "train")
    assert list(words["words"]) == [["A", "b"], ["c"], ["d"]]


def test_everything_removed_names_the_filter():
    ds = Dataset.from_dict({"text": ["ab", "cd", ""]})
    with pytest.raises(DataError, match="all 3 rows were removed .*'too_short'.*min_chars"):
        clean_dataset(ds, CleaningConfig(min_chars=10), ["text"], None, "data.train")


def test_non_text_column_is_a_data_error():
    ds = Dataset.from_dict({"text": [1, 2]})
    with pytest.raises(DataError, match="column .text. holds int64 values"):
        clean_dataset(ds, CleaningConfig(), ["text"], None, "train")


def test_no_text_columns_keeps_every_row_even_with_deduplicate():
    """Chat data has no plain text column to compare; cleaning must pass it through."""
    msgs = [[{"role": "user", "content": "hi"}]] * 3
    ds = Dataset.from_dict({"messages": msgs})
    out, dropped = clean_dataset(ds, CleaningConfig(deduplicate=True), [], None, "train")
    assert len(out) == 3 and not any(dropped.values())


def test_text_without_control_characters_skips_the_regex_and_is_cleaned_the_same():
    """The numpy pre-check that skips the control-character regex changes no text: the shipped
    corpus and lines with C0/C1 controls, DEL and look-alike bytes (é = C3 A9, U+00A0 = C2 A0)
    clean to what the regex alone gives."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from llmkit.data.cleaning import _CONTROL, clean_array

    corpus = Path(__file__).resolve().parents[2] / "llmkit" / "corpus" / "tinyshakespeare.txt"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    awkward = [
        "caf\u00e9\u00a0\u0100",
        "a\x85b",
        "\u0080x",
        "x\x7f",
        "tab\there",
        "\x1b[0m",
        "\u2028",
    ]
    cfg = CleaningConfig(unicode_normalization="none")
    for texts in (lines, awkward, *([t] for t in awkward)):
        arr = pa.array(texts, pa.string())
        always = pc.replace_substring_regex(arr, _CONTROL, "")
        assert clean_array(arr, cfg).to_pylist() == always.to_pylist()


def test_streamed_cleaning_in_chunks_keeps_and_drops_what_the_whole_table_does():
    """Duplicates across chunk boundaries are found; the first is kept; counts match."""
    import pyarrow as pa

    from llmkit.data.cleaning import StreamCleaner

    texts = ["a b", "", "dup", "x", "Caf\u0065\u0301", "dup", "  ", "Café", "z" * 30, "new", "x"]
    texts = texts * 3
    cfg = CleaningConfig(min_chars=2, max_chars=20)
    whole, dropped = clean_dataset(Dataset.from_dict({"text": texts}), cfg, ["text"], None, "t")
    cleaner = StreamCleaner(cfg)
    kept = []
    for start in range(0, len(texts), 4):
        kept += cleaner.clean(pa.array(texts[start : start + 4], pa.string())).to_pylist()
    assert kept == list(whole["text"])
    assert cleaner.dropped() == dropped
