"""Tiny saved models (2 layers, hidden 32) for model-mode tests, built from config; one thread."""

import json
from pathlib import Path

import pytest
import yaml


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("gpt2")
    return tiny_model("gpt2", "AutoModelForCausalLM", causal_tokenizer_dir, out)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("t5")
    return tiny_model("t5", "AutoModelForSeq2SeqLM", causal_tokenizer_dir, out)


@pytest.fixture
def jsonl(tmp_path):
    def write(name: str, rows: list[dict]):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def pretrain_bert(masked_tokenizer_dir):
    """pretrain(root, task, preprocess, validation): 4 steps of a tiny BERT (batch 4, seed 7) on
    root/train.txt, validated at step 4 on root/held_out.txt, through the CLI; `preprocess` and
    `validation` (train.eval) add to the preprocess config and validation settings. Returns the
    run directory; the preprocess output is root/preprocessed."""
    from typer.testing import CliRunner

    from llmkit.cli.app import app

    def pretrain(root: Path, task: dict, preprocess: dict, validation: dict) -> Path:
        data = {"train": str(root / "train.txt"), "validation": str(root / "held_out.txt")}
        config = {
            "stage": "pretrain",
            "output_dir": str(root / "run"),
            "model": {"family": "bert", "n_layers": 2, "hidden_size": 32, "n_heads": 2,
                      "context_length": 64},
            "task": task,
            "data": {"preprocess": {
                "cleaning": {"deduplicate": False}, "tokenizer": str(masked_tokenizer_dir),
                "output_dir": str(root / "preprocessed"), **preprocess,
                "data": data | preprocess.get("data", {}),
            }},
            "train": {"batch_size": 4, "max_steps": 4, "seed": 7, "optimizer": {"lr": 1e-3},
                      "eval": {"every_steps": 4, **validation},
                      "logging": {"every_steps": 2, "live": False, "trackers": []}},
        }  # fmt: skip
        path = root / "pretrain.yaml"
        path.write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(app, ["pretrain", str(path)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return root / "run"

    return pretrain
