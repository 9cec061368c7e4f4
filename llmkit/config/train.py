"""How the one training loop runs: optimisation, schedule, precision, evaluation cadence,
checkpoints and logging. Shared by `pretrain` and `finetune`; every default lives here."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section


class OptimizerConfig(Section):
    """AdamW. Norm weights, biases and embeddings get no weight decay."""

    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    fused: bool | Literal["auto"] = "auto"
    """Use the fused AdamW kernel (one kernel for all parameters); auto = on CUDA and CPU."""


class ScheduleConfig(Section):
    """Learning-rate schedule: linear warmup, then decay to min_lr."""

    kind: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    """Optimizer steps of linear warmup from 0 to optimizer.lr."""
    min_lr: float = Field(0.0, ge=0)
    """Learning rate the decay ends at (cosine and linear): reached one step after the last, so
    the last step still moves the weights (transformers' convention)."""


class CheckpointConfig(Section):
    every_steps: int | None = Field(None, ge=1)
    """Save every N optimizer steps; null saves only at the end (and on Ctrl-C)."""
    keep_last: int = Field(2, ge=1)
    """Keep the newest K step checkpoints; older ones are deleted after a successful save."""
    keep_best: bool = False
    """Keep the checkpoint with the best `eval.best_metric` too, and at the end save its model,
    not the last step's, to output_dir (as the Trainer's load_best_model_at_end). The last
    step's weights stay in the newest checkpoint."""


class EvalConfig(Section):
    every_steps: int | None = Field(None, ge=1)
    """Validate every N optimizer steps; null validates only at the end."""
    max_batches: int | None = Field(None, ge=1)
    """Validate on this many batches; null uses the whole validation split."""
    batch_size: int | None = Field(None, ge=1)
    """Validation batch size per device; null uses train.batch_size."""
    best_metric: str = "loss"
    """Metric that decides the best checkpoint and early stopping, e.g. loss, accuracy, f1, bleu."""
    greater_is_better: bool | None = None
    """Direction of best_metric; null infers it (loss, perplexity, mse, ter: lower; others such
    as accuracy, f1, bleu, pearson: higher)."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many evaluations without improvement; null never stops early."""


class LoggingConfig(Section):
    every_steps: int = Field(10, ge=1)
    """Log train loss, lr and throughput every N optimizer steps (the only host sync)."""
    trackers: list[Literal["tensorboard", "wandb", "mlflow", "comet_ml", "aim"]] = ["tensorboard"]
    """Accelerate trackers; metrics.jsonl and the loss-curve PNG are always written."""
    live: bool = True
    """Rich live display on a terminal; plain log lines otherwise."""


class TrainConfig(Section):
    batch_size: int = Field(8, ge=1)
    """Micro-batch size per device."""
    grad_accum_steps: int = Field(1, ge=1)
    """Micro-batches per optimizer step; the loss is averaged per token over all of them."""
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps to run; null runs `epochs` epochs."""
    epochs: float = Field(1.0, gt=0)
    """Epochs to run when max_steps is null."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm; null disables clipping."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Mixed precision (bf16/fp16 autocast over fp32 weights). auto = bf16 on a GPU that supports
    it or on a CPU with native bf16 (AVX512-BF16/AMX flags), else fp32: without them CPU bf16 is
    ~16× slower (llmkit.models.precision). fp16 needs a GPU."""
    compile: bool = False
    """torch.compile the training step's forward and loss (the model alone under several
    processes, where DDP/FSDP wrap it)."""
    seed: int = 42
    deterministic: bool = False
    """Ask PyTorch for deterministic algorithms (slower on GPU)."""
    num_workers: int = Field(0, ge=0)
    """DataLoader worker processes."""
    resume: Literal["auto", "never"] | str = "never"
    """auto: continue from the latest checkpoint in output_dir if there is one; never: start fresh
    (refuses a non-empty output_dir); or a checkpoint directory path. `--resume` sets auto."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _warmup_fits(self):
        if self.max_steps is not None and self.schedule.warmup_steps > self.max_steps:
            raise ValueError(
                f"schedule.warmup_steps ({self.schedule.warmup_steps}) exceeds max_steps "
                f"({self.max_steps})"
            )
        return self
