"""THE training loop, shared by every task (pretraining and finetuning), on Accelerate.

Reads top to bottom like nanoGPT's train.py: setup → (optimizer step → log → validate →
checkpoint) × N → final model. A task (llmkit.tasks.base.Task) supplies the model, data, loss
and metrics; everything else lives here:

- gradient accumulation with the loss averaged per token (or per example) over the whole
  optimizer step and all processes, not per micro-batch;
- one host sync every `logging.every_steps` steps (loss, grad norm, NaN check), none per step;
- checkpoints that resume bit-for-bit on CPU (model, optimizer, scheduler, RNG, data position);
- NaN/inf loss stops before a bad checkpoint is written; Ctrl-C/SIGTERM saves and exits.

Run it on several processes with `accelerate launch [--num_processes N] -m llmkit …`.
"""

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, GradientAccumulationPlugin, set_seed

from llmkit.config.load import save_resolved_config
from llmkit.config.train import TrainConfig
from llmkit.errors import DataError, UserError
from llmkit.train import checkpoint as ckpt
from llmkit.train.batches import EpochShuffleSampler, SeededCollate, make_loader, micro_batch_stream
from llmkit.train.host_memory import keep_freed_host_memory
from llmkit.train.lock import RunLock
from llmkit.train.optim import build_optimizer, build_scheduler
from llmkit.train.precision import accelerate_precision
from llmkit.train.resume_config import check_resumed_config
from llmkit.train.signals import StopSignals, TrainingInterrupted
from llmkit.train.state import TrainState
from llmkit.train.validation import evaluate, track_best
from llmkit.writable import require_writable_dir

NO_STEP = 2**62
"""`first_bad_step` while every loss so far was finite."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class Run:
    """Everything the loop's parts share, built once by `_setup`."""

    accelerator: Accelerator
    task: Any
    cfg: TrainConfig
    run_cfg: Any
    output_dir: Path
    model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    train_loader: Any
    eval_loader: Any
    train_collate: SeededCollate
    eval_collate: SeededCollate
    steps_per_epoch: int
    total_steps: int
    loss_sum: Any
    """task.loss_sum; under train.compile on one process, compiled with the model into one graph
    (validation runs the model uncompiled)."""


def train(run_cfg, task, output_dir, train_cfg: TrainConfig, dry_run: bool = False) -> Path:
    """Train `task`'s model; returns output_dir holding the final Hugging Face model.
    With dry_run: report sizes, show one batch, run one optimizer step and write nothing.

    The run holds output_dir's lock (llmkit.train.lock) from before the resume check to the end,
    so a second run on the same directory stops at once; a kill's leftovers are removed first."""
    output_dir = Path(output_dir)
    require_writable_dir(output_dir, "output_dir")
    if dry_run:
        return _train(run_cfg, task, output_dir, train_cfg, None, dry_run=True)
    first = int(os.environ.get("RANK", "0")) == 0  # one lock per run, not per process
    with RunLock(output_dir) if first else contextlib.nullcontext():
        resume_from = ckpt.resolve_resume(output_dir, train_cfg.resume, run_cfg.stage)
        if first:
            ckpt.remove_leftovers(output_dir)
        return _train(run_cfg, task, output_dir, train_cfg, resume_from)


def _train(
    run_cfg, task, output_dir: Path, train_cfg: TrainConfig, resume_from, dry_run: bool = False
) -> Path:
    _forget_previous_accelerator()
    keep_freed_host_memory()
    accelerator = Accelerator(
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=train_cfg.grad_accum_steps, sync_with_dataloader=False
        ),
        mixed_precision=accelerate_precision(train_cfg.precision),
        project_dir=str(output_dir),
        step_scheduler_with_optimizer=False,  # we step it once per optimizer step ourselves
        cpu=_launched_without_gpus(),
    )
    set_seed(train_cfg.seed, deterministic=train_cfg.deterministic)
    if resume_from is not None:
        check_resumed_config(resume_from, run_cfg, accelerator.print)
    with accelerator.main_process_first():  # the main process builds caches, the others load
        splits = task.prepare_datasets()
    run = _setup(accelerator, task, splits, run_cfg, train_cfg, output_dir)
    if dry_run:
        from llmkit.train.dry_run import dry_run as run_dry

        run_dry(run)
        return output_dir

    state = TrainState()
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = TrainState.load(resume_from)
        accelerator.print(f"resuming from {resume_from} (step {state.step})")
    from llmkit.train.tracking import RunTracker

    tracker = RunTracker(
        accelerator, output_dir, train_cfg.logging, run.total_steps, run_cfg.model_dump(mode="json")
    )
    try:
        with StopSignals() as stop:
            _fit(run, state, tracker, stop)
    finally:
        tracker.close()
    _restore_best(run, state)
    return _save_final_model(run, state)


