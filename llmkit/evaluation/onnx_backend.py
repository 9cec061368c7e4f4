"""An ONNX model (a directory written by `llmkit export --format onnx`, or one of its .onnx files)
as a stand-in for a transformers model in model-mode evaluation: called like one, it runs
onnxruntime and returns an object with `.logits` (a CPU torch tensor). Classification, token
classification and perplexity only need logits for a batch, so they score it unchanged.
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

ONNX_TASKS = ("classification", "token-classification", "perplexity")


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
            f"{', '.join(ONNX_TASKS)}; generation tasks need the PyTorch model directory"
        )


class OnnxLogits(torch.nn.Module):
    """Logits of a batch from onnxruntime; a causal LM's graph gets an empty cache."""

    def __init__(self, path: str):
        super().__init__()
        directory = Path(config_dir(path))
        self.info = read_export_info(directory)
        if self.info["kind"] == "seq2seq":
            raise ConfigError(f"{path}: a seq2seq ONNX export is not scored by llmkit eval")
        file = Path(path) if Path(path).suffix == ".onnx" else directory / "model.onnx"
        self.session = session(file)
        self.input_names = [i.name for i in self.session.get_inputs()]

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
        logits = self.session.run(["logits"], feed)[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))
