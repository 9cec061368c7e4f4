"""What causal and masked LM pretraining share: the packed data (a `llmkit preprocess` directory,
or raw data preprocessed first and cached), the tokenizer that came with it, building the model
and the checks that refuse a run that cannot work before it starts."""

import json
import math
from pathlib import Path
from typing import Any

import torch
import transformers
from datasets import Dataset, DatasetDict, load_from_disk
from transformers import AutoTokenizer

from llmkit.data.preprocess import run_preprocess
from llmkit.errors import CheckpointError, ConfigError, DataError
from llmkit.models.build import load_or_build
from llmkit.models.properties import max_positions
from llmkit.tasks.base import TaskData
from llmkit.tasks.spec import PretrainSpec


def dataset_directory(spec: PretrainSpec) -> Path:
    """The preprocessed directory; runs the preprocess stage first when the config names raw
    data (a cache hit returns at once)."""
    if spec.data.preprocess is not None:
        return Path(run_preprocess(spec.data.preprocess, output_key="data.preprocess.output_dir"))
    directory = Path(spec.data.dataset_dir)
    if not (directory / "dataset_dict.json").is_file() or not (directory / "tokenizer").is_dir():
        raise DataError(
            f"data.dataset_dir: {directory} is not a `llmkit preprocess` output (no "
            "dataset_dict.json or tokenizer/)",
            "run `llmkit preprocess CONFIG` with pack: true first, or give data.preprocess",
        )
    return directory


def _block_size(directory: Path, splits: DatasetDict, column: str) -> int:
    """Row length: the manifest's block_size (every packed row has it, no sentence pair is
    longer), else the first row's."""
    manifest = directory / "manifest.json"
    if manifest.is_file():
        size = json.loads(manifest.read_text(encoding="utf-8")).get("block_size")
        if isinstance(size, int):
            return size
    return len(splits["train"][0][column])


class PretrainTaskBase:
    """Shared parts of CausalLMTask and MaskedLMTask (see llmkit.tasks.base.Task)."""

    name = ""
    auto_class_name = ""

    def __init__(self, spec: PretrainSpec):
        self.spec = spec
        self.tokenizer = None
        self.block_size = 0

    def prepare_data(self, rows: Dataset | None = None) -> TaskData:
        if rows is not None:
            raise ValueError("a pretraining task reads its packed directory; it takes no rows")
        return TaskData(self.read_splits(), self.tokenizer, self.collate, self.count_loss_items)

    def read_splits(self) -> DatasetDict:
        return self.load_preprocessed("input_ids", "run `llmkit preprocess` with pack: true")

    def load_preprocessed(self, column: str, hint: str) -> DatasetDict:
        """The train (and validation) split of the preprocessed directory, only `column`; sets
        the tokenizer and block_size that came with it."""
        directory = dataset_directory(self.spec)
        splits = load_from_disk(str(directory))
        if "train" not in splits or column not in splits["train"].column_names:
            raise DataError(f"{directory}: needs a 'train' split with a '{column}' column", hint)
        if len(splits["train"]) == 0:
            raise DataError(f"{directory}: the train split is empty")
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory / "tokenizer"))
        self.block_size = _block_size(directory, splits, column)
        keep = [s for s in ("train", "validation") if s in splits]
        return DatasetDict({s: splits[s].select_columns([column]) for s in keep})

    def build_model(self) -> torch.nn.Module:
        auto_class = getattr(transformers, self.auto_class_name)
        model = load_or_build(self.spec.model, auto_class, self.tokenizer, self.spec.precision)
        self._check_fits(model)
        return model

    def _check_fits(self, model: torch.nn.Module) -> None:
        """Refuse contexts longer than the model's positions and token ids beyond its vocab."""
        positions = max_positions(model.config)
        key = "model.pretrained" if self.spec.model.pretrained else "model.context_length"
        if positions is not None and self.block_size > positions:
            raise ConfigError(
                f"the data's rows are {self.block_size} tokens long but the model attends over at "
                f"most {positions} positions ({key})",
                "preprocess with a smaller block_size or raise model.context_length",
            )
        vocab = model.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > vocab:
            raise CheckpointError(
                f"the data's tokenizer has {len(self.tokenizer)} tokens but the model's embedding "
                f"has {vocab} rows ({self.spec.model.pretrained or 'model'})",
                "preprocess the data with the model's own tokenizer",
            )

    def train_sampler(self, dataset, batch_size: int, seed: int) -> None:
        return None  # packed rows are all one length: a plain seeded shuffle

    def pad_ids(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """input_ids (+ attention_mask when rows differ in length, as unpacked data does)."""
        rows = [ex["input_ids"] for ex in examples]
        width = max(len(r) for r in rows)
        if all(len(r) == width for r in rows):
            return {"input_ids": torch.tensor(rows, dtype=torch.long)}
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad if pad is not None else 0, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def logits(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(
            input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")
        ).logits

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        """Token-weighted loss over everything evaluated, and its perplexity."""
        loss_sum = sum(float(o["loss_sum"].double().sum()) for o in outputs)
        n_items = sum(float(o["n_items"].double().sum()) for o in outputs)
        loss = loss_sum / max(n_items, 1.0)
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}

    def save_artifacts(self, model: torch.nn.Module, output_dir: str) -> None:
        self.tokenizer.save_pretrained(output_dir)
