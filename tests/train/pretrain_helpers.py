"""Helpers for the training loop's tests: packed `llmkit preprocess`-format directories built
directly with datasets (not through the preprocess stage), a tiny config factory, metrics."""

import json
import shutil
from pathlib import Path

from llmkit.config.load import validate
from llmkit.config.pretrain import PretrainConfig


def write_packed_dir(tokenizer_dir: Path, lines: list[str], out: Path, block_size: int) -> Path:
    """The preprocess stage's output format: train/validation splits of `input_ids` blocks
    (documents joined by EOS, or SEP without one), manifest.json and tokenizer/."""
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    joiner = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    stream: list[int] = []
    for ids in tok(lines, add_special_tokens=False)["input_ids"]:
        stream.extend(ids + [joiner])
    rows = [stream[i : i + block_size] for i in range(0, len(stream) - block_size, block_size)]
    n_val = max(len(rows) // 10, 4)
    DatasetDict(
        {
            "train": Dataset.from_dict({"input_ids": rows[n_val:]}),
            "validation": Dataset.from_dict({"input_ids": rows[:n_val]}),
        }
    ).save_to_disk(str(out))
    shutil.copytree(tokenizer_dir, out / "tokenizer")
    manifest = {"block_size": block_size, "tokenizer": {"vocab_size": len(tok)}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def tiny_config(output_dir: Path, data_dir: Path, task: str = "clm", **train) -> PretrainConfig:
    """2 layers, hidden 32; `train` keys override the TrainConfig (nested dicts allowed)."""
    family = "gpt2" if task == "clm" else "bert"
    train_section = {
        "batch_size": 8,
        "max_steps": 12,
        "optimizer": {"lr": 3e-3},
        "eval": {"max_batches": 2},
        "logging": {"every_steps": 1, "trackers": [], "live": False},
        **train,
    }
    return validate(
        PretrainConfig,
        {
            "output_dir": str(output_dir),
            "model": {"family": family, "n_layers": 2, "hidden_size": 32, "n_heads": 2,
                      "context_length": 32},
            "task": {"type": task},
            "data": {"dataset_dir": str(data_dir)},
            "train": train_section,
        },
    )  # fmt: skip


def metric_rows(run_dir: Path, split: str = "train") -> list[dict]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["split"] == split]


def write_unpacked_dir(tokenizer_dir: Path, lines: list[str], out: Path, max_len: int) -> Path:
    """One row per line, of varying length (not packed), so micro-batches carry different numbers
    of loss tokens."""
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = [ids[:max_len] for ids in tok(lines, add_special_tokens=False)["input_ids"] if ids]
    DatasetDict({"train": Dataset.from_dict({"input_ids": rows})}).save_to_disk(str(out))
    shutil.copytree(tokenizer_dir, out / "tokenizer")
    return out


def final_weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(Path(run_dir) / "model.safetensors")
