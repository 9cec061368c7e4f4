"""The packed ids and manifest that `llmkit preprocess` writes, pinned for each shipped tokenizer
kind (char, BPE, WordPiece, Unigram), and the text cleaning gives on awkward Unicode.

The expected values in tests/fixtures/preprocess/pinned.json were written by the stage as it was
before it streamed (commit 379613f); a faster stage must give the same. If an intended change
alters them, regenerate with `PYTHONPATH=. python tests/data/test_data_preprocess_pinned.py`
and say in the commit which ids changed and why.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preprocess"
PINNED = FIXTURES / "pinned.json"
CORPUS = Path(__file__).resolve().parents[2] / "llmkit" / "corpus" / "tinyshakespeare.txt"
KINDS = ("char", "bpe", "wordpiece", "unigram")
# Lines that exercise cleaning: combining marks (NFC composes them), compatibility forms (NFKC),
# control characters (C0, DEL, C1 such as NEL; tab kept), zero-width space (not a control), a
# carriage return inside a line, repeated whitespace, duplicates and blank-only lines.
AWKWARD = [
    "e\u0301te\u0301 A\u030a \u1100\u1161 x\u0323\u0307",
    "a\x00b\x07c\x1b[31md\x7fe\x85f\tg\u200bh\rz",
    "\ufb01ne \u2460  spaced   out \t tabs ",
    "   ",
    "\x00\x01",
    "e\u0301te\u0301 A\u030a \u1100\u1161 x\u0323\u0307",
]
CLEANINGS = {
    "default": {},
    "nfkc_whitespace": {"unicode_normalization": "NFKC", "normalize_whitespace": True},
    "raw": {"unicode_normalization": "none", "strip_control_chars": False},
}
# Bytes that are not UTF-8: a CESU-8 encoded lone surrogate (U+D800) and a stray continuation
# byte. With encoding_errors: skip the line is dropped and counted.
INVALID_LINES = [b"before \xed\xa0\x80 after", b"stray \x80 byte"]


def corpus_bytes() -> bytes:
    """~300 lines of the shipped corpus with the awkward lines and invalid bytes mixed in."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:300]
    out = []
    for i, line in enumerate(lines):
        out.append(line.encode("utf-8"))
        if i % 50 == 7:
            out += [a.encode("utf-8") for a in AWKWARD]
        if i % 100 == 31:
            out += INVALID_LINES
    return b"\r\n".join(out[:150]) + b"\n" + b"\n".join(out[150:]) + b"\n"


def run_cases(tmp: Path) -> dict:
    """{case: {"manifest": …, "splits": {split: {"rows", "sha256", "first"}}}} from the CLI."""
    from datasets import load_from_disk
    from typer.testing import CliRunner

    from llmkit.cli.app import app

    corpus = tmp / "corpus.txt"
    corpus.write_bytes(corpus_bytes())
    cases = {f"{kind}-line": {"tokenizer": kind} for kind in KINDS}
    cases["char-paragraph"] = {"tokenizer": "char", "data": {"text_unit": "paragraph"}}
    cases["bpe-nfkc-nodedup"] = {
        "tokenizer": "bpe",
        "cleaning": {**CLEANINGS["nfkc_whitespace"], "deduplicate": False, "min_chars": 3},
        "split": {"validation_ratio": 0.2, "test_ratio": 0.1, "seed": 7},
    }
    results = {}
    for name, case in cases.items():
        out = tmp / f"out-{name}"
        cfg = {
            "stage": "preprocess",
            "data": {"train": str(corpus), "encoding_errors": "skip", **case.get("data", {})},
            "cleaning": case.get("cleaning", {}),
            "split": case.get("split", {"validation_ratio": 0.1}),
            "tokenizer": str(FIXTURES / "tokenizers" / case["tokenizer"]),
            "block_size": 32,
            "output_dir": str(out),
        }
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        result = CliRunner().invoke(app, ["preprocess", str(path)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        results[name] = {"manifest": pinned_manifest(out), "splits": split_ids(load_from_disk(out))}
    return results


def pinned_manifest(out: Path) -> dict:
    """The manifest's content that does not depend on paths or timing."""
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    tok = m["tokenizer"]
    return {
        "pack": m["pack"],
        "block_size": m["block_size"],
        "splits": m["splits"],
        "dropped": m["dropped"],
        "tokenizer": {k: tok[k] for k in ("class", "vocab_size", "eos_token", "sep_token")},
    }


def split_ids(dd) -> dict:
    result = {}
    for split, ds in dd.items():
        ids = np.asarray(ds.with_format("numpy")["input_ids"], dtype=np.int32)
        result[split] = {
            "rows": int(ids.shape[0]),
            "sha256": hashlib.sha256(ids.tobytes()).hexdigest(),
            "first": ids[0].tolist(),
        }
    return result


def cleaned_texts() -> dict:
    from llmkit.config.data import CleaningConfig
    from llmkit.data.cleaning import clean_text

    return {
        name: [clean_text(t, CleaningConfig(**settings)) for t in AWKWARD]
        for name, settings in CLEANINGS.items()
    }


@pytest.fixture(scope="module")
def pinned() -> dict:
    return json.loads(PINNED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def produced(tmp_path_factory) -> dict:
    return run_cases(tmp_path_factory.mktemp("pinned"))


@pytest.mark.parametrize(
    "case",
    ["char-line", "bpe-line", "wordpiece-line", "unigram-line", "char-paragraph",
     "bpe-nfkc-nodedup"],
)  # fmt: skip
def test_packed_ids_and_manifest_are_the_pinned_ones(case, pinned, produced):
    assert produced[case]["manifest"] == pinned["cases"][case]["manifest"]
    assert produced[case]["splits"] == pinned["cases"][case]["splits"]


def test_cleaning_gives_the_pinned_text_on_combining_and_control_characters(pinned):
    assert cleaned_texts() == pinned["cleaned"]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        expected = {"cases": run_cases(Path(tmp)), "cleaned": cleaned_texts()}
    PINNED.write_text(json.dumps(expected, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    sys.exit(0)
