"""What the four finetuning tasks share: tokenizer and model loading (with LoRA/freezing), raw
splits through the preprocess stage's cleaning and cache, the truncation/drop report, the
length-grouped sampler hook and the files saved next to the model.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from accelerate import PartialState
from datasets import Dataset, DatasetDict
from rich.console import Console
from transformers import AutoConfig, AutoTokenizer

from llmkit.data.preprocess import clean_splits
from llmkit.errors import CheckpointError, DataError
from llmkit.models import adapters
from llmkit.models.build import from_pretrained, load_or_build
from llmkit.models.loss import count_loss_tokens, token_losses
from llmkit.models.properties import max_positions
from llmkit.tasks.base import TaskData
from llmkit.tasks.batching import LengthGroupedSampler
from llmkit.tasks.spec import FinetuneSpec

_FALLBACK_MAX_LENGTH = 512


def load_tokenizer(spec: FinetuneSpec):
    source = spec.tokenizer or spec.model.pretrained
    key = "tokenizer" if spec.tokenizer else "model.pretrained"
    tokenizer = saved_tokenizer(source, key)
    if tokenizer.pad_token is None:
        # decoder-only tokenizers often lack one; padding positions never carry loss anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def saved_tokenizer(
    source: str,
    key: str,
    hint: str = "set tokenizer: to a directory made by `llmkit tokenizer train` or save_pretrained",
):
    """The tokenizer at `source` (a directory or hub id); `key` names it in errors. A directory
    without tokenizer files is refused: AutoTokenizer would build one with an empty vocabulary
    from its config.json, which turns every token into [UNK]."""
    path = Path(source)
    if path.exists() and not any(
        (path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
    ):
        raise CheckpointError(
            f"{key}: {path} holds no tokenizer files (tokenizer.json / tokenizer_config.json)",
            hint,
        )
    return from_pretrained(AutoTokenizer, source, key)


def pretrained_config(spec: FinetuneSpec):
    """The transformers config of model.pretrained (a directory or hub id)."""
    return from_pretrained(AutoConfig, spec.model.pretrained, "model.pretrained")


def model_max_positions(spec: FinetuneSpec, tokenizer) -> int:
    """The longest input the model accepts: its position table, else the tokenizer's limit."""
    if spec.model.pretrained is None:
        return spec.model.context_length
    size = max_positions(pretrained_config(spec))
    if size is not None:
        return size
    limit = tokenizer.model_max_length
    return limit if isinstance(limit, int) and limit < 1_000_000 else _FALLBACK_MAX_LENGTH


def resolve_max_length(spec: FinetuneSpec, tokenizer) -> int:
    model_max = model_max_positions(spec, tokenizer)
    if spec.max_length is None:
        return model_max
    if spec.max_length > model_max:
        raise DataError(
            f"max_length ({spec.max_length}) exceeds the model's {model_max} positions",
            f"set max_length to at most {model_max}",
        )
    return spec.max_length


def load_task_splits(
    spec: FinetuneSpec, text_columns: list[str], needed: list[str], report: "DataReport"
) -> DatasetDict:
    """Read, clean, filter, deduplicate and split the data (the preprocess stage's code and
    cache); rows dropped by cleaning are counted in `report`."""
    splits, dropped = clean_splits(
        spec.data, spec.cleaning, spec.split, text_columns, required_columns=needed
    )
    for split, reasons in dropped.items():
        for reason, count in reasons.items():
            if count:
                report.record(split, **{f"dropped_{reason}": count})
    return DatasetDict(splits)  # clean_splits has checked the `needed` columns exist


def tokenize_splits(
    raw: DatasetDict,
    tokenize: Callable[[dict[str, list]], dict[str, list]],
    report: "DataReport",
    counted: dict[str, str],
    added: dict[str, dict[str, list]] | None = None,
    desc: str = "tokenizing",
) -> DatasetDict:
    """Every split through `tokenize` (a batched `map` that replaces the raw columns).

    `added` columns (name → split → values, e.g. encoded labels) are attached first; the boolean
    columns of `counted` (column → report key, e.g. truncated → truncated) are summed into
    `report` and dropped, and the report is announced once.
    """
    out = {}
    for split, ds in raw.items():
        for name, values in (added or {}).items():
            ds = ds.add_column(name, values[split])
        ds = ds.map(tokenize, batched=True, remove_columns=ds.column_names, desc=f"{desc} {split}")
        counts = {key: int(sum(ds[column])) for column, key in counted.items()}
        report.record(split, rows=len(ds), **counts)
        out[split] = ds.remove_columns(list(counted))
    report.announce()
    return DatasetDict(out)


def tokenize_counting_truncation(
    tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, **kwargs: Any
) -> tuple[dict[str, list], list[bool]]:
    """Tokenize without padding; rows longer than `max_length` are tokenized again with the
    tokenizer's own truncation (so pairs are cut longest-first and special tokens kept).
    Returns the encoding as plain lists and which rows were truncated."""
    enc = dict(tokenizer(texts, pairs, truncation=False, return_attention_mask=False, **kwargs))
    too_long = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) > max_length]
    if too_long:
        again = tokenizer(
            [texts[i] for i in too_long],
            [pairs[i] for i in too_long] if pairs is not None else None,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            **kwargs,
        )
        for key in enc:
            for j, i in enumerate(too_long):
                enc[key][i] = again[key][j]
    long_rows = set(too_long)
    return enc, [i in long_rows for i in range(len(texts))]


LENGTH_WARNING_FRACTION = 0.05
"""Above this share of a split's examples truncated or dropped for length, the report warns."""


