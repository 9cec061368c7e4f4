"""Given the same batches, llmkit's loop takes the same optimizer steps as transformers.Trainer.

A user moving a recipe from the Trainer expects the same training: the same per-example mean
loss, gradient clipping, AdamW settings and linear schedule. With dropout off, fp32 and the
Trainer fed llmkit's batch order, every step's loss must agree to float rounding — a wrong loss
normalisation, a schedule off by one step or a skipped clip shows up within a few steps.
"""

import pytest
import torch
from tasks.finetune_helpers import TINY_ENCODER, fixture, make_config, metric_rows, rows

from llmkit.train.stage import run_training

SEED, BATCH, STEPS, LR = 3, 8, 6, 3e-3
CLIP = 0.25  # below most of these steps' gradient norms, so clipping takes effect
LABELS = ["negative", "positive"]


def _llmkit_losses(tmp_path, tokenizer_dir) -> list[float]:
    cfg = make_config(
        tmp_path,
        tokenizer_dir,
        model=TINY_ENCODER | {"dropout": 0.0},
        task={"type": "classification", "labels": LABELS},
        data={
            "train": fixture("sentiment_train.jsonl"),
            "validation": fixture("sentiment_validation.jsonl"),
        },
        cleaning={"deduplicate": False},
        train={
            "batch_size": BATCH, "max_steps": STEPS, "seed": SEED, "precision": "fp32",
            "max_grad_norm": CLIP,
            "optimizer": {"lr": LR, "weight_decay": 0.0},
            "schedule": {"kind": "linear", "warmup_steps": 0},
            "logging": {"every_steps": 1, "live": False, "trackers": []},
        },
    )  # fmt: skip
    return [row["loss"] for row in metric_rows(run_training(cfg), "train")]


def _trainer_losses(tmp_path, tokenizer_dir) -> list[float]:
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import architecture_config

    class LlmkitOrderTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    examples = rows("sentiment_train.jsonl")
    # llmkit's first epoch: a permutation seeded with train.seed (llmkit.train.batches)
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(SEED)).tolist()
    texts = [examples[i]["text"] for i in order]
    data = Dataset.from_dict(
        dict(
            tokenizer(texts, padding="max_length", max_length=32, truncation=True),
            labels=[LABELS.index(examples[i]["label"]) for i in order],
        )
    )
    set_seed(SEED)  # llmkit seeds before building the model: the same initial weights
    config = architecture_config(ModelConfig(**TINY_ENCODER | {"dropout": 0.0}), tokenizer)
    config.num_labels = len(LABELS)
    model = AutoModelForSequenceClassification.from_config(config)
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"), per_device_train_batch_size=BATCH, max_steps=STEPS,
        learning_rate=LR, max_grad_norm=CLIP, lr_scheduler_type="linear", seed=SEED, use_cpu=True, report_to=[],
        save_strategy="no", logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    trainer = LlmkitOrderTrainer(
        model=model, args=args, train_dataset=data, data_collator=default_data_collator
    )
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def test_same_batches_give_the_trainers_steps(tmp_path, masked_tokenizer_dir, one_thread):
    ours = _llmkit_losses(tmp_path, masked_tokenizer_dir)
    reference = _trainer_losses(tmp_path, masked_tokenizer_dir)
    assert len(ours) == len(reference) == STEPS
    assert ours[-1] != pytest.approx(ours[0], abs=1e-3)  # the weights did move
    # llmkit pads each batch to its longest example, the Trainer to 32: only rounding differs
    assert ours == pytest.approx(reference, rel=1e-4)
