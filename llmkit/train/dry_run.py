"""`--dry-run`: everything a run would do before it spends compute, then one real optimizer step.

Prints the preflight report (parameters, memory per device, tokens per optimizer step, steps per
epoch), one training batch decoded with the loss positions marked, runs a single optimizer step
to prove the model, data and loss fit together, and writes nothing.
"""

import math

import torch

from llmkit.errors import TrainingDiverged
from llmkit.train.batches import micro_batch_stream
from llmkit.train.preflight import describe_batch, print_preflight
from llmkit.train.setup import Run
from llmkit.train.step import optimizer_step
from llmkit.train.tracking import MetricWindow


def dry_run(run: Run) -> dict[str, float]:
    """Returns {"loss": …} of the one optimizer step (the loss before the update)."""
    acc, cfg = run.accelerator, run.train_cfg
    stream = micro_batch_stream(run.train_loader, run.train_collate, 0, 0)
    micro_batches = [batch for batch, _, _ in (next(stream) for _ in range(cfg.grad_accum_steps))]
    first = micro_batches[0]
    if acc.is_main_process:
        print_preflight(
            acc.unwrap_model(run.model),
            cfg,
            seq_len=int(first["input_ids"][0].numel()),  # multiple choice: choices × tokens
            num_devices=acc.num_processes,
            steps_per_epoch=run.steps_per_epoch,
            total_steps=run.total_steps,
            batch_description=describe_batch(run.data.tokenizer, first),
        )
    window = MetricWindow(acc.device)
    optimizer_step(run, micro_batches, window)
    loss = window.mean_loss(acc)
    if not math.isfinite(loss):
        raise TrainingDiverged(f"dry run: the first optimizer step's loss is {loss}")
    grad_norm = float(window.grad_norm) if isinstance(window.grad_norm, torch.Tensor) else None
    shown = f", grad norm {grad_norm:.3f}" if grad_norm is not None else ""
    acc.print(f"dry run ok: one optimizer step, loss {loss:.4f}{shown}; nothing was written")
    return {"loss": loss}
