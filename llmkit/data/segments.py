"""`preprocess` with `segments:` (pack: false): each document as its tokenized segments, the
input next-sentence prediction pairs (llmkit.tasks.nsp).

Output: a DatasetDict whose rows are documents (a data.text_unit each) with one column,
`segments`: a list of token-id lists, one per sentence (or line), without special tokens.
Documents keep their order and stay whole inside one split, so "the next segment" never crosses
a document boundary. Built in memory through `datasets` (memory-mapped), like pack: false.
"""

import re
from pathlib import Path

from datasets import DatasetDict, Features, List, Value

from llmkit.errors import DataError

# a sentence ends at . ! or ?, maybe closed by a quote or bracket, before a space and anything
# but a lower-case letter ("e.g. the" stays one sentence; "Mr. Smith" does not)
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+(?![a-z])")
SEGMENT_FEATURES = Features({"segments": List(List(Value("int32")))})


def split_segments(text: str, unit: str) -> list[str]:
    """The non-empty segments of one document: its sentences, or its lines."""
    parts = text.split("\n") if unit == "line" else _SENTENCE_END.split(text.replace("\n", " "))
    return [p.strip() for p in parts if p.strip()]


def segment_batch(texts: list[str], tokenizer, unit: str) -> list[list[list[int]]]:
    """Documents → per document, the token ids of each segment (one tokenizer call per batch)."""
    pieces = [split_segments(t, unit) for t in texts]
    flat = [s for doc in pieces for s in doc]
    ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    out, at = [], 0
    for doc in pieces:
        out.append([seg for seg in ids[at : at + len(doc)] if seg])
        at += len(doc)
    return out


def write_segments(splits: dict, column: str, tokenizer, unit: str, out: Path) -> dict:
    """Cleaned, split raw documents → the segments DatasetDict in `out`; {split: counts}."""

    def encode(batch):
        docs = segment_batch(batch[column], tokenizer, unit)
        counts = {"_segments": [len(d) for d in docs], "_tokens": [sum(map(len, d)) for d in docs]}
        return {"segments": docs} | counts

    features = Features(
        {**SEGMENT_FEATURES, "_segments": Value("int64"), "_tokens": Value("int64")}
    )
    written, stats = {}, {}
    for name, ds in splits.items():
        docs = ds.map(
            encode, batched=True, remove_columns=ds.column_names, features=features,
            desc=f"Segmenting {name}",
        )  # fmt: skip
        docs = docs.filter(lambda n: n > 0, input_columns="_segments", desc=f"Keeping {name}")
        if len(docs) == 0:
            raise DataError(f"split {name!r}: no document has a segment with a token")
        stats[name] = {
            "documents": len(docs),
            "segments": int(sum(docs["_segments"])),
            "tokens": int(sum(docs["_tokens"])),
        }
        written[name] = docs.remove_columns(["_segments", "_tokens"])
    DatasetDict(written).save_to_disk(str(out))
    return stats
