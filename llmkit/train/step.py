"""One optimizer step, and the checks the loop makes between steps without a host sync per
step: a NaN/inf loss, and a stop requested by a signal."""

import torch

from llmkit.errors import TrainingDiverged
from llmkit.train import checkpoint as ckpt
from llmkit.train.setup import Run
from llmkit.train.signals import StopSignals
from llmkit.train.tracking import MetricWindow

NO_STEP = 2**62
"""`LossGuard.first_bad_step` while every loss so far was finite."""


def optimizer_step(run: Run, micro_batches: list[dict], window: MetricWindow) -> torch.Tensor:
    """One optimizer step over `micro_batches`; returns the local summed loss (device tensor).

    The gradient is the mean over every loss item (token) of the global batch: each micro-batch's
    summed loss is divided by the item count of all micro-batches on all processes. DDP averages
    gradients over processes and accelerate divides by the accumulation steps, so both factors
    are multiplied back in.
    """
    acc, model, cfg = run.accelerator, run.model, run.train_cfg
    n_items = sum(run.data.count_loss_items(b) for b in micro_batches)
    n_items = acc.reduce(torch.as_tensor(n_items, device=acc.device), reduction="sum")
    scale = acc.num_processes * cfg.grad_accum_steps / n_items.clamp(min=1)
    step_loss = torch.zeros((), device=acc.device)
    for batch in micro_batches:
        with acc.accumulate(model):
            loss_sum = run.loss_sum(model, batch)
            acc.backward(loss_sum * scale)
            if acc.sync_gradients and cfg.max_grad_norm is not None:
                window.grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        step_loss += loss_sum.detach().float()
        window.add_tokens(batch)
    run.scheduler.step()
    window.add_step(step_loss, n_items)
    return step_loss


class LossGuard:
    """Remembers, on the device, the first step whose loss was not finite; `check` (at steps
    that sync anyway) stops the run before anything is logged as good or saved."""

    def __init__(self, run: Run):
        self.run = run
        self.first_bad_step = torch.full((), NO_STEP, device=run.accelerator.device)

    def record(self, step_loss: torch.Tensor, step: int) -> None:
        bad = ~torch.isfinite(step_loss) & (self.first_bad_step == NO_STEP)
        self.first_bad_step = torch.where(bad, step, self.first_bad_step)

    def check(self, step: int) -> None:
        acc = self.run.accelerator
        bad = int(acc.gather(self.first_bad_step.reshape(1)).min().item())
        if bad == NO_STEP:
            return
        latest = ckpt.latest_checkpoint(self.run.output_dir)
        kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint was saved"
        raise TrainingDiverged(
            f"the training loss became NaN/inf at step {bad} (noticed at step {step}); "
            f"stopped without saving, {kept}",
            "lower train.optimizer.lr, add warmup (train.schedule.warmup_steps) or keep "
            "train.max_grad_norm set, then resume with --resume",
        )


def stop_requested(run: Run, stop: StopSignals, step: int) -> bool:
    """Agree on stopping across processes. One process alone can stop at any step; several
    compare flags at log steps, where they sync anyway, so all save the same step."""
    acc = run.accelerator
    if acc.num_processes == 1:
        return stop.requested
    if step % run.train_cfg.logging.every_steps:
        return False
    flag = torch.tensor(float(stop.requested), device=acc.device)
    return bool(acc.reduce(flag, reduction="sum").item() > 0)
