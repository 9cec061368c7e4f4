"""Running an exported ONNX directory in onnxruntime: the sessions, and a causal LM's greedy
decoding with the key/value cache fed back (what a deployment does)."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from llmkit.errors import CheckpointError

EXPORT_INFO = "onnx_export.json"
TRAINING_CONFIG_DIR = "training"
"""Sub-directory of an ONNX export holding the source run's llmkit_config.yaml."""


def session(path: Path, threads: int | None = None):
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_export_info(directory: Path) -> dict:
    path = Path(directory) / EXPORT_INFO
    if not path.is_file():
        raise CheckpointError(
            f"{directory}: no {EXPORT_INFO}; not an ONNX directory written by `llmkit export`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def empty_past(info: dict, batch: int) -> dict[str, np.ndarray]:
    shape = (batch, info["kv_heads"], 0, info["head_dim"])
    return {
        f"past.{i}.{kv}": np.zeros(shape, dtype=np.float32)
        for i in range(info["layers"])
        for kv in ("key", "value")
    }


def positions(mask: np.ndarray, length: int) -> np.ndarray:
    """Position ids of the last `length` tokens from the attention mask (left padding counts
    nothing), as transformers' generate computes them."""
    position = np.cumsum(mask, axis=1) - 1
    position = np.where(mask == 0, 1, position)
    return position[:, -length:].astype(np.int64)


def greedy_generate(sess, info: dict, input_ids: np.ndarray, mask: np.ndarray, new_tokens: int):
    """Greedy continuation of a (left-padded) batch: the prompt once with an empty past, then one
    token per step with the cache the previous step returned."""
    feed = {
        "input_ids": input_ids.astype(np.int64),
        "attention_mask": mask.astype(np.int64),
        "position_ids": positions(mask, input_ids.shape[1]),
        **empty_past(info, input_ids.shape[0]),
    }
    output_names = [o.name for o in sess.get_outputs()]
    generated = []
    for _ in range(new_tokens):
        outputs = dict(zip(output_names, sess.run(None, feed), strict=True))
        token = outputs["logits"][:, -1].argmax(-1)[:, None].astype(np.int64)
        generated.append(token)
        mask = np.concatenate([mask, np.ones_like(token)], axis=1)
        feed = {"input_ids": token, "attention_mask": mask, "position_ids": positions(mask, 1)}
        feed |= {
            name.replace("present.", "past."): value
            for name, value in outputs.items()
            if name.startswith("present.")
        }
    return np.concatenate(generated, axis=1)
