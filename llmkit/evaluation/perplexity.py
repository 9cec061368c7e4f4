"""Token-weighted perplexity of a causal LM over texts, with a sliding window.

A text longer than the context is scored in windows of `context_length` tokens that advance by
`stride`; each token is scored exactly once, in the first window where it is new, with the
tokens before it in that window as context (the strided method of Hugging Face's perplexity
guide). Perplexity = exp(total NLL / total scored tokens) over all texts, so long texts weigh in
proportion to their tokens, not as one average per text. The first token of each text has no
left context and is not scored (unless the tokenizer adds a BOS token in front of it).
"""

import math
from collections.abc import Sequence

import torch
from accelerate import Accelerator

from llmkit.errors import DataError
from llmkit.evaluation.sharded import eval_accelerator, map_shared_out


def windows(length: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first_scored) per window over a sequence of `length` tokens.

    Positions first_scored..end-1 are scored in that window (position 0 never: nothing predicts
    it). Needs stride <= context, or tokens between windows would be skipped."""
    out, first, begin = [], 1, 0
    while first < length:
        # the first new token needs its predecessor inside the window as context
        begin = min(begin, first - 1)
        end = min(begin + context, length)
        out.append((begin, end, first))
        first = end
        begin += stride
    return out


def _pieces(token_ids: list[list[int]], context: int, stride: int):
    """Every window of every text as (ids, number of scored positions at its end)."""
    for ids in token_ids:
        for begin, end, first in windows(len(ids), context, stride):
            yield ids[begin:end], end - first


def perplexity(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    context_length: int,
    stride: int | None = None,
    batch_size: int = 8,
    acc: Accelerator | None = None,
) -> dict[str, float]:
    """{"perplexity", "loss" (mean NLL per token, nats), "tokens" (scored)}.

    The batches of windows are shared out across `acc`'s processes (one CPU process without
    it); each gives its summed NLL and scored-token count, and the totals of all batches make
    the token-weighted mean, so N processes score as one."""
    stride = stride or max(context_length // 2, 1)
    if stride > context_length:
        raise DataError(
            f"perplexity.stride ({stride}) is larger than the context ({context_length}); "
            "tokens between windows would never be scored"
        )
    token_ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    pieces = sorted(_pieces(token_ids, context_length, stride), key=lambda p: len(p[0]))
    if not pieces:
        raise DataError("no text has two or more tokens; perplexity needs something to predict")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = model.device  # a transformers model's, or an ONNX backend's (CPU)
    batches = [pieces[start : start + batch_size] for start in range(0, len(pieces), batch_size)]
    acc = acc or eval_accelerator(device.type)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            sums = map_shared_out(acc, batches, lambda _, batch: _batch_nll(model, batch, pad))
    finally:
        model.train(was_training)
    total_nll = sum(nll for nll, _ in sums)
    total_tokens = sum(count for _, count in sums)
    loss = total_nll / total_tokens
    return {"perplexity": math.exp(loss), "loss": loss, "tokens": float(total_tokens)}


def _batch_nll(model, pieces, pad: int) -> tuple[float, int]:
    """Summed NLL of the scored positions of a batch of windows (right-padded)."""
    device = model.device
    width = max(len(ids) for ids, _ in pieces)
    input_ids = torch.full((len(pieces), width), pad, dtype=torch.long)
    target_mask = torch.zeros((len(pieces), width), dtype=torch.bool)
    for row, (ids, n_scored) in enumerate(pieces):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        target_mask[row, len(ids) - n_scored : len(ids)] = True
    attention = torch.arange(width)[None, :] < torch.tensor([len(p[0]) for p in pieces])[:, None]
    logits = model(
        input_ids=input_ids.to(device), attention_mask=attention.long().to(device)
    ).logits.float()
    # position t's logits predict token t + 1
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    targets = input_ids[:, 1:].to(device)
    token_nll = -log_probs.gather(-1, targets[..., None]).squeeze(-1)
    mask = target_mask[:, 1:].to(device)
    return float(token_nll[mask].sum()), int(mask.sum())
