"""Masked language modelling (BERT/RoBERTa style encoders) with dynamic masking.

Each time a row is batched, `mlm_probability` of its tokens (or of its words, with
whole_word_mask) are chosen for prediction; of those 80% become the mask token, 10% a random
token and 10% stay as they are (Devlin et al. 2019). Special tokens are never chosen. A row's
draws depend on the batch's seed (the loop seeds each batch by its position) and the row's place
in the batch, never on the batch's other rows.
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

    def choose_positions(
        self, ids: torch.Tensor, special: torch.Tensor, draw: torch.Tensor
    ) -> torch.Tensor:
        """(B, T) bool: the positions that carry loss, given `special` (B, T) positions that
        never do and a uniform `draw` (B, T) per token (whole_word_mask: per word slot)."""
        p = self.spec.task.mlm_probability
        if self.word_starts is None:
            return (draw < p) & ~special
        # A word is a start token and the continuations after it; a special token is a word of
        # its own and ends the previous one.
        after_special = F.pad(special[:, :-1], (1, 0), value=True)
        starts = self.word_starts[ids] | special | after_special
        word_index = starts.long().cumsum(dim=1) - 1  # (B, T), 0-based word number in the row
        return (draw < p).gather(1, word_index) & ~special

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.mask_tokens(self.pad_ids(examples))

    def row_draws(self, lengths: list[int], width: int) -> tuple[torch.Tensor, ...]:
        """Uniform draws (B, width) for choosing and for the 80/10/10 split, and replacement
        ids (B, width). Each value is a hash of the batch's seed (one draw from torch's global
        RNG), the row's place in the batch, the position and the stream: a row's masks do not
        depend on the other rows of its batch nor on its padded width, so a last validation
        batch that accelerate completes with rows from the start masks its real rows as one
        process does. All rows at once: collate runs on every training step. Past a row's
        length: 1.0 (never chosen)."""
        base = torch.randint(2**31, ())
        rows = torch.arange(len(lengths)).unsqueeze(1)
        positions = torch.arange(width).unsqueeze(0)
        row_keys = _mix(base ^ _mix(rows + 1))
        choose, split, pick = (
            _mix(row_keys ^ _mix(positions * 3 + stream + 1)) for stream in range(3)
        )
        past_end = positions >= torch.tensor(lengths).unsqueeze(1)
        to_unit = 1.0 / 2**24  # the top 24 bits: exact in float32
        choose = ((choose >> 8).float() * to_unit).masked_fill_(past_end, 1.0)
        split = ((split >> 8).float() * to_unit).masked_fill_(past_end, 1.0)
        replace = (pick % len(self.replacement_ids)).masked_fill_(past_end, 0)
        return choose, split, replace

    def mask_tokens(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`batch` with input_ids masked and labels set (IGNORE_INDEX where nothing is asked)."""
        ids = batch["input_ids"]
        attention = batch.get("attention_mask")
        special = self.special[ids]
        if attention is None:
            lengths = [ids.shape[1]] * ids.shape[0]
        else:
            special |= attention == 0
            lengths = attention.sum(dim=1).tolist()
        choose, draw, replace = self.row_draws(lengths, ids.shape[1])
        chosen = self.choose_positions(ids, special, choose)
        labels = torch.where(chosen, ids, IGNORE_INDEX)
        to_mask = chosen & (draw < 0.8)
        to_random = chosen & (draw >= 0.8) & (draw < 0.9)  # the last 10% stay unchanged
        random_ids = self.replacement_ids[replace]
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


_MASK32 = 2**32 - 1


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds) in int64 arithmetic: values stay below
    2**32 and the odd multipliers below 2**31, so no product overflows int64."""
    x = x & _MASK32
    for multiplier in (0x7FEB352D, 0x2C1B3C6D, 0x297A2D39):
        x = x ^ (x >> 16)
        x = (x * multiplier) & _MASK32
    return x ^ (x >> 16)
