"""Sequence-to-sequence finetuning (translation, summarization) of encoder–decoder models.

Columns (data.columns): source and target (a dotted path such as translation.en reads nested
JSON). Targets end with EOS so the model learns to stop; padding in labels is -100 (no loss).
Validation generates in batches (the model's KV cache, greedy by default) and scores the text
with sacreBLEU or ROUGE, next to the teacher-forced loss.
"""

from typing import Any

import torch
import torch.nn.functional as F
from datasets import DatasetDict

from llmkit.errors import ConfigError, DataError
from llmkit.metrics import functions as metrics
from llmkit.models.decoding import generation_config
from llmkit.models.loss import IGNORE_INDEX, example_losses
from llmkit.models.properties import max_positions
from llmkit.tasks.batching import pad_ids_and_labels
from llmkit.tasks.finetune_common import (
    FinetuneTaskBase,
    PerTokenLabelLoss,
    load_task_splits,
    pretrained_config,
    tokenize_counting_truncation,
    tokenize_splits,
)
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import FinetuneSpec


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model under a DistributedDataParallel (or compile) wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def decoder_position_limit(spec) -> int | None:
    """How many positions the decoder's position table holds (BART and Marian: learned or
    fixed sinusoidal tables of max_position_embeddings rows); None for relative positions (T5),
    which have no limit."""
    if spec.model.pretrained is None:
        return None if spec.model.family == "t5" else spec.model.context_length
    return max_positions(pretrained_config(spec), decoder=True)


class Seq2SeqTask(PerTokenLabelLoss, FinetuneTaskBase):
    name = "seq2seq"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "SEQ_2_SEQ_LM"

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options = spec.task
        self.columns = spec.columns
        self.max_source_length = self.options.max_source_length or self.max_length
        if self.max_source_length > self.max_length:
            raise ConfigError(
                f"task.max_source_length ({self.max_source_length}) exceeds the model's "
                f"{self.max_length} positions",
                f"set task.max_source_length to at most {self.max_length}",
            )
        self._check_decoder_lengths(decoder_position_limit(spec))

    def _check_decoder_lengths(self, limit: int | None) -> None:
        """Targets (teacher forcing) and generated outputs past the decoder's position table
        would end in an IndexError mid-run; refuse them before training starts."""
        if limit is None:
            return
        lengths = {"task.max_target_length": self.options.max_target_length}
        if self.spec.has_validation:
            # validation generates; the decoder reads its start token and all but the last
            # new token, so max_new_tokens positions
            lengths["task.generation.max_new_tokens"] = self.options.generation.max_new_tokens
        for key, length in lengths.items():
            if length > limit:
                raise ConfigError(
                    f"{key} ({length}) exceeds the {limit} positions of the model's decoder",
                    f"set {key} to at most {limit} or give the model more positions "
                    "(model.context_length, for a model built from config)",
                )

    def read_splits(self) -> DatasetDict:
        source, target = self.columns.source, self.columns.target
        return load_task_splits(self.spec, [source, target], [source, target], self.report)

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        for split, ds in raw.items():
            self._check_targets(ds, split)
        counted = {
            "source_truncated": "sources_truncated",
            "target_truncated": "targets_truncated",
        }
        return tokenize_splits(raw, self._tokenize, self.report, counted)

    def _check_targets(self, ds, split: str) -> None:
        for column in (self.columns.source, self.columns.target):
            for row, text in enumerate(ds[column]):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(
                        f"data.{split}: row {row + 1} has an empty {column!r}",
                        "remove the row or fill it in; an empty target would teach the model "
                        "to output nothing",
                    )

    def _tokenize(self, batch: dict[str, list]) -> dict[str, list]:
        sources = [self.options.source_prefix + s for s in batch[self.columns.source]]
        enc, src_cut = tokenize_counting_truncation(
            self.tokenizer, sources, None, self.max_source_length
        )
        targets = self.tokenizer(text_target=batch[self.columns.target])["input_ids"]
        eos = self.tokenizer.eos_token_id
        labels, tgt_cut = [], []
        for ids in targets:
            if eos is not None and (not ids or ids[-1] != eos):
                ids = ids + [eos]  # tokenizers without a post-processor add no EOS
            cut = len(ids) > self.options.max_target_length
            if cut:
                keep = self.options.max_target_length - (1 if eos is not None else 0)
                ids = ids[:keep] + ([eos] if eos is not None else [])
            labels.append(ids)
            tgt_cut.append(cut)
        return {
            "input_ids": enc["input_ids"],
            "labels": labels,
            "length": [len(s) + len(t) for s, t in zip(enc["input_ids"], labels, strict=True)],
            "source_truncated": src_cut,
            "target_truncated": tgt_cut,
        }

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_ids_and_labels(examples, self.tokenizer.pad_token_id)

    def _logits(self, model, batch) -> torch.Tensor:
        decoder_input_ids = unwrap(model).prepare_decoder_input_ids_from_labels(
            labels=batch["labels"]
        )
        return model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=decoder_input_ids,
        ).logits

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        loss_sums, counts = example_losses(self._logits(model, batch).float(), batch["labels"])
        base = unwrap(model)
        settings = self.options.generation
        gen_config = generation_config(base, self.tokenizer, settings)
        generated = base.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            generation_config=gen_config,
        )
        pad = self.tokenizer.pad_token_id
        # fixed widths so batches from several processes gather into one tensor
        pred_width = settings.max_new_tokens + 1  # + the decoder start token
        return {
            "loss_sum": loss_sums,
            "count": counts,
            "predictions": F.pad(generated, (0, pred_width - generated.shape[1]), value=pad),
            "references": F.pad(
                batch["labels"],
                (0, self.options.max_target_length - batch["labels"].shape[1]),
                value=IGNORE_INDEX,
            ),
        }

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        loss = sum(float(o["loss_sum"].sum()) for o in outputs)
        count = sum(int(o["count"].sum()) for o in outputs)
        predictions = torch.cat([o["predictions"] for o in outputs]).cpu()
        references = torch.cat([o["references"] for o in outputs]).cpu()
        references = references.masked_fill(references == IGNORE_INDEX, self.tokenizer.pad_token_id)
        hyps = self.tokenizer.batch_decode(predictions, skip_special_tokens=True)
        refs = self.tokenizer.batch_decode(references, skip_special_tokens=True)
        hyps, refs = [h.strip() for h in hyps], [r.strip() for r in refs]
        result = {"loss": loss / max(count, 1)}
        if self.options.metric == "rouge":
            return result | metrics.rouge(hyps, refs)
        if self.options.metric == "chrf":
            return result | {"chrf": metrics.chrf(hyps, [refs])["chrf"]}
        return result | {"bleu": metrics.bleu(hyps, [refs])["bleu"]}
