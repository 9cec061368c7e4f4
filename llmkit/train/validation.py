"""Validation for the loop and `llmkit eval`'s model mode: the task's metrics over a split,
token-weighted by the task (loss sums and counts per example), gathered across processes."""

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from llmkit.config.train import EvalConfig
from llmkit.errors import UserError
from llmkit.metrics.functions import LOWER_IS_BETTER
from llmkit.train.state import TrainState


def evaluate(acc, task, model, eval_loader, eval_collate, max_batches: int | None) -> dict:
    """The task's metrics over the validation split (or its first eval.max_batches batches)."""
    outputs = gather_outputs(acc, task, model, eval_loader, eval_collate, max_batches)
    return task.compute_metrics(outputs)


def gather_outputs(
    acc, task, model, loader, collate, max_batches: int | None = None
) -> list[dict[str, Any]]:
    """task.evaluate_batch over `loader` (or its first `max_batches` batches), gathered by
    `gather_batches`. Every process gets every output, on the CPU."""
    model.eval()
    collate.start(0)  # the same masks (MLM) at every validation
    # fork: validating must not move the training RNG (dropout draws stay as if it never ran)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        outputs = gather_batches(acc, loader, partial(task.evaluate_batch, model), max_batches)
    model.train()
    return outputs


def gather_batches(
    acc, loader, evaluate: Callable[[Any], Any], max_batches: int | None = None
) -> list[Any]:
    """`evaluate` over the batches of a prepared `loader` (or its first `max_batches`), each
    process evaluating its shard; gather_for_metrics joins them in the loader's order and drops
    the duplicates that pad the last batch, by row: `evaluate` gives one row per example
    (tensors, or a list of picklable values). The one evaluation path of validation and
    `llmkit eval`'s model mode."""
    outputs = []
    for i, batch in enumerate(loader):
        outputs.append(_to_cpu(acc.gather_for_metrics(evaluate(batch))))
        if max_batches is not None and i + 1 >= max_batches:
            loader.end()  # left early: unregister it from accelerate's state
            break
    return outputs


def greater_is_better(cfg: EvalConfig) -> bool:
    """Direction of eval.best_metric: as configured, else lower for errors (loss, perplexity,
    mse, ter) and higher for every other score."""
    if cfg.greater_is_better is not None:
        return cfg.greater_is_better
    return cfg.best_metric not in LOWER_IS_BETTER


def track_best(state: TrainState, metrics: dict[str, float], cfg: EvalConfig) -> bool:
    """Record a new best eval.best_metric in `state`; True when early stopping should end the
    run (eval.early_stopping_patience validations without improvement)."""
    name = cfg.best_metric
    if name not in metrics:
        raise UserError(
            f"train.eval.best_metric '{name}' is not among this task's metrics: "
            f"{', '.join(metrics)}"
        )
    if state.improves(metrics[name], greater_is_better(cfg)):
        state.best_metric, state.best_step = metrics[name], state.step
        state.evals_without_improvement = 0
    else:
        state.evals_without_improvement += 1
    patience = cfg.early_stopping_patience
    return patience is not None and state.evals_without_improvement >= patience


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
