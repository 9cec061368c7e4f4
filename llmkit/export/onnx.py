"""onnx format: torch.onnx.export(dynamo=True) with dynamic batch and sequence axes (and choices,
for multiple choice), then checked by the command itself: onnxruntime and PyTorch run the same
inputs of several shapes (none of them the export shape) and the largest absolute difference of
any output must stay within onnx.tolerance, else the export fails (exit 1) and nothing is left
behind.

The directory holds model.onnx (seq2seq: encoder.onnx + decoder.onnx), model.int8.onnx with
--quantize int8, config.json (labels), the tokenizer, generation_config.json and
onnx_export.json (what the graphs take and return, and the measured differences), which
`llmkit eval` reads to run it.
"""

import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from llmkit.config.export import ExportConfig
from llmkit.errors import UserError
from llmkit.export.loading import load_model, load_tokenizer, task_of_source
from llmkit.export.onnx_graphs import (
    Graph,
    causal_graph,
    encoder_graph,
    flat_inputs,
    seq2seq_graphs,
)
from llmkit.export.ort_runtime import EXPORT_INFO, TRAINING_CONFIG_DIR, session
from llmkit.export.source import ExportSource

EXTERNAL_DATA_BYTES = 1 << 30
"""Larger weights go to a .onnx.data file next to the graph (protobuf caps a file at 2 GB)."""


class VerificationFailed(UserError):
    """onnxruntime's outputs differ from PyTorch's beyond the tolerance: exit code 1."""

    exit_code = 1


def export_onnx(source: ExportSource, cfg: ExportConfig, out: Path, say=print) -> str:
    model = load_model(source, cfg.trust_remote_code)
    tokenizer = load_tokenizer(source, cfg.trust_remote_code)
    kind, graphs = _graphs(source, model, tokenizer)
    info = {"kind": kind, "files": {}, "max_abs_diff": {}}
    for graph in graphs:
        path = out / f"{graph.name}.onnx"
        _export(graph, path, cfg.onnx.opset, _bytes(model))
        diff = verify(graph, path, _check_shapes(kind, graph))
        say(f"{path.name}: onnxruntime vs PyTorch, largest |logit difference| {diff:.2e} "
            f"over {len(_check_shapes(kind, graph))} input shapes")  # fmt: skip
        if diff > cfg.onnx.tolerance:
            raise VerificationFailed(
                f"onnx: {path.name} differs from PyTorch by {diff:.2e} > tolerance "
                f"{cfg.onnx.tolerance:g}; the export was removed",
                "raise onnx.tolerance only if this difference is acceptable",
            )
        info["files"][graph.name] = path.name
        info["max_abs_diff"][graph.name] = diff
        info |= graph.meta
        info.setdefault("inputs", {})[graph.name] = graph.input_names
        info.setdefault("outputs", {})[graph.name] = graph.output_names
    if cfg.onnx.quantize == "int8":
        info["int8"] = _quantize(graphs, out, kind, say)
    model.config.save_pretrained(out)
    if model.can_generate():
        model.generation_config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _keep_training_config(source, out)
    (out / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    worst = max(info["max_abs_diff"].values())
    return f"{kind} {source.architecture}, max_abs_diff {worst:.2e}"


def _keep_training_config(source: ExportSource, out: Path) -> None:
    """The run's resolved config under training/, so that `llmkit eval` scores the export with
    the run's finetune settings (columns, max_length) as it scores the run's own model."""
    if source.run_dir is None or not (source.run_dir / "llmkit_config.yaml").is_file():
        return
    (out / TRAINING_CONFIG_DIR).mkdir()
    shutil.copy2(source.run_dir / "llmkit_config.yaml", out / TRAINING_CONFIG_DIR)


ENCODER_OUTPUTS = {
    "classification": ("logits",),
    "token-classification": ("logits",),
    "mlm": ("logits",),
    "question-answering": ("start_logits", "end_logits"),
    "multiple-choice": ("logits",),
}
"""Encoder tasks → what their graph returns (the attributes of the model's output)."""


def _graphs(source: ExportSource, model, tokenizer) -> tuple[str, list[Graph]]:
    task = task_of_source(source)
    if task in ENCODER_OUTPUTS:
        token_types = "token_type_ids" in tokenizer.model_input_names
        choices = task == "multiple-choice"
        graph = encoder_graph(model, token_types, ENCODER_OUTPUTS[task], choices)
        return ("multiple-choice" if choices else "encoder"), [graph]
    if task == "clm":
        return "causal", [causal_graph(model)]
    if task == "seq2seq":
        return "seq2seq", seq2seq_graphs(model)
    raise UserError(
        f"format: onnx export covers classifiers, taggers, extractive QA, multiple choice, "
        f"masked, causal and seq2seq LMs; {source.architecture} is none of them"
    )


def _bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _export(graph: Graph, path: Path, opset: int | None, size: int) -> None:
    # the exporter narrates every phase and warns about axis names on stdout/stderr
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph.module.eval(),
            graph.example,
            dynamo=True,
            dynamic_shapes=tuple(graph.dynamic_shapes[n] for n in _arg_names(graph)),
            input_names=graph.input_names,
            output_names=graph.output_names,
            opset_version=opset,
            verbose=False,
        )
    program.save(str(path), external_data=size > EXTERNAL_DATA_BYTES)


