"""Masked LM + next-sentence prediction (task.type mlm with nsp: true), BERT's pretraining.

The input is a preprocess output written with `segments:` (one row per document, a list of
token ids per sentence). Sentence pairs are drawn from it once per run (seeded by train.seed),
as BERT's create_pretraining_data.py does: consecutive segments of a document are gathered
until they fill the pair, cut at a random segment boundary into A and B, and then

- half the pairs keep B, the text that follows A in the same document (label 0, "is next");
- the other half replace B with segments from a random place in ANOTHER document (label 1), and
  the segments that were B start the next pair, so no text is lost.

A chunk of one segment at the end of a document has no next segment to keep: it becomes a
random pair, and the next chunk that can be a true pair is made one, so positives stay at 50%
(BERT's script lets them fall below). With task.short_seq_prob (BERT's 0.1) a pair is filled up
to a random length from 2 tokens on instead of block_size, so the model also sees the short
inputs of finetuning; BERT's script draws that length once per document, here it is drawn per
pair, so short_seq_prob is the share of pairs whatever the documents' lengths. Pairs longer than
block_size are trimmed, the longer side first, from its front or back at random. Masking is MaskedLMTask's, redrawn at every batch;
whole words end at [SEP] as at any special token.

Pairs are built by every process in memory (the tokens as Arrow/numpy buffers, 4 bytes a token
for the documents and as much again for the pairs, plus a Python int per segment), which suits
corpora of up to a few hundred million tokens per process.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict
from datasets.table import InMemoryTable

from llmkit.errors import ConfigError, DataError
from llmkit.models.loss import IGNORE_INDEX, count_loss_tokens, token_losses
from llmkit.tasks.mlm import MaskedLMTask
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import PretrainSpec

IS_NEXT, RANDOM_NEXT = 0, 1
"""next_sentence_label values, as BertForPreTraining reads them."""
SPECIAL_TOKENS_IN_PAIR = 3  # [CLS] A [SEP] B [SEP]
PAIR_SEED_OFFSETS = {"train": 0, "validation": 1}
"""Added to train.seed · 1000 to seed each split's pair drawing (`llmkit eval` draws a held-out
file's pairs as the validation split's)."""


@dataclass(frozen=True)
class Span:
    """Segments [start, stop) of document `document`."""

    document: int
    start: int
    stop: int


@dataclass(frozen=True)
class SentencePair:
    a: Span
    b: Span
    is_next: bool


def sample_pairs(
    lengths: Sequence[Sequence[int]],
    max_tokens: int,
    rng: random.Random,
    short_seq_prob: float = 0.0,
) -> list[SentencePair]:
    """Sentence pairs over documents given as their segments' token counts; every document
    needs one segment at least, and there must be two documents. With `short_seq_prob`, a pair
    aims at a random length from 2 to `max_tokens` instead of `max_tokens`."""
    pairs: list[SentencePair] = []
    owed_positives = 0  # true pairs a one-segment chunk could not be
    for d, doc in enumerate(lengths):
        i = 0
        while i < len(doc):
            target = _target_length(max_tokens, short_seq_prob, rng)
            j, filled = i, 0
            while j < len(doc) and filled < target:
                filled, j = filled + doc[j], j + 1
            coin_next = rng.random() < 0.5
            if coin_next and j - i == 1 and j < len(doc):
                j += 1  # one segment fills the pair alone: its next one is B
            if j - i >= 2:
                is_next = coin_next or owed_positives > 0
                owed_positives -= int(is_next and not coin_next)
                cut = rng.randint(i + 1, j - 1)
            else:
                is_next, cut = False, j
                owed_positives += int(coin_next)
            a = Span(d, i, cut)
            if is_next:
                pairs.append(SentencePair(a, Span(d, cut, j), True))
                i = j
            else:
                a_tokens = sum(doc[i:cut])
                pairs.append(
                    SentencePair(a, _random_span(lengths, d, target - a_tokens, rng), False)
                )
                i = cut  # what would have been B starts the next chunk
    return pairs


def _target_length(max_tokens: int, short_seq_prob: float, rng: random.Random) -> int:
    """The tokens a pair is filled up to: `max_tokens`, or with `short_seq_prob` a length drawn
    from 2 to `max_tokens`, as BERT's script draws it. Nothing is drawn when short_seq_prob is
    0, so such runs draw the pairs they drew before the option existed."""
    if short_seq_prob > 0 and rng.random() < short_seq_prob:
        return rng.randint(min(2, max_tokens), max_tokens)
    return max_tokens


def _random_span(lengths, document: int, wanted: int, rng: random.Random) -> Span:
    """Segments of another document than `document`, from a random one of them on, until
    they hold `wanted` tokens or the document ends."""
    other = rng.randrange(len(lengths) - 1)
    other += int(other >= document)
    doc = lengths[other]
    start = rng.randrange(len(doc))
    stop, filled = start, 0
    while stop < len(doc) and filled < max(wanted, 1):
        filled, stop = filled + doc[stop], stop + 1
    return Span(other, start, stop)


def trim_pair(a: Sequence[int], b: Sequence[int], max_tokens: int, rng: random.Random):
    """`a` and `b` cut until they fit in `max_tokens`: a token at a time off the longer one, from
    its front or its back at random. Returns the two (slices of the inputs)."""
    a_lo, a_hi, b_lo, b_hi = 0, len(a), 0, len(b)
    while (a_hi - a_lo) + (b_hi - b_lo) > max_tokens:
        front = rng.random() < 0.5
        if a_hi - a_lo > b_hi - b_lo:
            a_lo, a_hi = (a_lo + 1, a_hi) if front else (a_lo, a_hi - 1)
        else:
            b_lo, b_hi = (b_lo + 1, b_hi) if front else (b_lo, b_hi - 1)
    return a[a_lo:a_hi], b[b_lo:b_hi]


class SegmentedCorpus:
    """A split of a `segments:` preprocess output as its flat Arrow buffers: the token ids of
    any run of segments without a Python object per token (4 bytes a token in memory)."""

    def __init__(self, documents: Dataset):
        column = documents.with_format("arrow")["segments"].combine_chunks()  # list<list<int32>>
        self.first_segment = column.offsets.to_numpy()  # document d: segments [d], [d + 1]
        segments = column.values
        self.first_token = segments.offsets.to_numpy()  # segment g: tokens [g], [g + 1]
        self.tokens = segments.values.to_numpy(zero_copy_only=False)
        sizes = np.diff(self.first_token)
        self.lengths = [
            sizes[lo:hi].tolist()
            for lo, hi in zip(self.first_segment[:-1], self.first_segment[1:], strict=True)
        ]

    def ids(self, span: Span) -> np.ndarray:
        first = self.first_segment[span.document]
        return self.tokens[
            self.first_token[first + span.start] : self.first_token[first + span.stop]
        ]


class MaskedLMWithNSPTask(MaskedLMTask):
    name = "mlm"
    auto_class_name = MODEL_CLASSES["mlm-nsp"]

    def read_splits(self) -> DatasetDict:
        documents = self.load_preprocessed(
            "segments", "preprocess with pack: false and segments: sentence (or line)"
        )
        self.prepare_pairing()
        return DatasetDict(
            {
                name: self.sentence_pairs(ds, name, PAIR_SEED_OFFSETS[name])
                for name, ds in documents.items()
            }
        )

    def prepare_pairing(self) -> None:
        """Check the tokenizer can frame a pair, and build masking's tables."""
        tok = self.tokenizer
        if tok.cls_token_id is None or tok.sep_token_id is None:
            raise ConfigError(
                "task.nsp: the tokenizer has no [CLS] or [SEP] token to build sentence pairs",
                "train a WordPiece tokenizer with BERT's special tokens",
            )
        self.prepare_masking()

    def sentence_pairs(self, documents: Dataset, split: str, offset: int) -> Dataset:
        """The pairs drawn from `documents` (a `segments` column), seeded by train.seed and
        `offset`; `split` names the documents in errors."""
        if len(documents) < 2:
            raise DataError(
                f"the {split} split holds {len(documents)} document(s); next-sentence "
                "prediction draws B from another document",
                "give more documents (e.g. text_unit: paragraph) or raise split.validation_ratio",
            )
        corpus = SegmentedCorpus(documents)
        rng = random.Random(self.spec.seed * 1000 + offset)
        max_tokens = self.block_size - SPECIAL_TOKENS_IN_PAIR
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids, types, labels = [], [], []
        short = self.spec.task.short_seq_prob
        for pair in sample_pairs(corpus.lengths, max_tokens, rng, short):
            a, b = trim_pair(corpus.ids(pair.a), corpus.ids(pair.b), max_tokens, rng)
            ids.append(np.concatenate(([cls], a, [sep], b, [sep])).astype(np.int32))
            types.append(np.repeat(np.array([0, 1], np.int8), [len(a) + 2, len(b) + 1]))
            labels.append(IS_NEXT if pair.is_next else RANDOM_NEXT)
        table = pa.table(
            {
                "input_ids": _list_array(ids),
                "token_type_ids": _list_array(types),
                "next_sentence_label": pa.array(labels, pa.int8()),
            }
        )
        return Dataset(InMemoryTable(table))

    def build_model(self) -> torch.nn.Module:
        model = super().build_model()
        # AutoModelForPreTraining gives other families their masked LM alone (RoBERTa's)
        if not hasattr(getattr(model, "cls", None), "seq_relationship"):
            raise ConfigError(
                f"task.nsp: model.pretrained {self.spec.model.pretrained} is a "
                f"{type(model).__name__}, which has no next-sentence head",
                "start from a BERT model (or one built with model.family: bert), or set "
                "task.nsp: false",
            )
        return model

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.pad_ids(examples)
        width = batch["input_ids"].shape[1]
        types = torch.zeros((len(examples), width), dtype=torch.long)
        for i, ex in enumerate(examples):
            types[i, : len(ex["token_type_ids"])] = torch.tensor(ex["token_type_ids"])
        batch["token_type_ids"] = types
        batch["next_sentence_label"] = torch.tensor(
            [ex["next_sentence_label"] for ex in examples], dtype=torch.long
        )
        return self.mask_tokens(batch)

    def _losses(self, model, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T) MLM token losses, (B,) NSP losses and (B, 2) NSP logits."""
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch.get("attention_mask"),
            token_type_ids=batch["token_type_ids"],
        )
        mlm = token_losses(out.prediction_logits, batch["labels"], "none")
        nsp_logits = out.seq_relationship_logits.float()
        nsp = F.cross_entropy(nsp_logits, batch["next_sentence_label"], reduction="none")
        return mlm, nsp, nsp_logits

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return count_loss_tokens(batch["labels"])

    def loss_sum(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """MLM loss summed over masked tokens, plus the NSP loss scaled so that dividing by the
        masked-token count (the loop does) gives mean MLM loss + mean NSP loss, BERT's sum."""
        mlm, nsp, _ = self._losses(model, batch)
        tokens_per_pair = count_loss_tokens(batch["labels"]) / nsp.shape[0]
        return mlm.sum() + nsp.sum() * tokens_per_pair

    def evaluate_batch(self, model, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        mlm, nsp, nsp_logits = self._losses(model, batch)
        correct = nsp_logits.argmax(-1) == batch["next_sentence_label"]
        n_items = (batch["labels"] != IGNORE_INDEX).sum(dim=1)
        return {
            "loss_sum": mlm.sum(dim=1),
            "n_items": n_items,
            "nsp_loss": nsp,
            "nsp_correct": correct,
        }

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        mlm = super().compute_metrics(outputs)  # token-weighted MLM loss and its perplexity
        nsp_loss = torch.cat([o["nsp_loss"] for o in outputs]).double().mean()
        accuracy = torch.cat([o["nsp_correct"] for o in outputs]).double().mean()
        return {
            "loss": mlm["loss"] + float(nsp_loss),
            "mlm_loss": mlm["loss"],
            "perplexity": mlm["perplexity"],
            "nsp_loss": float(nsp_loss),
            "nsp_accuracy": float(accuracy),
        }


def _list_array(rows: list[np.ndarray]) -> pa.Array:
    """One Arrow list array of `rows` (64-bit offsets only when 32 bits cannot hold them)."""
    offsets = np.concatenate(([0], np.cumsum([len(r) for r in rows])))
    values = pa.array(np.concatenate(rows))
    if offsets[-1] < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)


def masked_lm_task(spec: PretrainSpec) -> MaskedLMTask:
    """task.type mlm: masked LM alone, or with nsp: true masked LM + next-sentence prediction."""
    return MaskedLMWithNSPTask(spec) if spec.task.nsp else MaskedLMTask(spec)
