"""Extractive question answering (SQuAD v1.1 / v2.0): the answer is a span of the context.

Columns (data.columns): question, context, answer_text and answer_start (lists per row, dotted
paths into nested JSON such as SQuAD's answers.text; empty lists: no answer). Each question and
its context become windows of at most max_length tokens, [CLS] question [SEP] context-part
[SEP], consecutive windows sharing doc_stride context tokens. A window's labels are the first
and last token of the gold answer (the first answer of the row), or the CLS token when the
answer is not inside it. Batches are padded to their longest window, not to max_length.

Validation predicts, for each question, the best valid span over all its windows (see
tasks/qa_spans.py) and scores it with the official SQuAD v2.0 exact match and F1
(llmkit.metrics.squad).
"""

from typing import Any

import torch
import torch.nn.functional as F
from datasets import DatasetDict

from llmkit.config.finetune import QuestionAnsweringTask as QAOptions
from llmkit.data.sources import require_columns
from llmkit.errors import ConfigError, DataError
from llmkit.metrics.squad import squad_scores
from llmkit.tasks.batching import pad_token_batch
from llmkit.tasks.finetune_common import FinetuneTaskBase, load_task_splits, tokenize_splits
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.qa_checks import RowProblems, check_rows
from llmkit.tasks.qa_spans import (
    NOT_CONTEXT,
    WindowSpans,
    answer_token_span,
    answers_over_windows,
    best_window_spans,
)
from llmkit.tasks.spec import FinetuneSpec

_MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


