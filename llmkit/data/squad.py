"""SQuAD's own JSON layout read directly: {"data": [{"title", "paragraphs": [{"context",
"qas": [{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]},
one row per question in the layout of the hub's squad / squad_v2 datasets: id, title, context,
question, answers {text: [...], answer_start: [...]} (empty lists for an unanswerable one).
SQuAD 2.0's plausible_answers (answers to unanswerable questions) are not answers and are left
out."""

import json
import os
from pathlib import Path

from datasets import Features, Sequence, Value
from datasets.arrow_writer import ArrowWriter

from llmkit.data.arrow_cache import cache_path, read_cached
from llmkit.errors import DataError

FEATURES = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int64"))},
    }
)


def looks_like_squad(path: Path) -> bool:
    """A .json file whose first few KB hold one object with the "data" and "paragraphs" keys
    of SQuAD's layout (the whole file is checked when it is read)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(8192).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and b'"data"' in head and b'"paragraphs"' in head


def read_squad(files: list[Path]):
    """SQuAD JSON files → one Arrow file in datasets' cache (reused while they are unchanged)."""
    target = cache_path(files, "llmkit_squad", "v2")  # v2: typed answers
    return read_cached(target, lambda: _write_squad_arrow(files, target))


def _write_squad_arrow(files: list[Path], target: Path) -> int:
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    writer = ArrowWriter(path=str(tmp), features=FEATURES)
    try:
        for path in files:
            for row in squad_rows(path):
                writer.write(row)
        writer.finalize()
    finally:
        writer.close()
    os.replace(tmp, target)
    return 0


def squad_rows(path: Path):
    """Yield one row per question of a SQuAD JSON file, or stop at the first part of the file
    that is not in SQuAD's layout, naming where it is."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a SQuAD JSON file ({e})") from None
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise DataError(f"{path}: no top-level 'data' list (SQuAD layout)")
    for a, article in enumerate(articles):
        where = f"{path}: data[{a}]"
        for p, paragraph in enumerate(_list(article, "paragraphs", where)):
            context = _text(paragraph, "context", f"{where}.paragraphs[{p}]")
            for q, qa in enumerate(_list(paragraph, "qas", f"{where}.paragraphs[{p}]")):
                at = f"{where}.paragraphs[{p}].qas[{q}]"
                answers = _list(qa, "answers", at)
                for n, answer in enumerate(answers):
                    _text(answer, "text", f"{at}.answers[{n}]")
                    start = _field(answer, "answer_start", f"{at}.answers[{n}]")
                    if not isinstance(start, int) or isinstance(start, bool):
                        raise DataError(
                            f"{at}.answers[{n}]: answer_start must be an integer (a character "
                            f"offset into the context), not {start!r}"
                        )
                yield {
                    "id": str(_field(qa, "id", at)),
                    "title": str(article.get("title", "")),
                    "context": context,
                    "question": _text(qa, "question", at),
                    "answers": {
                        "text": [x["text"] for x in answers],
                        "answer_start": [x["answer_start"] for x in answers],
                    },
                }


def _list(parent, key: str, where: str) -> list:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, list):
        raise DataError(f"{where}: no '{key}' list (SQuAD layout)")
    return value


def _field(parent, key: str, where: str):
    if not isinstance(parent, dict) or key not in parent:
        raise DataError(f"{where}: no '{key}' (SQuAD layout)")
    return parent[key]


def _text(parent, key: str, where: str) -> str | None:
    """A field the Arrow file stores as a string (null stays null: the task's row checks name
    an empty question or context, and task.bad_rows: skip can skip it)."""
    value = _field(parent, key, where)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where}: {key} must be a string, not {value!r}")
    return value
