"""Helpers shared by the finetuning tests: tiny configs on tests/fixtures/finetune data."""

import json
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from llmkit.config.finetune import FinetuneConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "finetune"

TINY_ENCODER = {"family": "bert", "n_layers": 2, "hidden_size": 32, "n_heads": 2}
TINY_DECODER = {"family": "gpt2", "n_layers": 2, "hidden_size": 64, "n_heads": 2}
TINY_SEQ2SEQ = {"family": "t5", "n_layers": 2, "hidden_size": 64, "n_heads": 2}
QUIET_TRAIN = {"logging": {"every_steps": 2, "live": False, "trackers": []}}


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]


def splits(**named: list[dict[str, Any]]) -> DatasetDict:
    return DatasetDict({k: Dataset.from_list(v) for k, v in named.items()})


def make_config(tmp_path: Path, tokenizer: Path | None, **sections: Any) -> FinetuneConfig:
    """A FinetuneConfig writing to tmp_path/out; `train` is merged over quiet logging. A None
    tokenizer reads it from model.pretrained."""
    train = QUIET_TRAIN | sections.pop("train", {})
    data = sections.pop("data", {"train": fixture("sentiment_train.jsonl")})
    return FinetuneConfig.model_validate(
        {
            "output_dir": str(tmp_path / "out"),
            "tokenizer": str(tokenizer) if tokenizer is not None else None,
            "data": data,
            "train": train,
            **sections,
        }
    )


def metric_rows(output_dir: Path, split: str) -> list[dict[str, Any]]:
    lines = (Path(output_dir) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]