class QuestionAnsweringTask(FinetuneTaskBase):
    name = "question-answering"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "QUESTION_ANS"
    groups_by_length_by_default = True  # full and short windows mixed: see BatchingConfig

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options: QAOptions = spec.task
        self.columns = spec.columns
        self._raw: DatasetDict | None = None
        self.examples: list[dict[str, Any]] = []
        """The evaluated questions (every split but train): id, context and gold answers; a
        window's `example` indexes this list."""
        self.predictions: dict[int, str] = {}
        """The last compute_metrics' predicted answer per index into `examples`."""
        if not self.tokenizer.is_fast:
            raise DataError("question-answering needs a fast tokenizer (offset mapping)")
        self._check_window_room(spec.options_key)

    def _check_window_room(self, key: str) -> None:
        """doc_stride below what a window leaves for the context, else the tokenizer stops
        mid-run; the special tokens are the tokenizer's own ([CLS] A [SEP] B [SEP] holds 3,
        RoBERTa's <s> A </s></s> B </s> 4)."""
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        room = self.max_length - self.options.max_question_length - specials
        if room < 1 or self.options.doc_stride >= room:
            raise ConfigError(
                f"{key}.doc_stride ({self.options.doc_stride}) must be below the context room "
                f"of a window: max_length {self.max_length} - max_question_length "
                f"{self.options.max_question_length} - {specials} special tokens = {room}",
                f"lower {key}.doc_stride or {key}.max_question_length, or raise max_length",
            )

    # ---- data -------------------------------------------------------------------------------

    @property
    def _answer_columns(self) -> list[str]:
        c = self.columns
        return [c.question, c.context, c.answer_text, c.answer_start]

    def read_splits(self) -> DatasetDict:
        if self._raw is None:
            # no text cleaning: it would move the characters answer_start points at
            self._raw = load_task_splits(self.spec, [], self._answer_columns, self.report)
        return self._raw

    def _where(self, split: str) -> str:
        if split in self.report.split_names:
            return self.report.split_names[split]
        files = getattr(self.spec.data, split, None) if self.spec.data is not None else None
        files = files if files is not None else self.spec.data.train
        return f"data.{split} ({files})"

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        checked = {}
        for split, ds in raw.items():
            # nested answers (SQuAD's answers.text) become columns of their own
            ds = require_columns(ds, self._answer_columns, self._where(split))
            problems = RowProblems(self._where(split), self.spec.options_key)
            training = split == "train"
            skip = self.options.bad_rows == "skip"
            kept, answers = check_rows(ds, self.columns, problems, skip, training)
            problems.report(self.report, split, training)
            ds = ds.select(kept) if len(kept) < len(ds) else ds
            ds = ds.add_column("_answer", answers)
            if split != "train":
                ds = ds.add_column("_example", self._register(ds))
            checked[split] = ds
            self.report.record(split, questions=len(ds))  # tokenize_splits adds rows = windows
        counted = {"question_truncated": "questions_truncated"}
        return tokenize_splits(checked, self._tokenize, self.report, counted, desc="windowing")

    def _register(self, ds) -> list[int]:
        """Adds a split's questions to `examples`; returns their indices."""
        first = len(self.examples)
        has_ids = self.columns.id in ds.column_names
        ids = ds[self.columns.id] if has_ids else [str(first + i + 1) for i in range(len(ds))]
        for qid, context, texts in zip(
            ids, ds[self.columns.context], ds[self.columns.answer_text], strict=True
        ):
            self.examples.append({"id": str(qid), "context": context, "answers": list(texts)})
        return list(range(first, len(self.examples)))

    def _questions(self, questions: list[str]) -> tuple[list[str], list[bool]]:
        """Questions without leading whitespace (run_qa.py strips it: some SQuAD questions
        start with many spaces), cut to max_question_length tokens."""
        questions = [q.lstrip() for q in questions]
        limit = self.options.max_question_length
        enc = self.tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        cut = [len(ids) > limit for ids in enc["input_ids"]]
        for i in (i for i, long in enumerate(cut) if long):
            questions[i] = questions[i][: enc["offset_mapping"][i][limit - 1][1]]
        return questions, cut

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        questions, cut = self._questions(batch[self.columns.question])
        enc = self.tokenizer(
            questions,
            batch[self.columns.context],
            truncation="only_second",
            max_length=self.max_length,
            stride=self.options.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_attention_mask=False,
        )
        evaluated = "_example" in batch
        rows: dict[str, list] = {key: [] for key in ("input_ids", "start_positions")}
        rows |= {key: [] for key in ("end_positions", "cls_index", "length")}
        rows |= {key: [] for key in ("offset_start", "offset_end", "example")} if evaluated else {}
        if "token_type_ids" in enc:
            rows["token_type_ids"] = enc["token_type_ids"]
        for w, row in enumerate(enc["overflow_to_sample_mapping"]):
            ids, offsets = enc["input_ids"][w], enc["offset_mapping"][w]
            in_context = [s == 1 for s in enc.sequence_ids(w)]
            cls = (
                ids.index(self.tokenizer.cls_token_id) if self.tokenizer.cls_token_id in ids else 0
            )
            answer = batch["_answer"][row]
            span = answer_token_span(offsets, in_context, *answer) if answer else None
            rows["input_ids"].append(ids)
            rows["start_positions"].append(span[0] if span else cls)
            rows["end_positions"].append(span[1] if span else cls)
            rows["cls_index"].append(cls)
            rows["length"].append(len(ids))
            if evaluated:
                rows["offset_start"].append(_context_offsets(offsets, in_context, 0))
                rows["offset_end"].append(_context_offsets(offsets, in_context, 1))
                rows["example"].append(batch["_example"][row])
        # counted once per question: on its first window
        first = [w == 0 or r != prev for w, (r, prev) in enumerate(_pairs(enc))]
        rows["question_truncated"] = [
            cut[r] and f for r, f in zip(enc["overflow_to_sample_mapping"], first, strict=True)
        ]
        return rows

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pads = {"input_ids": self.tokenizer.pad_token_id, "token_type_ids": 0}
        pads |= {"offset_start": NOT_CONTEXT, "offset_end": NOT_CONTEXT}
        batch = pad_token_batch(examples, pads)
        lengths = torch.tensor([len(ex["input_ids"]) for ex in examples])
        width = batch["input_ids"].shape[1]
        batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
        for key in ("start_positions", "end_positions", "cls_index", "example"):
            if key in examples[0]:
                batch[key] = torch.tensor([ex[key] for ex in examples])
        return batch

    # ---- model and loss ---------------------------------------------------------------------

    def _logits(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(**{k: batch[k] for k in _MODEL_INPUTS if k in batch})
        return out.start_logits.float(), out.end_logits.float()

    def _per_window_loss(self, start_logits, end_logits, batch) -> torch.Tensor:
        start = F.cross_entropy(start_logits, batch["start_positions"], reduction="none")
        end = F.cross_entropy(end_logits, batch["end_positions"], reduction="none")
        return (start + end) / 2  # as transformers' *ForQuestionAnswering heads

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(batch["input_ids"].shape[0], device=batch["input_ids"].device)

    def loss_sum(self, model, batch) -> torch.Tensor:
        return self._per_window_loss(*self._logits(model, batch), batch).sum()

    # ---- evaluation -------------------------------------------------------------------------

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        start_logits, end_logits = self._logits(model, batch)
        spans = best_window_spans(
            start_logits, end_logits, batch["offset_start"], batch["offset_end"],
            batch["attention_mask"], batch["cls_index"],
            self.options.n_best, self.options.max_answer_length,
        )  # fmt: skip
        return {
            "loss": self._per_window_loss(start_logits, end_logits, batch),
            "example": batch["example"],
            "span_score": spans.span_score,
            "start_char": spans.start_char,
            "end_char": spans.end_char,
            "null_score": spans.null_score,
        }

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        joined = {key: torch.cat([o[key] for o in outputs]) for key in outputs[0]}
        examples = joined["example"].tolist()
        spans = WindowSpans(
            joined["span_score"], joined["start_char"], joined["end_char"], joined["null_score"]
        )
        contexts = {e: self.examples[e]["context"] for e in set(examples)}
        self.predictions = answers_over_windows(
            examples, spans, contexts, self.options.allow_no_answer, self.options.null_threshold
        )
        references = {str(e): self.examples[e]["answers"] for e in self.predictions}
        predicted = {str(e): text for e, text in self.predictions.items()}
        return {"loss": float(joined["loss"].mean())} | squad_scores(predicted, references)


def _context_offsets(offsets, in_context: list[bool], side: int) -> list[int]:
    return [
        o[side] if inside else NOT_CONTEXT for o, inside in zip(offsets, in_context, strict=True)
    ]


def _pairs(enc):
    mapping = enc["overflow_to_sample_mapping"]
    return zip(mapping, [None, *mapping[:-1]], strict=True)