def _forget_previous_accelerator() -> None:
    """Accelerate keeps one AcceleratorState per process and refuses a second Accelerator with
    another mixed precision. Runs chained in one process (a pipeline, the tests) each bring their
    own, so the previous run's state goes; the process group (PartialState) stays."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


def _launched_without_gpus() -> bool:
    """Several processes (accelerate launch --multi_gpu / torchrun) on a machine without GPUs:
    run them on the CPU over gloo. (`accelerate launch --cpu` starts a single process unless
    it is given an MPI hostfile.)"""
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return several and not torch.accelerator.is_available()


def _setup(accelerator, task, splits, run_cfg, cfg: TrainConfig, output_dir: Path) -> Run:
    """Model, loaders, optimizer and schedule, then one `prepare()`."""
    train_set = splits["train"]
    n = accelerator.num_processes
    rows_per_step = cfg.batch_size * cfg.grad_accum_steps * n
    if len(train_set) < rows_per_step:
        raise DataError(
            f"one optimizer step needs {rows_per_step} training rows (batch_size "
            f"{cfg.batch_size} × grad_accum_steps {cfg.grad_accum_steps} × {n} process(es)) but "
            f"the train split has {len(train_set)}",
            "lower train.batch_size / train.grad_accum_steps or give more data",
        )
    # from_pretrained returns eval mode; set train mode once here, before prepare() wraps the model
    # (DDP, compile), rather than a walk over every module per step; validation switches back
    model = task.build_model().train()
    rank = accelerator.process_index
    train_collate = SeededCollate(task.collate, cfg.seed, "train", n, rank)
    eval_collate = SeededCollate(task.collate, cfg.seed, "validation", n, rank)
    sampler = task.train_sampler(train_set, cfg.batch_size, cfg.seed)
    sampler = sampler or EpochShuffleSampler(len(train_set), cfg.seed)
    train_loader = make_loader(
        train_set, sampler, cfg.batch_size, train_collate, cfg.num_workers, drop_last=True
    )
    eval_set = splits["validation"] if "validation" in splits else None
    eval_loader = None
    if eval_set is not None and len(eval_set):
        eval_batch = cfg.eval.batch_size or cfg.batch_size
        eval_loader = make_loader(eval_set, None, eval_batch, eval_collate, cfg.num_workers)
    micro_per_epoch = len(train_set) // (cfg.batch_size * n)  # the loader drops a short last batch
    steps_per_epoch = max(micro_per_epoch // cfg.grad_accum_steps, 1)
    total_steps = cfg.max_steps or math.ceil(cfg.epochs * micro_per_epoch / cfg.grad_accum_steps)
    if cfg.schedule.warmup_steps > total_steps:
        raise DataError(
            f"train.schedule.warmup_steps ({cfg.schedule.warmup_steps}) exceeds the run's "
            f"{total_steps} optimizer steps; lower it or train longer"
        )
    optimizer = build_optimizer(model, cfg.optimizer, accelerator.device)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.optimizer.lr, total_steps)
    loss_sum = task.loss_sum
    if cfg.compile and accelerator.num_processes == 1:
        # One graph for forward and loss: the logits never leave it, and the cross-entropy fuses
        # with the head (6% per step for the baby GPT in bf16 on a CPU).
        loss_sum = torch.compile(task.loss_sum)
    elif cfg.compile:
        model = torch.compile(model)  # DDP/FSDP wrap a compiled model, as their docs do
    model, optimizer, train_loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loader, scheduler
    )
    return Run(
        accelerator, task, cfg, run_cfg, output_dir, model, optimizer, scheduler, train_loader,
        eval_loader, train_collate, eval_collate, steps_per_epoch, total_steps, loss_sum,
    )  # fmt: skip


def _fit(run: Run, state: TrainState, tracker, stop: StopSignals) -> None:
    acc, cfg = run.accelerator, run.cfg
    stream = micro_batch_stream(
        run.train_loader, run.train_collate, state.epoch, state.batch_in_epoch
    )
    window = _Window(acc.device)
    first_bad_step = torch.full((), NO_STEP, device=acc.device)
    while state.step < run.total_steps:
        micro_batches = [next(stream) for _ in range(cfg.grad_accum_steps)]
        lr = run.scheduler.get_last_lr()[0]
        step_loss = optimizer_step(run, [b for b, _, _ in micro_batches], window)
        state.step += 1
        _, state.epoch, state.batch_in_epoch = micro_batches[-1]
        # Device-side: remember the first step whose loss was not finite, without a sync.
        bad = ~torch.isfinite(step_loss) & (first_bad_step == NO_STEP)
        first_bad_step = torch.where(bad, state.step, first_bad_step)

        last = state.step == run.total_steps
        if state.step % cfg.logging.every_steps == 0 or last:
            _check_finite(run, first_bad_step, state)
            metrics = window.drain(acc, state, lr)
            metrics["epoch"] = state.epoch + state.batch_in_epoch / len(run.train_loader)
            tracker.log_train(state.step, metrics)
        if _due(state.step, cfg.eval.every_steps, last) and run.eval_loader is not None:
            _check_finite(run, first_bad_step, state)
            if _validate(run, state, tracker):
                acc.print(f"early stopping at step {state.step}: no improvement in validation")
                break
        # keep_best needs a checkpoint of every new best, whatever the checkpoint cadence
        new_best = cfg.checkpoint.keep_best and state.best_step == state.step
        if _due(state.step, cfg.checkpoint.every_steps, last) or new_best:
            _check_finite(run, first_bad_step, state)
            _save(run, state, window)
        if _stop_requested(run, stop, state.step):
            _check_finite(run, first_bad_step, state)
            path = _save(run, state, window)
            raise TrainingInterrupted(
                f"stopped by {stop.signal_name or 'a signal'} at step {state.step}; "
                f"checkpoint saved to {path}",
                "continue with the same command and --resume",
            )
    _check_finite(run, first_bad_step, state)
    if ckpt.latest_checkpoint(run.output_dir) != _step_dir(run, state):
        _save(run, state, window)


def optimizer_step(run: Run, micro_batches: list[dict], window: "_Window") -> torch.Tensor:
    """One optimizer step over `micro_batches`; returns the local summed loss (device tensor).

    The gradient is the mean over every loss item (token) of the global batch: each micro-batch's
    summed loss is divided by the item count of all micro-batches on all processes. DDP averages
    gradients over processes and accelerate divides by the accumulation steps, so both factors
    are multiplied back in.
    """
    acc, task, model, cfg = run.accelerator, run.task, run.model, run.cfg
    n_items = sum(task.count_loss_items(b) for b in micro_batches)
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
    window.loss_sum += step_loss
    window.items += n_items
    window.steps += 1
    return step_loss


class _Window:
    """Training metrics accumulated on the device between two log steps."""

    def __init__(self, device: torch.device):
        self.device = device
        self.loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        self.items = torch.zeros((), device=device, dtype=torch.float64)  # global already
        self.tokens = torch.zeros((), device=device, dtype=torch.float64)  # local
        self.grad_norm: torch.Tensor | None = None
        self.steps = 0
        self.started = _now()

    def add_tokens(self, batch: dict[str, torch.Tensor]) -> None:
        mask = batch.get("attention_mask")
        self.tokens += mask.sum() if mask is not None else batch["input_ids"].numel()

    def pending_tokens(self, acc: Accelerator) -> int:
        return int(acc.reduce(self.tokens.clone(), reduction="sum").item())

    def drain(self, acc: Accelerator, state: TrainState, lr: float) -> dict[str, float]:
        """Host metrics of the window (the log step's one sync), then reset."""
        loss_sum = acc.reduce(self.loss_sum.clone(), reduction="sum").item()
        items = self.items.item()
        tokens = self.pending_tokens(acc)
        state.tokens_seen += tokens
        elapsed = max(_now() - self.started, 1e-9)
        metrics = {"loss": loss_sum / max(items, 1), "lr": lr}
        if self.grad_norm is not None:
            metrics["grad_norm"] = float(self.grad_norm)
        metrics.update(tokens_per_s=tokens / elapsed, tokens_seen=float(state.tokens_seen))
        for tensor in (self.loss_sum, self.items, self.tokens):
            tensor.zero_()
        self.steps, self.started = 0, _now()
        return metrics


def _now() -> float:
    import time

    return time.perf_counter()


def _due(step: int, every: int | None, last: bool) -> bool:
    return last or (every is not None and step % every == 0)


def _stop_requested(run: Run, stop: StopSignals, step: int) -> bool:
    """Agree on stopping across processes. One process alone can stop at any step; several
    compare flags at log steps, where they sync anyway, so all save the same step."""
    acc = run.accelerator
    if acc.num_processes == 1:
        return stop.requested
    if step % run.cfg.logging.every_steps:
        return False
    flag = torch.tensor(float(stop.requested), device=acc.device)
    return bool(acc.reduce(flag, reduction="sum").item() > 0)


def _check_finite(run: Run, first_bad_step: torch.Tensor, state: TrainState) -> None:
    """Stop before anything is logged as good or saved if a loss was NaN/inf."""
    acc = run.accelerator
    bad = int(acc.gather(first_bad_step.reshape(1)).min().item())
    if bad == NO_STEP:
        return
    latest = ckpt.latest_checkpoint(run.output_dir)
    kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint was saved"
    raise TrainingDiverged(
        f"the training loss became NaN/inf at step {bad} (noticed at step {state.step}); "
        f"stopped without saving, {kept}",
        "lower train.optimizer.lr, add warmup (train.schedule.warmup_steps) or keep "
        "train.max_grad_norm set, then resume with --resume",
    )


def _step_dir(run: Run, state: TrainState) -> Path:
    return ckpt.checkpoint_root(run.output_dir) / f"step-{state.step}"


def _save(run: Run, state: TrainState, window: _Window) -> Path:
    import dataclasses

    saved = dataclasses.replace(
        state, tokens_seen=state.tokens_seen + window.pending_tokens(run.accelerator)
    )
    path = ckpt.save_checkpoint(run.accelerator, run.output_dir, saved, run.run_cfg)
    if run.accelerator.is_main_process:
        best = state.best_step if run.cfg.checkpoint.keep_best else None
        ckpt.prune_checkpoints(run.output_dir, run.cfg.checkpoint.keep_last, best)
    run.accelerator.wait_for_everyone()
    return path


def _validate(run: Run, state: TrainState, tracker) -> bool:
    """Validate, track the best metric; True when early stopping should end the run."""
    metrics = evaluate(
        run.accelerator,
        run.task,
        run.model,
        run.eval_loader,
        run.eval_collate,
        run.cfg.eval.max_batches,
    )
    tracker.log_eval(state.step, metrics)
    return track_best(state, metrics, run.cfg.eval)


def _restore_best(run: Run, state: TrainState) -> None:
    """checkpoint.keep_best: the model to publish is the best validated one. Loading the whole
    checkpoint also rewinds optimizer and RNG, which no longer matter once training is over."""
    if not run.cfg.checkpoint.keep_best or state.best_step in (None, state.step):
        return
    best = ckpt.checkpoint_root(run.output_dir) / f"step-{state.best_step}"
    if not best.is_dir():  # keep_best was turned on at a resume, after that step was pruned
        run.accelerator.print(
            f"warning: the best step ({state.best_step}) has no checkpoint left; saving the last "
            "step's model"
        )
        return
    run.accelerator.load_state(str(best))
    run.accelerator.print(
        f"saving the model of step {state.best_step}, the best by {run.cfg.eval.best_metric} "
        f"({state.best_metric:.4g}); step {state.step}'s weights stay in its checkpoint"
    )


def _save_final_model(run: Run, state: TrainState) -> Path:
    """The Hugging Face model directory: weights, config, tokenizer, generation config, the
    resolved llmkit config; staged in a temporary directory and moved in config.json last."""
    acc = run.accelerator
    acc.wait_for_everyone()
    model = acc.unwrap_model(run.model, keep_torch_compile=False)
    # Sharded models (FSDP, DeepSpeed ZeRO) are gathered by accelerate; others save themselves
    # (a PEFT model then writes its adapter, which the task's save_artifacts expects).
    sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    state_dict = acc.get_state_dict(run.model) if sharded else None
    if acc.is_main_process:
        # mkdir, not tempfile.mkdtemp: the published files keep the modes the umask gives.
        staging = run.output_dir / f".final-{os.getpid()}"
        staging.mkdir()
        model.save_pretrained(staging, state_dict=state_dict, safe_serialization=True)
        run.task.save_artifacts(model, str(staging))
        save_resolved_config(run.run_cfg, staging)
        (staging / "trainer_state.json").write_text(_state_json(state), encoding="utf-8")
        ckpt.publish_model(staging, run.output_dir)
        acc.print(f"model saved to {run.output_dir}")
    acc.wait_for_everyone()
    acc.end_training()
    return run.output_dir


def _state_json(state: TrainState) -> str:
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(state), indent=2) + "\n"
