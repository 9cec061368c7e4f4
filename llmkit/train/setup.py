"""Everything a run needs before its first step, built once: the Accelerator, the task's data,
model, loaders, optimizer and schedule, all through one `accelerator.prepare()`."""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import GradientAccumulationPlugin, set_seed

from llmkit.config.train import TrainConfig
from llmkit.errors import DataError
from llmkit.models.precision import accelerate_precision
from llmkit.tasks.base import Task, TaskData
from llmkit.train.batches import EpochShuffleSampler, SeededCollate, make_loader
from llmkit.train.host_memory import keep_freed_host_memory
from llmkit.train.optim import build_optimizer, build_scheduler
from llmkit.train.resume_config import check_resumed_config


@dataclass
class Run:
    """What the loop, checkpoints, validation and the dry run share."""

    accelerator: Accelerator
    task: Task
    data: TaskData
    config: Any
    """The stage's resolved config (PretrainConfig or FinetuneConfig); saved with checkpoints."""
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

    @property
    def train_cfg(self) -> TrainConfig:
        return self.config.train

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)


def setup_run(config: Any, task: Task, resume_from: Path | None = None) -> Run:
    """A run of `task` as `config` (a stage config with `train` and `output_dir`) says; a run
    that resumes `resume_from` is first checked against the config it was started with."""
    cfg: TrainConfig = config.train
    accelerator = make_accelerator(cfg, Path(config.output_dir))
    set_seed(cfg.seed, deterministic=cfg.deterministic)
    if resume_from is not None:
        check_resumed_config(resume_from, config, accelerator.print)
    with accelerator.main_process_first():  # the main process builds caches, the others load
        data = task.prepare_data()
    splits = data.splits
    train_set = splits["train"]
    _check_rows_per_step(len(train_set), cfg, accelerator.num_processes)
    # from_pretrained returns eval mode; set train mode once here, before prepare() wraps the model
    # (DDP, compile), rather than a walk over every module per step; validation switches back
    model = task.build_model().train()
    n, rank = accelerator.num_processes, accelerator.process_index
    train_collate = SeededCollate(data.collate, cfg.seed, "train", n, rank)
    eval_collate = SeededCollate(data.collate, cfg.seed, "validation", n, rank)
    sampler = data.train_sampler(train_set, cfg.batch_size, cfg.seed)
    sampler = sampler or EpochShuffleSampler(len(train_set), cfg.seed)
    train_loader = make_loader(
        train_set, sampler, cfg.batch_size, train_collate, cfg.num_workers, drop_last=True
    )
    eval_set = splits["validation"] if "validation" in splits else None
    eval_loader = None
    if eval_set is not None and len(eval_set):
        eval_batch = cfg.eval.batch_size or cfg.batch_size
        eval_loader = make_loader(eval_set, None, eval_batch, eval_collate, cfg.num_workers)
    steps_per_epoch, total_steps = _step_counts(len(train_set), cfg, n)
    optimizer = build_optimizer(model, cfg.optimizer, accelerator.device)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.optimizer.lr, total_steps)
    loss_sum = task.loss_sum
    if cfg.compile and n == 1:
        # One graph for forward and loss: the logits never leave it, and the cross-entropy fuses
        # with the head (6% per step for the baby GPT in bf16 on a CPU).
        loss_sum = torch.compile(task.loss_sum)
    elif cfg.compile:
        model = torch.compile(model)  # DDP/FSDP wrap a compiled model, as their docs do
    model, optimizer, train_loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loader, scheduler
    )
    return Run(
        accelerator, task, data, config, model, optimizer, scheduler, train_loader, eval_loader,
        train_collate, eval_collate, steps_per_epoch, total_steps, loss_sum,
    )  # fmt: skip


def make_accelerator(cfg: TrainConfig, output_dir: Path) -> Accelerator:
    # Accelerate keeps one AcceleratorState per process and refuses a second Accelerator with
    # another mixed precision. Runs chained in one process (a pipeline, the tests) each bring
    # their own, so the previous run's state goes; the process group (PartialState) stays.
    AcceleratorState._reset_state(reset_partial_state=False)
    keep_freed_host_memory()
    return Accelerator(
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=cfg.grad_accum_steps, sync_with_dataloader=False
        ),
        mixed_precision=accelerate_precision(cfg.precision),
        project_dir=str(output_dir),
        step_scheduler_with_optimizer=False,  # the loop steps it once per optimizer step
        cpu=launched_without_gpus(),
    )


def launched_without_gpus() -> bool:
    """Several processes (accelerate launch --multi_gpu / torchrun) on a machine without GPUs:
    run them on the CPU over gloo. (`accelerate launch --cpu` starts a single process unless
    it is given an MPI hostfile.)"""
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return several and not torch.accelerator.is_available()


def _check_rows_per_step(rows: int, cfg: TrainConfig, processes: int) -> None:
    rows_per_step = cfg.batch_size * cfg.grad_accum_steps * processes
    if rows < rows_per_step:
        raise DataError(
            f"one optimizer step needs {rows_per_step} training rows (batch_size "
            f"{cfg.batch_size} × grad_accum_steps {cfg.grad_accum_steps} × {processes} "
            f"process(es)) but the train split has {rows}",
            "lower train.batch_size / train.grad_accum_steps or give more data",
        )


def _step_counts(rows: int, cfg: TrainConfig, processes: int) -> tuple[int, int]:
    """(optimizer steps per epoch, optimizer steps of the run)."""
    micro_per_epoch = rows // (cfg.batch_size * processes)  # the loader drops a short last batch
    steps_per_epoch = max(micro_per_epoch // cfg.grad_accum_steps, 1)
    total_steps = cfg.max_steps or math.ceil(cfg.epochs * micro_per_epoch / cfg.grad_accum_steps)
    if cfg.schedule.warmup_steps > total_steps:
        raise DataError(
            f"train.schedule.warmup_steps ({cfg.schedule.warmup_steps}) exceeds the run's "
            f"{total_steps} optimizer steps; lower it or train longer"
        )
    return steps_per_epoch, total_steps
