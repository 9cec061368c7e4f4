"""Multiple choice (SWAG, HellaSwag): a premise, N candidate endings, the index of the right one.

Each choice is the pair (premise, ending_start + " " + ending), as transformers' run_swag.py
builds it; the model (AutoModelForMultipleChoice) scores every choice and a softmax over the
choices of an example is trained with cross-entropy. Batches are (batch, choices, tokens),
padded to their own longest choice.

Rows are read as they are in the files: the text cleaning and de-duplication of the other tasks
do not apply (an empty ending is a missing choice, not an empty document), so a row number in an
error is the file's own data row. With task.pad_choices, rows may have fewer choices than others:
a missing choice is a one-token placeholder whose logit is set to -inf, so it is never predicted
and gets no probability.
"""

from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict

from llmkit.config.finetune import MultipleChoiceTask as MultipleChoiceOptions
from llmkit.data.sources import SPLITS, read_split, require_columns
from llmkit.data.splitting import split_data
from llmkit.errors import DataError
from llmkit.tasks.base import TaskData
from llmkit.tasks.finetune_common import (
    FinetuneTaskBase,
    tokenize_counting_truncation,
    tokenize_splits,
)
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import FinetuneSpec


class MultipleChoiceTask(FinetuneTaskBase):
    name = "multiple-choice"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "SEQ_CLS"  # peft has no multiple-choice type; this keeps `classifier` trained

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options: MultipleChoiceOptions = spec.task
        self.columns = spec.columns
        self._raw: DatasetDict | None = None

    # ---- reading and checking rows ------------------------------------------------------------

    def prepare_data(self, rows: Dataset | None = None) -> TaskData:
        if rows is not None:  # `llmkit eval`'s rows: checked as the training files are
            where = self.report.split_names.get("eval", "eval data")
            rows = self.checked_rows(
                require_columns(rows, self._needed_columns(), where), where, "eval"
            )
        return super().prepare_data(rows)

    @property
    def _ending_columns(self) -> list[str]:
        endings = self.columns.endings
        return list(endings) if isinstance(endings, list) else [endings]

    def _needed_columns(self) -> list[str]:
        start = [self.columns.ending_start] if self.columns.ending_start else []
        return [self.columns.premise, *start, *self._ending_columns, self.columns.label]

    def row_endings(self, row: dict[str, Any]) -> list[str | None]:
        """A row's endings in choice order; None for a missing one (an empty ending column)."""
        if isinstance(self.columns.endings, str):
            values = row[self.columns.endings]
            return [] if values is None else list(values)
        return [row[c] if row[c] not in (None, "") else None for c in self.columns.endings]

    def read_splits(self) -> DatasetDict:
        if self._raw is not None:
            return self._raw
        data = self.spec.data
        read = {}
        for name in SPLITS:
            ds = read_split(data, name)[0]
            if ds is None:
                continue
            where = f"data.{name} ({getattr(data, name)})"
            ds = require_columns(ds, self._needed_columns(), where)
            read[name] = self.checked_rows(ds, where, name)
        self._raw = DatasetDict(split_data(data, self.spec.split, read))
        return self._raw

    def checked_rows(self, ds: Dataset, where: str, split: str) -> Dataset:
        """`ds` without its bad-label rows (task.bad_rows: skip, counted), or a DataError naming
        the first bad row; a row with another number of endings is an error unless pad_choices."""
        expected = None if self.options.pad_choices else self._expected_choices(ds)
        bad = []
        for index, row in enumerate(ds):
            endings = self.row_endings(row)
            if expected is not None and _present(endings) != expected:
                raise DataError(
                    f"{where}: row {index + 1} has {_present(endings)} endings where the rows "
                    f"before it have {expected}",
                    "set task.pad_choices: true to allow a varying number of choices",
                )
            problem = _label_problem(row[self.columns.label], endings)
            if problem is None:
                continue
            if self.options.bad_rows == "error":
                raise DataError(
                    f"{where}: row {index + 1}: label {row[self.columns.label]!r} {problem}",
                    "fix the row, or set task.bad_rows: skip to skip and count such rows",
                )
            bad.append(index)
        if bad:
            self.report.record(split, skipped_bad_label=len(bad))
            keep = sorted(set(range(len(ds))) - set(bad))
            ds = ds.select(keep)
        if len(ds) == 0:
            raise DataError(f"{where}: no row is left after skipping bad labels")
        return ds

    def _expected_choices(self, ds: Dataset) -> int | None:
        return _present(self.row_endings(ds[0])) if len(ds) else None

    # ---- tokenization and batches -------------------------------------------------------------

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        """Raw rows → per row: input_ids and token_type_ids (a list per choice, [] for a missing
        one), labels, length (of the longest choice)."""
        return tokenize_splits(raw, self._tokenize, self.report, {"truncated": "truncated"})

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        rows = [
            dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)
        ]
        premises, seconds, owners = [], [], []
        choices = []
        for r, row in enumerate(rows):
            endings = self.row_endings(row)
            choices.append(endings)
            start = row[self.columns.ending_start] if self.columns.ending_start else None
            for ending in endings:
                if ending is not None:
                    premises.append(str(row[self.columns.premise]))
                    seconds.append(f"{start or ''} {ending}".strip())
                    owners.append(r)
        enc, truncated = tokenize_counting_truncation(
            self.tokenizer, premises, seconds, self.max_length
        )
        types = enc.get("token_type_ids")
        out = {"input_ids": [], "token_type_ids": [], "labels": [], "length": [], "truncated": []}
        flat = iter(range(len(owners)))
        for r, endings in enumerate(choices):
            ids, type_ids, cut = [], [], False
            for ending in endings:
                if ending is None:
                    ids.append([])
                    type_ids.append([])
                    continue
                i = next(flat)
                ids.append(enc["input_ids"][i])
                type_ids.append(types[i] if types is not None else [0] * len(enc["input_ids"][i]))
                cut = cut or truncated[i]
            out["input_ids"].append(ids)
            out["token_type_ids"].append(type_ids)
            out["labels"].append(int(rows[r][self.columns.label]))
            out["length"].append(max(len(x) for x in ids))
            out["truncated"].append(cut)
        return out

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """(B, C, T) input_ids/token_type_ids/attention_mask padded to the batch's most choices
        and longest choice; choice_mask (B, C) marks the real choices."""
        n_choices = max(len(ex["input_ids"]) for ex in examples)
        width = max(len(ids) for ex in examples for ids in ex["input_ids"])
        shape = (len(examples), n_choices, width)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full(shape, pad, dtype=torch.long)
        token_types = torch.zeros(shape, dtype=torch.long)
        attention = torch.zeros(shape, dtype=torch.long)
        choice_mask = torch.zeros(shape[:2], dtype=torch.bool)
        for b, ex in enumerate(examples):
            for c in range(n_choices):
                ids = ex["input_ids"][c] if c < len(ex["input_ids"]) else []
                if not ids:  # a missing choice: one attended token, so no row is all padding
                    attention[b, c, 0] = 1
                    continue
                input_ids[b, c, : len(ids)] = torch.tensor(ids)
                token_types[b, c, : len(ids)] = torch.tensor(ex["token_type_ids"][c])
                attention[b, c, : len(ids)] = 1
                choice_mask[b, c] = True
        batch = {"input_ids": input_ids, "attention_mask": attention, "choice_mask": choice_mask}
        if "token_type_ids" in self.tokenizer.model_input_names:
            batch["token_type_ids"] = token_types
        batch["labels"] = torch.tensor([ex["labels"] for ex in examples], dtype=torch.long)
        return batch

    # ---- model, loss, metrics -----------------------------------------------------------------

    def _logits(self, model, batch) -> torch.Tensor:
        """(B, C) float logits; a missing choice's is -inf."""
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "choice_mask")}
        logits = model(**inputs).logits.float()
        return logits.masked_fill(~batch["choice_mask"], float("-inf"))

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(batch["labels"].shape[0], device=batch["labels"].device)

    def loss_sum(self, model, batch) -> torch.Tensor:
        return F.cross_entropy(self._logits(model, batch), batch["labels"], reduction="sum")

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        logits = self._logits(model, batch)
        losses = F.cross_entropy(logits, batch["labels"], reduction="none")
        return {"loss": losses, "predictions": logits.argmax(-1), "labels": batch["labels"]}

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        loss = torch.cat([o["loss"] for o in outputs]).float()
        predictions = torch.cat([o["predictions"] for o in outputs])
        labels = torch.cat([o["labels"] for o in outputs])
        accuracy = (predictions == labels).float().mean()
        return {"loss": float(loss.mean()), "accuracy": float(accuracy)}


def _present(endings: list[str | None]) -> int:
    return sum(e is not None for e in endings)


def _label_problem(label: Any, endings: list[str | None]) -> str | None:
    """Why `label` cannot be the index of the right ending of `endings`, or None."""
    if isinstance(label, bool) or not isinstance(label, int):
        if isinstance(label, str) and label.strip().isdigit():
            label = int(label)
        else:
            return "is not an ending's index (an integer)"
    if not 0 <= label < len(endings):
        return f"is out of range: the row has endings 0–{len(endings) - 1}"
    if endings[label] is None:
        return f"points at ending {label}, which is empty"
    return None
