"""Helpers of the pipeline tests: a tiny pipeline (char tokenizer → packed data → 2-layer GPT → SFT → eval → hf export) on
data written into the test's directory: a few seconds per stage on one CPU thread."""

import json
import random
from pathlib import Path

import yaml

from llmkit.pipeline.plan import output_paths, started_record
from llmkit.pipeline.state import tree_fingerprint

WORDS = "the king queen lord lady speaks walks runs to from a of and my good night day".split()


def write_data(root: Path) -> None:
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(300)]
    (root / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = [{"prompt": f"Say {w}.", "response": f"{w} {w}."} for w in WORDS for _ in range(2)]
    for name, rows in (("sft_train.jsonl", pairs), ("sft_validation.jsonl", pairs[:6])):
        with open(root / name, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


def tiny_pipeline(root: Path) -> dict:
    train = {
        "batch_size": 4, "max_steps": 4, "precision": "fp32",
        "schedule": {"kind": "constant"},
        "eval": {"every_steps": 4, "max_batches": 2},
        "checkpoint": {"every_steps": 2}, "logging": {"every_steps": 2, "live": False},
    }  # fmt: skip
    model = {"family": "gpt2", "n_layers": 2, "hidden_size": 32, "n_heads": 2,
             "context_length": 64}  # fmt: skip
    return {
        "stage": "pipeline",
        "output_dir": str(root / "pipe"),
        "stages": {
            "tok": {"stage": "tokenizer", "data": {"train": str(root / "corpus.txt")},
                    "tokenizer": {"type": "char", "family": "causal"}},
            "prep": {"stage": "preprocess", "data": {"train": str(root / "corpus.txt")},
                     "tokenizer": "${tok}", "block_size": 32,
                     "split": {"validation_ratio": 0.1}},
            "pretrain": {"stage": "pretrain", "model": model,
                         "data": {"dataset_dir": "${prep.output_dir}"}, "train": train},
            "sft": {"stage": "finetune", "model": {"pretrained": "${pretrain}"},
                    "tokenizer": "${tok}", "task": {"type": "sft"}, "max_length": 48,
                    "data": {"train": str(root / "sft_train.jsonl"),
                             "validation": str(root / "sft_validation.jsonl")},
                    "train": {**train, "max_steps": 2, "checkpoint": {"every_steps": 1}}},
            "score": {"stage": "eval", "models": ["${sft}"], "task": "sft",
                      "data": str(root / "sft_validation.jsonl"), "metrics": ["chrf"],
                      "max_examples": 3, "generation": {"max_new_tokens": 6}},
            "export": {"stage": "export", "source": "${sft}", "format": "hf"},
        },
    }  # fmt: skip


def write_pipeline(root: Path, pipeline: dict) -> Path:
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
    return path


def record_completed(stages, state: dict) -> dict:
    """`state` with every stage recorded as completed, as `llmkit run` records it, and its
    outputs present."""
    for i, stage in enumerate(stages):
        record = started_record(stage, stages[:i], state)
        for path in output_paths(stage):
            path.mkdir(parents=True, exist_ok=True)
            (path / "done.txt").write_text(stage.name)
        record.update(status="complete", output_fingerprint=tree_fingerprint(output_paths(stage)))
        state[stage.name] = record
    return state
