"""Sequence classification: one label per text or text pair, multi-label, or regression.

Columns (data.columns): text, optional pair, label. Labels are names or integer ids (single
label), lists of names (multi_label) or floats (regression). The head is transformers'
AutoModelForSequenceClassification with id2label/label2id in config.json.
"""

from typing import Any

import torch
import torch.nn.functional as F
from datasets import DatasetDict

from llmkit.config.finetune import ClassificationTask as ClassificationOptions
from llmkit.errors import DataError
from llmkit.metrics import functions as metrics
from llmkit.tasks.batching import pad_token_batch
from llmkit.tasks.finetune_common import (
    FinetuneTaskBase,
    load_task_splits,
    tokenize_counting_truncation,
    tokenize_splits,
)
from llmkit.tasks.labels import LabelMap, check_scalar_labels, infer_names, label_source
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import FinetuneSpec


class ClassificationTask(FinetuneTaskBase):
    name = "classification"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "SEQ_CLS"

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options: ClassificationOptions = spec.task
        self.columns = spec.columns
        self.label_names: list[str] = list(self.options.labels or [])
        self._raw: DatasetDict | None = None

    # ---- data -------------------------------------------------------------------------------

    def read_splits(self) -> DatasetDict:
        if self._raw is None:
            text_columns = [self.columns.text] + ([self.columns.pair] if self.columns.pair else [])
            needed = text_columns + [self.columns.label]
            self._raw = load_task_splits(self.spec, text_columns, needed, self.report)
        return self._raw

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        """Raw splits (text[, pair], label columns) → input_ids, token_type_ids, labels, length."""
        added = {"_labels": self._encode_labels(raw)}
        counted = {"truncated": "truncated"}
        return tokenize_splits(raw, self._tokenize, self.report, counted, added)

    def _encode_labels(self, raw: DatasetDict) -> dict[str, list[Any]]:
        label = self.columns.label
        where = {s: f"data.{s} column {label!r}" for s in raw}
        values = {s: ds[label] for s, ds in raw.items()}
        if self.options.regression:
            return {s: _as_floats(v, where[s]) for s, v in values.items()}
        if self.options.multi_label:
            return self._encode_multi_label(values, where)
        ref = label_source(raw)
        label_map = LabelMap.from_training(values[ref], self.options.labels, where[ref])
        self.label_names = label_map.names
        return {s: label_map.encode_all(v, where[s]) for s, v in values.items()}

    def _encode_multi_label(self, values, where) -> dict[str, list[list[float]]]:
        for split, rows in values.items():
            for row, v in enumerate(rows):
                if not isinstance(v, list):
                    raise DataError(
                        f"{where[split]}: row {row + 1} is {v!r}, not a list of label names",
                        'multi_label expects e.g. ["sports", "politics"] per row',
                    )
        ref = label_source(values)
        flat_train = [x for v in values[ref] for x in v]
        if self.options.labels is None:
            self.label_names = infer_names(flat_train, check_scalar_labels(flat_train, where[ref]))
        index = {name: i for i, name in enumerate(self.label_names)}
        encoded = {}
        for split, rows in values.items():
            encoded[split] = []
            for row, v in enumerate(rows):
                hot = [0.0] * len(self.label_names)
                for name in v:
                    if str(name) not in index:
                        raise DataError(
                            f"{where[split]}: row {row + 1} has label {name!r}, which the "
                            f"training data never has (known: {', '.join(self.label_names)})"
                        )
                    hot[index[str(name)]] = 1.0
                encoded[split].append(hot)
        return encoded

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        texts = batch[self.columns.text]
        pairs = batch[self.columns.pair] if self.columns.pair else None
        enc, truncated = tokenize_counting_truncation(self.tokenizer, texts, pairs, self.max_length)
        rows = {key: enc[key] for key in ("input_ids", "token_type_ids") if key in enc}
        rows["labels"] = batch["_labels"]
        rows["length"] = [len(ids) for ids in enc["input_ids"]]
        rows["truncated"] = truncated
        return rows

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_token_batch(
            examples, {"input_ids": self.tokenizer.pad_token_id, "token_type_ids": 0}
        )
        lengths = torch.tensor([len(ex["input_ids"]) for ex in examples])
        batch["attention_mask"] = (
            torch.arange(batch["input_ids"].shape[1])[None, :] < lengths[:, None]
        ).long()
        dtype = torch.long if self._single_label else torch.float
        batch["labels"] = torch.tensor([ex["labels"] for ex in examples], dtype=dtype)
        return batch

    # ---- model and loss ---------------------------------------------------------------------

    @property
    def _single_label(self) -> bool:
        return not (self.options.regression or self.options.multi_label)

    def model_kwargs(self) -> dict[str, Any]:
        if self.options.regression:
            return {"num_labels": 1, "problem_type": "regression"}
        if not self.label_names:  # names come from the training data
            self._encode_labels(self.read_splits())
        problem = "multi_label_classification" if self.options.multi_label else None
        kwargs = {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {name: i for i, name in enumerate(self.label_names)},
        }
        return kwargs | ({"problem_type": problem} if problem else {})

    def _logits(self, model, batch) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return model(**inputs).logits

    def _per_example_loss(self, logits, labels) -> torch.Tensor:
        if self.options.regression:
            return F.mse_loss(logits.squeeze(-1).float(), labels, reduction="none")
        if self.options.multi_label:
            bce = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
            return bce.mean(-1)
        return F.cross_entropy(logits.float(), labels, reduction="none")

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(batch["labels"].shape[0], device=batch["labels"].device)

    def loss_sum(self, model, batch) -> torch.Tensor:
        return self._per_example_loss(self._logits(model, batch), batch["labels"]).sum()

    # ---- evaluation -------------------------------------------------------------------------

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        logits = self._logits(model, batch)
        losses = self._per_example_loss(logits, batch["labels"])
        if self.options.regression:
            predictions = logits.squeeze(-1).float()
        elif self.options.multi_label:
            predictions = (logits > 0).long()
        else:
            predictions = logits.argmax(-1)
        return {"loss": losses, "predictions": predictions, "labels": batch["labels"]}

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        loss = torch.cat([o["loss"] for o in outputs]).float()
        preds = torch.cat([o["predictions"] for o in outputs]).cpu()
        labels = torch.cat([o["labels"] for o in outputs]).cpu()
        result = {"loss": float(loss.mean())}
        if self.options.regression:
            return result | metrics.regression_scores(preds.tolist(), labels.tolist())
        if self.options.multi_label:
            gold = labels.long()
            scores = metrics.classification_scores(
                preds.flatten().tolist(), gold.flatten().tolist(), average="binary"
            )
            subset = float((preds == gold).all(-1).float().mean())
            return result | scores | {"subset_accuracy": subset}
        return result | metrics.classification_scores(preds.tolist(), labels.tolist())


def _as_floats(values: list[Any], where: str) -> list[float]:
    out = []
    for row, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise DataError(
                f"{where}: row {row + 1} is {v!r}; regression needs a number in every row"
            )
        out.append(float(v))
    return out
