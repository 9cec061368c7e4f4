"""Token classification (NER, POS): a tag per word, aligned to subword tokens.

Columns (data.columns): words (a list of words) and label (a list of tags of the same length;
names such as B-PER, or integer ids into task.labels). The tag goes on each word's first subword;
the other subwords get IGNORE_INDEX (no loss) unless task.label_all_subwords. Validation reports seqeval
entity precision/recall/F1 on word-level tags (the first subword's prediction per word).
"""

from typing import Any

import torch
import torch.nn.functional as F
from datasets import DatasetDict

from llmkit.errors import DataError
from llmkit.metrics.functions import seqeval_scores
from llmkit.models.loss import IGNORE_INDEX, example_losses
from llmkit.tasks.batching import pad_token_batch
from llmkit.tasks.finetune_common import (
    FinetuneTaskBase,
    PerTokenLabelLoss,
    load_task_splits,
    tokenize_splits,
)
from llmkit.tasks.labels import LabelMap, label_source
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import FinetuneSpec


def align_labels(word_ids: list[int | None], word_labels: list[int], all_subwords: bool):
    """Token-level labels from word-level ones.

    Returns (labels, first): labels carry the word's tag on its first subword (and on the others
    when `all_subwords`), IGNORE_INDEX on special tokens; `first` marks first subwords, which is where the
    word-level prediction is read at evaluation.
    """
    labels, first, previous = [], [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE_INDEX)
            first.append(0)
        elif word != previous:
            labels.append(word_labels[word])
            first.append(1)
        else:
            labels.append(word_labels[word] if all_subwords else IGNORE_INDEX)
            first.append(0)
        previous = word
    return labels, first


class TokenClassificationTask(PerTokenLabelLoss, FinetuneTaskBase):
    name = "token-classification"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "TOKEN_CLS"

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options = spec.task
        self.columns = spec.columns
        self.label_names: list[str] = list(self.options.labels or [])
        self._raw: DatasetDict | None = None
        if not self.tokenizer.is_fast:
            raise DataError("token-classification needs a fast tokenizer (word alignment)")

    def read_splits(self) -> DatasetDict:
        if self._raw is None:
            needed = [self.columns.words, self.columns.label]
            # words are cleaned one by one (the list shape is kept)
            self._raw = load_task_splits(self.spec, [self.columns.words], needed, self.report)
        return self._raw

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        added = {"_tags": self._encode_tags(raw)}
        counted = {"truncated": "truncated"}
        return tokenize_splits(raw, self._tokenize, self.report, counted, added, desc="tagging")

    def _encode_tags(self, raw: DatasetDict) -> dict[str, list[list[int]]]:
        words_col, label_col = self.columns.words, self.columns.label
        where = {s: f"data.{s} column {label_col!r}" for s in raw}
        for split, ds in raw.items():
            for row, (words, tags) in enumerate(zip(ds[words_col], ds[label_col], strict=True)):
                if not isinstance(words, list) or not isinstance(tags, list):
                    raise DataError(
                        f"data.{split}: row {row + 1}: {words_col!r} and {label_col!r} must be "
                        "lists (one tag per word)"
                    )
                if len(words) != len(tags):
                    raise DataError(
                        f"data.{split}: row {row + 1} has {len(words)} words but {len(tags)} tags"
                    )
        ref = label_source(raw)
        flat_train = [t for tags in raw[ref][label_col] for t in tags]
        label_map = LabelMap.from_training(flat_train, self.options.labels, where[ref])
        self.label_names = label_map.names
        encoded = {}
        for split, ds in raw.items():
            rows = ds[label_col]
            flat = label_map.encode_all([t for tags in rows for t in tags], where[split])
            encoded[split], start = [], 0
            for tags in rows:
                encoded[split].append(flat[start : start + len(tags)])
                start += len(tags)
        return encoded

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        words = batch[self.columns.words]
        enc = self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_overflowing_tokens=False,
        )
        rows: dict[str, list] = {"input_ids": enc["input_ids"], "labels": [], "first": []}
        rows["truncated"], rows["length"] = [], []
        for i, word_tags in enumerate(batch["_tags"]):
            word_ids = enc.word_ids(i)
            labels, first = align_labels(word_ids, word_tags, self.options.label_all_subwords)
            rows["labels"].append(labels)
            rows["first"].append(first)
            # a word whose first subword was cut off cannot be tagged: count the row
            rows["truncated"].append(sum(first) < len(words[i]))
            rows["length"].append(len(word_ids))
        return rows

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_token_batch(
            examples, {"input_ids": self.tokenizer.pad_token_id, "labels": IGNORE_INDEX, "first": 0}
        )
        lengths = torch.tensor([len(ex["input_ids"]) for ex in examples])
        width = batch["input_ids"].shape[1]
        batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
        return batch

    def model_kwargs(self) -> dict[str, Any]:
        if not self.label_names:
            self._encode_tags(self.read_splits())
        return {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {name: i for i, name in enumerate(self.label_names)},
        }

    def _logits(self, model, batch) -> torch.Tensor:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        logits = self._logits(model, batch)
        loss_sums, counts = example_losses(logits.float(), batch["labels"])
        # word-level predictions and references, read at first subwords; fixed width
        # (max_length) so batches from different processes gather into one tensor
        first = batch["first"].bool()
        labels = batch["labels"].clone()
        labels[~first] = IGNORE_INDEX
        preds = logits.argmax(-1).masked_fill(~first, IGNORE_INDEX)
        return {
            "loss_sum": loss_sums,
            "count": counts,
            "predictions": _to_width(preds, self.max_length),
            "references": _to_width(labels, self.max_length),
        }

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        loss = sum(float(o["loss_sum"].sum()) for o in outputs)
        count = sum(int(o["count"].sum()) for o in outputs)
        predictions, references = [], []
        for o in outputs:
            pairs = zip(o["predictions"].tolist(), o["references"].tolist(), strict=True)
            for pred_row, ref_row in pairs:
                keep = [j for j, r in enumerate(ref_row) if r != IGNORE_INDEX]
                predictions.append([self.label_names[pred_row[j]] for j in keep])
                references.append([self.label_names[ref_row[j]] for j in keep])
        return {"loss": loss / max(count, 1)} | seqeval_scores(predictions, references)


def _to_width(rows: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(rows, (0, width - rows.shape[1]), value=IGNORE_INDEX)
