"""Validation for the loop: the task's metrics over the validation split, token-weighted by the
task (loss sums and counts per example), gathered across processes."""

from typing import Any

import torch


def evaluate(acc, task, model, eval_loader, eval_collate, max_batches: int | None) -> dict:
    """The task's metrics over the validation split (or its first eval.max_batches batches),
    each process evaluating its shard; gather_for_metrics drops the padding duplicates."""
    model.eval()
    eval_collate.start(0)  # the same masks (MLM) at every validation
    outputs = []
    # fork: validating must not move the training RNG (dropout draws stay as if it never ran)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for i, batch in enumerate(eval_loader):
            gathered = acc.gather_for_metrics(task.evaluate_batch(model, batch))
            outputs.append(_to_cpu(gathered))
            if max_batches is not None and i + 1 >= max_batches:
                eval_loader.end()  # left early: unregister it from accelerate's state
                break
    model.train()
    return task.compute_metrics(outputs)


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
