"""Masked language modelling (BERT/RoBERTa style encoders) with dynamic masking.

Each time a row is batched, `mlm_probability` of its tokens (or of its words, with
whole_word_mask) are chosen for prediction; of those 80% become the mask token, 10% a random
token and 10% stay as they are (Devlin et al. 2019). Special tokens are never chosen.
"""

from typing import Any

import torch
import torch.nn.functional as F

from llmkit.errors import ConfigError
from llmkit.models.loss import IGNORE_INDEX, count_loss_tokens, token_losses
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.pretraining import PretrainTaskBase

WORD_START_MARKERS = ("Ġ", "▁")
"""Byte-level BPE (GPT-2, RoBERTa) and metaspace (SentencePiece) mark a word's first token."""
CONTINUATION_MARKER = "##"
"""WordPiece marks every token of a word but the first."""


def word_start_table(tokens: list[str]) -> torch.Tensor:
    """(V,) bool: does token id v start a word? Decided from the vocabulary's marker style."""
    if any(t.startswith(CONTINUATION_MARKER) for t in tokens):
        return torch.tensor([not t.startswith(CONTINUATION_MARKER) for t in tokens])
    for marker in WORD_START_MARKERS:
        if any(t.startswith(marker) for t in tokens):
            return torch.tensor([t.startswith(marker) for t in tokens])
    raise ConfigError(
        "task.whole_word_mask: the tokenizer marks no word boundaries (no '##' continuations, "
        "'Ġ' or '▁' word starts)",
        "use a WordPiece, byte-level BPE or metaspace tokenizer, or set whole_word_mask: false",
    )


class MaskedLMTask(PretrainTaskBase):
    name = "mlm"
    auto_class_name = MODEL_CLASSES[name]

    def read_splits(self):
        splits = super().read_splits()
        self.prepare_masking()
        return splits

    def prepare_masking(self) -> None:
        """The tables masking reads from the tokenizer: special tokens, replacement ids and
        (whole_word_mask) word starts."""
        tok = self.tokenizer
        if tok.mask_token_id is None:
            raise ConfigError(
                "task.type mlm: the tokenizer has no mask token",
                "train a tokenizer with the bert/roberta family's special tokens",
            )
        vocab = len(tok)
        self.special = torch.zeros(vocab, dtype=torch.bool)
        self.special[torch.tensor(tok.all_special_ids, dtype=torch.long)] = True
        self.replacement_ids = (~self.special).nonzero().flatten()
        self.word_starts = None
        if self.spec.task.whole_word_mask:
            self.word_starts = word_start_table(tok.convert_ids_to_tokens(list(range(vocab))))

    def choose_positions(self, ids: torch.Tensor, attention: torch.Tensor | None) -> torch.Tensor:
        """(B, T) bool: the positions that carry loss, drawn from torch's global RNG."""
        special = self.special[ids]
        if attention is not None:
            special |= attention == 0
        p = self.spec.task.mlm_probability
        if self.word_starts is None:
            return (torch.rand(ids.shape) < p) & ~special
        # A word is a start token and the continuations after it; a special token is a word of
        # its own and ends the previous one.
        after_special = F.pad(special[:, :-1], (1, 0), value=True)
        starts = self.word_starts[ids] | special | after_special
        word_index = starts.long().cumsum(dim=1) - 1  # (B, T), 0-based word number in the row
        word_chosen = torch.rand(ids.shape) < p  # one draw per word slot
        return word_chosen.gather(1, word_index) & ~special

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.mask_tokens(self.pad_ids(examples))

    def mask_tokens(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`batch` with input_ids masked and labels set (IGNORE_INDEX where nothing is asked)."""
        ids = batch["input_ids"]
        chosen = self.choose_positions(ids, batch.get("attention_mask"))
        labels = torch.where(chosen, ids, IGNORE_INDEX)
        draw = torch.rand(ids.shape)
        to_mask = chosen & (draw < 0.8)
        to_random = chosen & (draw >= 0.8) & (draw < 0.9)  # the last 10% stay unchanged
        random_ids = self.replacement_ids[
            torch.randint(len(self.replacement_ids), ids.shape, dtype=torch.long)
        ]
        inputs = torch.where(to_mask, self.tokenizer.mask_token_id, ids)
        inputs = torch.where(to_random, random_ids, inputs)
        batch["input_ids"], batch["labels"] = inputs, labels
        return batch

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return count_loss_tokens(batch["labels"])

    def _token_losses(self, model, batch, reduction: str) -> torch.Tensor:
        return token_losses(self.logits(model, batch), batch["labels"], reduction)

    def loss_sum(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._token_losses(model, batch, "sum")

    def evaluate_batch(self, model, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        losses = self._token_losses(model, batch, "none")
        n_items = (batch["labels"] != IGNORE_INDEX).sum(dim=1)
        return {"loss_sum": losses.sum(dim=1), "n_items": n_items}
