"""THE training loop, shared by every task (pretraining and finetuning), on Accelerate.

Reads top to bottom like nanoGPT's train.py: setup → for each optimizer step (batches → loss and
step → log → validate → checkpoint) → final model. A task (llmkit.tasks.base.Task) supplies the
model, data, loss and metrics; the pieces the loop calls live in named modules:

- train/setup.py: the Accelerator, loaders, optimizer and schedule, through one `prepare()`;
- train/step.py: one optimizer step (the loss averaged per token over the whole optimizer step
  and all processes, not per micro-batch), the NaN/inf guard and the cross-process stop vote;
- train/tracking.py: metric windows (one host sync every `logging.every_steps` steps, none per
  step) and the run's logs;
- train/validation.py: the task's metrics over the validation split, best-metric tracking;
- train/checkpoint.py: checkpoints that resume bit-for-bit on CPU, pruning, the best model and
  the final Hugging Face directory.

A NaN/inf loss stops before a bad checkpoint is written; Ctrl-C/SIGTERM saves and exits.
Run it on several processes with `accelerate launch [--num_processes N] -m llmkit …`.
"""

from pathlib import Path
from typing import Any

from llmkit.errors import TrainingInterrupted
from llmkit.tasks.base import Task
from llmkit.train import checkpoint as ckpt
from llmkit.train.batches import micro_batch_stream
from llmkit.train.setup import Run, setup_run
from llmkit.train.signals import StopSignals
from llmkit.train.state import TrainState
from llmkit.train.step import LossGuard, optimizer_step, stop_requested
from llmkit.train.tracking import MetricWindow, RunTracker
from llmkit.train.validation import evaluate, track_best


def train(config: Any, task: Task) -> Path:
    """Train `task`'s model as `config` (a pretrain or finetune config) says; returns
    config.output_dir, which then holds the final Hugging Face model. The run holds the output
    directory's lock throughout (llmkit.train.checkpoint.claimed_output_dir)."""
    out, cfg = Path(config.output_dir), config.train
    with ckpt.claimed_output_dir(out, cfg.resume, config.stage) as resume_from:
        run = setup_run(config, task, resume_from)
        acc = run.accelerator
        state = ckpt.resume(run, resume_from)
        stream = micro_batch_stream(
            run.train_loader, run.train_collate, state.epoch, state.batch_in_epoch
        )
        window, guard = MetricWindow(acc.device), LossGuard(run)
        hparams = config.model_dump(mode="json")
        tracker = RunTracker(acc, out, cfg.logging, run.total_steps, hparams)
        with tracker, StopSignals() as stop:
            while state.step < run.total_steps:
                micro_batches = [next(stream) for _ in range(cfg.grad_accum_steps)]
                lr = run.scheduler.get_last_lr()[0]
                step_loss = optimizer_step(run, [b for b, _, _ in micro_batches], window)
                state.step += 1
                _, state.epoch, state.batch_in_epoch = micro_batches[-1]
                guard.record(step_loss, state.step)  # on the device: no sync
                last = state.step == run.total_steps

                if state.step % cfg.logging.every_steps == 0 or last:
                    guard.check(state.step)
                    metrics = window.drain(acc, state, lr)
                    metrics["epoch"] = state.epoch + state.batch_in_epoch / len(run.train_loader)
                    tracker.log_train(state.step, metrics)

                if _due(state.step, cfg.eval.every_steps, last) and run.eval_loader is not None:
                    guard.check(state.step)
                    if _validate(run, state, tracker):
                        stopped = f"early stopping at step {state.step}"
                        acc.print(f"{stopped}: no improvement in validation")
                        break

                # keep_best needs a checkpoint of every new best, whatever the checkpoint cadence
                new_best = cfg.checkpoint.keep_best and state.best_step == state.step
                if _due(state.step, cfg.checkpoint.every_steps, last) or new_best:
                    guard.check(state.step)
                    ckpt.save_run(run, state, window)

                if stop_requested(run, stop, state.step):
                    guard.check(state.step)
                    path = ckpt.save_run(run, state, window)
                    raise TrainingInterrupted(
                        f"stopped by {stop.signal_name or 'a signal'} at step {state.step}; "
                        f"checkpoint saved to {path}",
                        "continue with the same command and --resume",
                    )
            guard.check(state.step)
            if ckpt.latest_checkpoint(out) != ckpt.step_dir(out, state.step):
                ckpt.save_run(run, state, window)  # early stopping left the last step unsaved
        model_step = ckpt.restore_best(run, state)
        return ckpt.save_final_model(run, state, model_step)


def _due(step: int, every: int | None, last: bool) -> bool:
    return last or (every is not None and step % every == 0)


def _validate(run: Run, state: TrainState, tracker: RunTracker) -> bool:
    """Validate, track the best metric; True when early stopping should end the run."""
    cfg = run.train_cfg.eval
    metrics = evaluate(
        run.accelerator, run.task, run.model, run.eval_loader, run.eval_collate, cfg.max_batches
    )
    tracker.log_eval(state.step, metrics)
    return track_best(state, metrics, cfg)