def warn(message: str) -> None:
    """A warning the user must not miss: yellow, one paragraph, printed by the main process."""
    if PartialState().is_main_process:
        Console().print(f"warning: {message}", style="bold yellow", soft_wrap=True, markup=False)


class DataReport:
    """Rows kept, truncated and dropped per split; printed once and saved as
    finetune_data.json next to the model, so no truncation is silent. When more than a few
    percent of a split's examples lose tokens to max_length it also warns."""

    def __init__(self, split_names: dict[str, str] | None = None, max_length: int | None = None):
        self.splits: dict[str, dict[str, int]] = {}
        self.split_names = split_names or {}
        """How a split is named in the printed lines (eval names its one split after the data
        file); the others are "finetune data <split>"."""
        self.max_length = max_length

    def record(self, split: str, **counts: int) -> None:
        self.splits.setdefault(split, {}).update(counts)

    def lines(self) -> list[str]:
        out = []
        for split, counts in self.splits.items():
            parts = ", ".join(f"{k} {v}" for k, v in counts.items())
            name = self.split_names.get(split, f"finetune data {split}")
            out.append(f"{name}: {parts}")
        return out

    def length_warnings(self) -> list[str]:
        """A sentence per split where truncation and length drops exceed the warning share."""
        out = []
        for split, counts in self.splits.items():
            truncated = counts.get("truncated", 0)
            dropped = counts.get("dropped_no_response_tokens", 0)
            total = counts.get("rows", 0) + dropped
            # SFT's dropped examples were truncated too: the larger count is the share affected
            if not total or max(truncated, dropped) / total <= LENGTH_WARNING_FRACTION:
                continue
            name = self.split_names.get(split, f"finetune data {split}")
            parts = [f"{truncated} of {total} examples ({truncated / total:.0%}) are truncated"]
            if dropped:
                parts.append(
                    f"{dropped} ({dropped / total:.0%}) are dropped because no response token "
                    "is left after truncation"
                )
            out.append(f"{name}: {' and '.join(parts)}")
        return out

    def announce(self) -> None:
        if PartialState().is_main_process:
            for line in self.lines():
                print(line, flush=True)
        problems = self.length_warnings()
        if problems:
            limit = f"max_length {self.max_length}" if self.max_length else "max_length"
            warn(
                f"{'; '.join(problems)} at {limit}. The model is trained and scored on less "
                "text than you gave it: raise max_length (up to the model's positions), shorten "
                "the long examples, or check that the tokenizer suits the text (a character "
                "tokenizer spends a token per character)."
            )

    def save(self, directory: str | Path) -> None:
        path = Path(directory) / "finetune_data.json"
        path.write_text(json.dumps(self.splits, indent=2) + "\n", encoding="utf-8")


class FinetuneTaskBase:
    """Shared parts of the finetuning tasks (see llmkit.tasks.base.Task for the protocol)."""

    name = ""
    auto_class_name = ""
    """The transformers AutoModelFor… class the task trains."""
    peft_task_type = ""
    groups_by_length_by_default = False
    """What `batching.group_by_length` unset means for this task (see BatchingConfig)."""

    def __init__(self, spec: FinetuneSpec):
        self.spec = spec
        self.tokenizer = load_tokenizer(spec)
        self.max_length = resolve_max_length(spec, self.tokenizer)
        self.report = DataReport(max_length=self.max_length)

    def prepare_data(self, rows: Dataset | None = None) -> TaskData:
        raw = self.read_splits() if rows is None else DatasetDict({"eval": rows})
        splits = self.tokenize_splits(raw)
        return TaskData(
            splits, self.tokenizer, self.collate, self.count_loss_items, self.train_sampler
        )

    def model_kwargs(self) -> dict[str, Any]:
        """Extra from_pretrained/from_config arguments (e.g. num_labels, id2label)."""
        return {}

    def build_model(self) -> torch.nn.Module:
        auto_class = getattr(transformers, self.auto_class_name)
        model = load_or_build(
            self.spec.model,
            auto_class,
            self.tokenizer,
            self.spec.precision,
            **self.model_kwargs(),
        )
        return adapters.prepare_for_training(
            model, self.spec.lora, self.spec.freeze, self.peft_task_type
        )

    def train_sampler(self, dataset: Dataset, batch_size: int, seed: int):
        """The loop's sampler hook: length-grouped random batches, or None for a plain shuffle."""
        group = self.spec.batching.group_by_length
        if group is None:
            group = self.groups_by_length_by_default
        if not group or "length" not in dataset.column_names:
            return None
        return LengthGroupedSampler(
            dataset["length"], batch_size, seed, window=self.spec.batching.window
        )

    def save_artifacts(self, model: torch.nn.Module, output_dir: str) -> None:
        out = Path(output_dir)
        self.tokenizer.save_pretrained(str(out))
        self.report.save(out)
        if adapters.is_adapter_model(model):
            # the loop's save_pretrained of a peft model wrote the adapter at the top level;
            # the top level holds the merged plain model instead, the adapter goes below
            for name in ("adapter_config.json", "adapter_model.safetensors", "README.md"):
                (out / name).unlink(missing_ok=True)
            adapters.save_adapter(model, out / "adapter")
            adapters.merged_copy(model).save_pretrained(str(out))


class PerTokenLabelLoss:
    """Loss for tasks whose batch carries a label per output position (IGNORE_INDEX = no
    loss): token classification and seq2seq. The task supplies `_logits(model, batch)`."""

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return count_loss_tokens(batch["labels"])

    def loss_sum(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return token_losses(self._logits(model, batch).float(), batch["labels"], "sum")
