"""Causal language modelling: predict every next token (GPT-2, LLaMA style decoders)."""

from typing import Any

import torch
from transformers import GenerationConfig

from llmkit.models.loss import IGNORE_INDEX, count_loss_tokens, next_token_labels, token_losses
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.pretraining import PretrainTaskBase


class CausalLMTask(PretrainTaskBase):
    name = "clm"
    auto_class_name = MODEL_CLASSES[name]

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.pad_ids(examples)
        labels = batch["input_ids"].clone()
        if "attention_mask" in batch:
            labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels  # the loss shifts them: position t predicts token t + 1
        return batch

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return count_loss_tokens(batch["labels"][:, 1:])

    def logits(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # Training never reuses keys/values: building the KV cache would be wasted work per step.
        return model(
            input_ids=batch["input_ids"],
            attention_mask=batch.get("attention_mask"),
            use_cache=False,
        ).logits

    def _token_losses(self, model, batch, reduction: str) -> torch.Tensor:
        targets = next_token_labels(batch["labels"])
        return token_losses(self.logits(model, batch), targets, reduction)

    def loss_sum(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._token_losses(model, batch, "sum")

    def evaluate_batch(self, model, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        losses = self._token_losses(model, batch, "none")
        n_items = (next_token_labels(batch["labels"]) != IGNORE_INDEX).sum(dim=1)
        return {"loss_sum": losses.sum(dim=1), "n_items": n_items}

    def save_artifacts(self, model: torch.nn.Module, output_dir: str) -> None:
        super().save_artifacts(model, output_dir)
        tok = self.tokenizer
        eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        bos = tok.bos_token_id if tok.bos_token_id is not None else eos
        GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad).save_pretrained(
            output_dir
        )
