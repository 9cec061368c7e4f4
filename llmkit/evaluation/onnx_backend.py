"""An ONNX model (a directory written by `llmkit export --format onnx`, or one of its .onnx files)
as a stand-in for a transformers model in model-mode evaluation: called like one, it runs
onnxruntime and returns an object with the graph's outputs as attributes (CPU torch tensors):
`.logits`, or `.start_logits` and `.end_logits` for extractive QA. Classification, token
classification, multiple choice (inputs batch × choices × tokens), extractive QA and perplexity
only need those for a batch, so their finetuning task objects score it unchanged.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from llmkit.errors import ConfigError
from llmkit.export.ort_runtime import (
    TRAINING_CONFIG_DIR,
    empty_past,
    positions,
    read_export_info,
    session,
)

ONNX_TASKS = (
    "classification",
    "token-classification",
    "multiple-choice",
    "question-answering",
    "perplexity",
)


def is_onnx(path: str) -> bool:
    p = Path(path)
    return p.suffix == ".onnx" or (p / "onnx_export.json").is_file()


def config_dir(path: str) -> str:
    """The directory holding config.json and the tokenizer: the file's directory for a file."""
    p = Path(path)
    return str(p.parent if p.suffix == ".onnx" else p)


def settings_dir(path: str) -> str:
    """Where the finetune settings eval reuses live: for an ONNX export, the training run's
    config that `llmkit export` kept under training/; for a PyTorch model, its own directory."""
    if not is_onnx(path):
        return path
    return str(Path(config_dir(path)) / TRAINING_CONFIG_DIR)


def check_task(path: str, task: str) -> None:
    if task not in ONNX_TASKS:
        raise ConfigError(
            f"task {task}: an ONNX model ({path}) is evaluated for "
            f"{', '.join(ONNX_TASKS)}; score {task} with the PyTorch model directory it was "
            "exported from"
        )


class OnnxLogits(torch.nn.Module):
    """Logits of a batch from onnxruntime; a causal LM's graph gets an empty cache, and its
    returned cache (present.*) is not fetched."""

    def __init__(self, path: str):
        super().__init__()
        directory = Path(config_dir(path))
        self.info = read_export_info(directory)
        if self.info["kind"] == "seq2seq":
            raise ConfigError(f"{path}: a seq2seq ONNX export is not scored by llmkit eval")
        file = Path(path) if Path(path).suffix == ".onnx" else directory / "model.onnx"
        self.session = session(file)
        self.input_names = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_names = [name for name in outputs if not name.startswith("present.")]

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, input_ids, attention_mask, token_type_ids=None, **_unused):
        ids, mask = input_ids.cpu().numpy(), attention_mask.cpu().numpy().astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            feed["token_type_ids"] = types.cpu().numpy()
        if self.info["kind"] == "causal":
            feed["position_ids"] = positions(mask, ids.shape[1])
            feed |= empty_past(self.info, ids.shape[0])
        outputs = self.session.run(self.output_names, feed)
        return SimpleNamespace(
            **{
                name: torch.from_numpy(out)
                for name, out in zip(self.output_names, outputs, strict=True)
            }
        )