def _arg_names(graph: Graph) -> list[str]:
    """The module's argument names, in order (the past cache is one nested argument)."""
    names = [n for n in graph.input_names if not n.startswith("past.")]
    return names + (["past"] if "past" in graph.dynamic_shapes else [])


def _check_shapes(kind: str, graph: Graph) -> list[tuple[int, int, int]]:
    """(batch, sequence, past or source length or choices) per check; the export used (2, 8, 4),
    multiple choice (2, 8, 3 choices)."""
    if kind == "causal":
        return [(1, 5, 0), (3, 2, 6), (4, 1, 11)]
    if kind == "multiple-choice":
        return [(1, 5, 4), (3, 13, 2)]
    return [(1, 5, 5), (3, 13, 13)] if graph.name != "decoder" else [(1, 3, 5), (3, 1, 13)]


def sample_inputs(graph: Graph, batch: int, length: int, other: int) -> tuple:
    """Inputs shaped like the example but (batch, length[, past/source length `other`]), or
    (batch, `other` choices, length); the last row of an encoder batch is padded to check the
    mask is honoured."""
    generator = torch.Generator().manual_seed(batch * 100 + length)
    vocab_high = int(graph.example[0].max()) + 1
    choices = graph.example[0].dim() == 3
    shape = (batch, other, length) if choices else (batch, length)
    ids = torch.randint(3, vocab_high, shape, generator=generator)
    if graph.name == "decoder":
        hidden = torch.randn(batch, other, graph.example[1].shape[-1], generator=generator)
        return ids, hidden, torch.ones(batch, other, dtype=torch.long)
    if "past" in graph.dynamic_shapes:
        template = graph.example[3][0][0]
        shape = (batch, template.shape[1], other, template.shape[3])
        past = [tuple(torch.randn(shape, generator=generator) for _ in "kv") for _ in
                graph.example[3]]  # fmt: skip
        mask = torch.ones(batch, other + length, dtype=torch.long)
        pos = torch.arange(other, other + length).expand(batch, -1)
        return ids, mask, pos, past
    mask = torch.ones_like(ids)
    if batch > 1:
        mask[-1, ..., length // 2 :] = 0
    rest = [torch.zeros_like(ids)] if len(graph.example) == 3 else []
    return (ids, mask, *rest)


def verify(graph: Graph, path: Path, shapes) -> float:
    """Largest |onnxruntime - PyTorch| over every output of every shape."""
    sess = session(path)
    worst = 0.0
    for batch, length, other in shapes:
        example = sample_inputs(graph, batch, length, other)
        with torch.no_grad():
            expected = graph.module(*example)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feed = {k: v.numpy() for k, v in flat_inputs(graph, example).items()}
        got = sess.run(None, feed)
        for e, g in zip(expected, got, strict=True):
            if e.shape != g.shape:
                raise VerificationFailed(
                    f"onnx: {path.name} returned shape {g.shape}, PyTorch {tuple(e.shape)}, "
                    f"for inputs of shape {tuple(example[0].shape)}; the export was removed"
                )
            worst = max(worst, float(np.abs(e.numpy() - g).max()))
    return worst


def _quantize(graphs: list[Graph], out: Path, kind: str, say) -> dict:
    """model.int8.onnx (each graph): dynamic int8 weights for MatMul/Gemm; how far its logits
    move and how often its top-1 choice still agrees with PyTorch's, printed and recorded."""
    # measured: ~0.9 s to import; only quantize: int8 needs it
    from onnxruntime.quantization import QuantType, quantize_dynamic

    report = {}
    for graph in graphs:
        source, target = out / f"{graph.name}.onnx", out / f"{graph.name}.int8.onnx"
        # its advice to pre-process (shape inference) goes to the root logger on every call;
        # the dynamo exporter's graphs already carry their shapes
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        diff, agree = _int8_agreement(graph, target, _check_shapes(kind, graph))
        say(f"{target.name}: largest |logit difference| {diff:.2e}, top-1 agreement "
            f"{agree:.1%} with PyTorch")  # fmt: skip
        report[graph.name] = {"file": target.name, "max_abs_diff": diff, "top1_agreement": agree}
    return report


def _int8_agreement(graph: Graph, path: Path, shapes) -> tuple[float, float]:
    """Over the graph's logit outputs (its first output when it has none: hidden states):
    the largest difference, and how often their top-1 agrees (1.0 without logits)."""
    sess = session(path)
    logits = [i for i, name in enumerate(graph.output_names) if name.endswith("logits")]
    compared = logits or [0]
    worst, same, total = 0.0, 0, 0
    for batch, length, other in shapes:
        example = sample_inputs(graph, batch, length, other)
        with torch.no_grad():
            expected = graph.module(*example)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feed = {k: v.numpy() for k, v in flat_inputs(graph, example).items()}
        got = sess.run(None, feed)
        for i in compared:
            want = expected[i].numpy()
            worst = max(worst, float(np.abs(want - got[i]).max()))
            if i in logits:
                same += int((want.argmax(-1) == got[i].argmax(-1)).sum())
                total += want.argmax(-1).size
    return worst, same / total if total else 1.0
