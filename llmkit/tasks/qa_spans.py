"""Extractive QA's spans: the token span of a gold answer in a window (training labels), the
best valid span of each window (vectorized), and the answer of a question over all its windows.

A window is one slice of [CLS] question [SEP] context-part [SEP] from the tokenizer's
overflowing tokens; its context tokens carry their character offsets in the context, all other
tokens (special, question, padding) carry -1 and can never start or end an answer.
"""

from dataclasses import dataclass

import torch

NOT_CONTEXT = -1
"""The character offset of a token that is not part of the context."""


def answer_token_span(
    offsets: list[tuple[int, int]], in_context: list[bool], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """The first and last token of the window that cover [start_char, end_char) of the
    context, or None when the answer is not wholly inside this window's part of the context
    (the window's label is then the CLS token, as in run_qa.py)."""
    context = [i for i, inside in enumerate(in_context) if inside]
    if not context:
        return None
    first, last = context[0], context[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return None
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


@dataclass
class WindowSpans:
    """Per window: the best valid span's score and character range (score -inf and offsets
    -1 when the window has no valid span), and the null score (start and end on CLS)."""

    span_score: torch.Tensor
    start_char: torch.Tensor
    end_char: torch.Tensor
    null_score: torch.Tensor


def best_window_spans(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    offset_start: torch.Tensor,
    offset_end: torch.Tensor,
    attention_mask: torch.Tensor,
    cls_index: torch.Tensor,
    n_best: int,
    max_answer_length: int,
) -> WindowSpans:
    """The highest start + end score over the spans of each window (batch, length) that start
    among its n_best highest start scores and end among its n_best highest end scores, start
    and end on context tokens, end ≥ start and span at most max_answer_length tokens."""
    start_logits, end_logits = start_logits.float(), end_logits.float()
    real = attention_mask.bool()
    context = offset_start >= 0
    valid_start = context & _top_n(start_logits.masked_fill(~real, -torch.inf), n_best)
    valid_end = context & _top_n(end_logits.masked_fill(~real, -torch.inf), n_best)
    length = start_logits.shape[1]
    positions = torch.arange(length, device=start_logits.device)
    width = positions[None, :] - positions[:, None]  # [start, end] → end - start
    ordered = (width >= 0) & (width < max_answer_length)
    valid = valid_start[:, :, None] & valid_end[:, None, :] & ordered[None]
    scores = (start_logits[:, :, None] + end_logits[:, None, :]).masked_fill(~valid, -torch.inf)
    best, flat = scores.flatten(1).max(dim=1)
    start, end = flat // length, flat % length
    has_span = torch.isfinite(best)
    start_char = offset_start.gather(1, start[:, None]).squeeze(1)
    end_char = offset_end.gather(1, end[:, None]).squeeze(1)
    rows = torch.arange(len(cls_index), device=cls_index.device)
    null = start_logits[rows, cls_index] + end_logits[rows, cls_index]
    return WindowSpans(
        span_score=best,
        start_char=start_char.masked_fill(~has_span, NOT_CONTEXT),
        end_char=end_char.masked_fill(~has_span, NOT_CONTEXT),
        null_score=null,
    )


def _top_n(logits: torch.Tensor, n: int) -> torch.Tensor:
    """Marks the n highest scores of each row (all of a row shorter than n)."""
    top = torch.zeros_like(logits, dtype=torch.bool)
    picked = logits.topk(min(n, logits.shape[1]), dim=1).indices
    return top.scatter(1, picked, True) & torch.isfinite(logits)


def answers_over_windows(
    examples: list[int],
    spans: WindowSpans,
    contexts: dict[int, str],
    allow_no_answer: bool,
    null_threshold: float,
) -> dict[int, str]:
    """{example: predicted text}: the best span over all windows of each example; with
    allow_no_answer, "" when the example's lowest null score minus that span's score is above
    null_threshold (run_qa.py's postprocess_qa_predictions), or when no window has a span."""
    best: dict[int, tuple[float, int, int]] = {}
    null: dict[int, float] = {}
    rows = zip(
        examples,
        spans.span_score.tolist(),
        spans.start_char.tolist(),
        spans.end_char.tolist(),
        spans.null_score.tolist(),
        strict=True,
    )
    for example, score, start, end, null_score in rows:
        null[example] = min(null.get(example, null_score), null_score)
        if start >= 0 and (example not in best or score > best[example][0]):
            best[example] = (score, start, end)
    answers = {}
    for example in null:
        if example not in best:
            answers[example] = ""
            continue
        score, start, end = best[example]
        no_answer = allow_no_answer and null[example] - score > null_threshold
        answers[example] = "" if no_answer else contexts[example][start:end]
    return answers
