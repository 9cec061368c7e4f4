"""Every source format `load_split` reads, and the errors a user gets for bad input."""

import json

import pytest

from llmkit.config.data import DataConfig
from llmkit.data.sources import load_split, read_split, require_columns
from llmkit.errors import DataError


def _rows(ds, column="text"):
    return list(ds[column])


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("line", ["a b", "c", "", "d", "e"]),
        ("paragraph", ["a b\nc", "d\ne"]),
        ("file", ["a b\nc\n\nd\ne"]),
    ],
)
def test_text_units(write, unit, expected):
    path = write("doc.txt", "a b\nc\n\nd\ne\n")
    assert _rows(load_split(DataConfig(train=str(path), text_unit=unit), "train")) == expected


def test_text_crlf_and_byte_order_mark_are_not_text(write):
    path = write("win.txt", "\ufeffone\r\ntwo\r\n".encode())
    assert _rows(load_split(DataConfig(train=str(path)), "train")) == ["one", "two"]


def test_text_column_takes_the_configured_name(write):
    path = write("doc.txt", "x\ny\n")
    ds = load_split(DataConfig(train=str(path), columns={"text": "content"}), "train")
    assert ds.column_names == ["content"]


def test_text_glob_and_list_keep_order(write, tmp_path):
    write("parts/b.txt", "b1\n")
    write("parts/a.txt", "a1\na2\n")
    c = write("c.txt", "c1\n")
    ds = load_split(DataConfig(train=[str(tmp_path / "parts" / "*.txt"), str(c)]), "train")
    assert _rows(ds) == ["a1", "a2", "b1", "c1"]


