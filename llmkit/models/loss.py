"""The token loss every language-modelling task shares, and the label that carries no loss."""

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
"""Label value that carries no loss (transformers' and PyTorch's cross-entropy convention)."""


def next_token_labels(labels: torch.Tensor) -> torch.Tensor:
    """(B, T) labels → (B, T) targets of a causal LM: position t predicts token t + 1; the last
    position predicts nothing."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


def token_losses(logits: torch.Tensor, labels: torch.Tensor, reduction: str) -> torch.Tensor:
    """Cross-entropy of (B, T, V) logits against (B, T) labels; IGNORE_INDEX positions carry
    none. reduction "sum" gives a 0-dim sum, "none" a (B, T) tensor. The caller decides the
    logits' dtype (upcasting a whole vocabulary of bf16 logits costs memory)."""
    losses = F.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )  # fmt: skip
    return losses if reduction != "none" else losses.view(labels.shape)


def example_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, positions carrying loss) per example of a batch, two (B,) tensors: the rows
    a task's evaluate_batch gives, so that gather_for_metrics can drop the duplicated examples
    that pad the last batch of a multi-process evaluation (a per-batch sum cannot be split)."""
    losses = token_losses(logits, labels, "none")
    return losses.sum(dim=1), (labels != IGNORE_INDEX).sum(dim=1)


def count_loss_tokens(labels: torch.Tensor) -> torch.Tensor:
    """How many positions of `labels` carry loss."""
    return (labels != IGNORE_INDEX).sum()