def test_jsonl_json_csv_tsv_parquet(write, tmp_path):
    import pandas as pd

    rows = [{"text": "first", "label": 0}, {"text": "second", "label": 1}]
    jsonl = write("d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    arr = write("d.json", json.dumps(rows))
    csv = write("d.csv", "text,label\nfirst,0\nsecond,1\n")
    tsv = write("d.tsv", "text\tlabel\nfirst\t0\nsecond\t1\n")
    parquet = tmp_path / "d.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    for path in (jsonl, arr, csv, tsv, parquet):
        ds = load_split(DataConfig(train=str(path)), "train")
        assert _rows(ds) == ["first", "second"], path
        assert _rows(ds, "label") == [0, 1], path


def test_tsv_quotes_are_text_not_field_delimiters(write):
    # MRPC/GLUE TSV: with CSV quoting the `"` on row 1 would swallow the rows after it
    path = write(
        "pairs.tsv",
        "Quality\t#1 String\t#2 String\r\n"
        '1\tHe said " yes .\t" Yes , " he said .\r\n'
        '0\tA "quoted" word .\tNo quotes here .\r\n'
        '1\tLast row .\tIt ends "\r\n',
    )
    ds = load_split(DataConfig(train=str(path)), "train")
    assert len(ds) == 3
    assert _rows(ds, "#1 String") == ['He said " yes .', 'A "quoted" word .', "Last row ."]
    assert _rows(ds, "#2 String") == ['" Yes , " he said .', "No quotes here .", 'It ends "']
    assert _rows(ds, "Quality") == [1, 0, 1]


CONLL = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O


Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O"""
CONLL_WORDS = [
    ["EU", "rejects", "German", "call", "."],
    ["Peter", "Blackburn"],
    ["BRUSSELS", "1996-08-22"],
]
CONLL_TAGS = [["B-ORG", "O", "B-MISC", "O", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"]]


@pytest.mark.parametrize(("name", "declared"), [("eng.conll", "auto"), ("eng.txt", "conll")])
def test_conll_sentences_read_word_first_and_tag_last(write, name, declared):
    path = write(name, CONLL)
    ds = load_split(DataConfig(train=str(path), format=declared), "train")
    assert ds.column_names == ["words", "label"]  # token classification's default columns
    assert _rows(ds, "words") == CONLL_WORDS
    assert _rows(ds, "label") == CONLL_TAGS


def test_conll_columns_take_the_configured_names(write):
    path = write("tab.iob", "\ufeffJohn\tB-PER\r\nleft\tO\r\n\r\nRome\tB-LOC\r\n")
    data = DataConfig(train=str(path), columns={"words": "tokens", "label": "ner"})
    ds = load_split(data, "train")
    assert ds.column_names == ["tokens", "ner"]
    assert _rows(ds, "tokens") == [["John", "left"], ["Rome"]]
    assert _rows(ds, "ner") == [["B-PER", "O"], ["B-LOC"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("EU B-ORG\nrejects O\n\ncall\n", r"bad.bio: line 4: 'call' has no tag"),
        ("EU NNP B-ORG\nNew York NNP B-LOC\n", r"bad.bio: line 2: 4 columns, but line 1 has 3"),
    ],
)
def test_malformed_conll_line_names_file_and_line(write, text, message):
    path = write("bad.bio", text)
    with pytest.raises(DataError, match=message):
        load_split(DataConfig(train=str(path)), "train")


def test_undecodable_conll_line_is_named_or_skipped_and_counted(write):
    path = write("bad.conll", b"EU B-ORG\n\xff O\nrejects O\n")
    with pytest.raises(DataError, match=r"bad.conll: line 2: bytes are not valid UTF-8"):
        load_split(DataConfig(train=str(path)), "train")
    ds, stats = read_split(DataConfig(train=str(path), encoding_errors="skip"), "train")
    assert _rows(ds, "words") == [["EU", "rejects"]]
    assert stats.dropped == {"undecodable_lines": 1}


def test_changed_conll_file_is_read_again(write):
    path = write("a.conll", "old O\n")
    assert _rows(load_split(DataConfig(train=str(path)), "train"), "words") == [["old"]]
    path.write_text("new B-X\ntext O\n", encoding="utf-8")
    assert _rows(load_split(DataConfig(train=str(path)), "train"), "words") == [["new", "text"]]


def test_save_to_disk_directory_picks_the_split(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {"train": Dataset.from_dict({"text": ["t"]}), "test": Dataset.from_dict({"text": ["x"]})}
    ).save_to_disk(tmp_path / "dd")
    Dataset.from_dict({"text": ["only"]}).save_to_disk(tmp_path / "single")
    data = DataConfig(train=str(tmp_path / "dd"), test=str(tmp_path / "dd"))
    assert _rows(load_split(data, "train")) == ["t"]
    assert _rows(load_split(data, "test")) == ["x"]
    assert _rows(load_split(DataConfig(train=str(tmp_path / "single")), "train")) == ["only"]


def test_missing_split_is_none(write):
    assert load_split(DataConfig(train=str(write("a.txt", "x\n"))), "validation") is None


def test_dotted_column_reads_nested_json(write):
    path = write("wmt.jsonl", '{"translation": {"en": "cat", "ro": "pisica"}}\n')
    ds = require_columns(load_split(DataConfig(train=str(path)), "train"), ["translation.en"], "x")
    assert _rows(ds, "translation.en") == ["cat"]
    assert _rows(ds, "translation.ro") == ["pisica"]


def test_hub_format_goes_through_load_dataset(monkeypatch):
    import datasets

    calls = []
    fake = datasets.Dataset.from_dict({"text": ["hub row"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or fake)
    data = DataConfig(train="org/name", validation="org/name:dev", format="hub", hub_config="v1")
    assert _rows(load_split(data, "train")) == ["hub row"]
    load_split(data, "validation")
    assert calls == [
        (("org/name", "v1"), {"split": "train"}),
        (("org/name", "v1"), {"split": "dev"}),
    ]


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match="data.validation: file not found: .*nope.txt"):
        load_split(DataConfig(train=str(missing), validation=str(missing)), "validation")
    with pytest.raises(DataError, match=r"no file matches .*\*.jsonl"):
        load_split(DataConfig(train=str(tmp_path / "*.jsonl")), "train")


def test_missing_column_lists_the_columns_that_exist(write):
    ds = load_split(DataConfig(train=str(write("d.csv", "sentence,label\nhi,1\n"))), "train")
    with pytest.raises(DataError) as err:
        require_columns(ds, ["text"], "data.train")
    assert "no column 'text'" in str(err.value)
    assert "columns are: sentence, label" in str(err.value)


def test_undecodable_bytes_name_file_and_line(write):
    path = write("bad.txt", b"good\nfine\n\xff\xfe broken\nok\n")
    with pytest.raises(DataError, match=r"bad.txt: line 3: bytes are not valid UTF-8"):
        load_split(DataConfig(train=str(path)), "train")


def test_undecodable_lines_are_skipped_and_counted(write):
    path = write("bad.txt", b"good\n\xff broken\nok\n\xc3 also broken\n")
    ds, stats = read_split(DataConfig(train=str(path), encoding_errors="skip"), "train")
    assert _rows(ds) == ["good", "ok"]
    assert stats.dropped == {"undecodable_lines": 2}


def test_unparseable_json_and_unknown_extension_are_data_errors(write):
    with pytest.raises(DataError, match=r"d.jsonl: line 1: not valid JSON \(Expecting"):
        load_split(DataConfig(train=str(write("d.jsonl", '{"text": "a"\n'))), "train")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_split(DataConfig(train=str(write("d.xyz", "a\n"))), "train")


def test_changed_text_file_is_read_again(write):
    path = write("a.txt", "old\n")
    assert _rows(load_split(DataConfig(train=str(path)), "train")) == ["old"]
    path.write_text("new text\n", encoding="utf-8")
    assert _rows(load_split(DataConfig(train=str(path)), "train")) == ["new text"]
