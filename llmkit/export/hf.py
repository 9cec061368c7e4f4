"""hf format: a self-contained Hugging Face directory (safetensors weights, config, generation
config, tokenizer) + README.md model card, loadable by plain transformers without llmkit.

A LoRA run exports merged by default: the adapters folded into the base weights, a plain model.
`merge_lora: false` exports the adapter alone (adapter_config.json + adapter_model.safetensors),
to be loaded with peft onto its base model.
"""

import shutil
from pathlib import Path

import torch

from llmkit.config.export import ExportConfig
from llmkit.errors import UserError
from llmkit.export.card import model_card
from llmkit.export.loading import head_of, load_model, load_tokenizer
from llmkit.export.source import ExportSource, resolve_source

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
ADAPTER_TOLERANCE = 1e-5
"""Largest weight difference between base + adapter merged and the run's merged model (fp32)."""


def export_hf(source: ExportSource, cfg: ExportConfig, out: Path, say=print) -> str:
    """Write the directory into `out`; returns a one-line summary."""
    auto_class, pipeline_tag = head_of(source)
    tokenizer = load_tokenizer(source, cfg.trust_remote_code)
    if not cfg.merge_lora:
        return _export_adapter(source, cfg, out, tokenizer, auto_class, pipeline_tag, say)
    model = load_model(source, cfg.trust_remote_code, merge_lora=True)
    model = model.to(DTYPES[cfg.dtype])
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    card = model_card(source, model, auto_class, pipeline_tag, cfg.license)
    (out / "README.md").write_text(card, encoding="utf-8")
    parameters = sum(p.numel() for p in model.parameters())
    return f"{source.architecture}, {parameters:,} parameters, {cfg.dtype} safetensors"


def _export_adapter(source, cfg, out, tokenizer, auto_class: str, pipeline_tag: str, say) -> str:
    if source.adapter_dir is None:
        raise UserError(
            f"merge_lora: {source.model_dir} is not a LoRA run (no adapter/ directory); "
            "--adapter-only needs one"
        )
    if cfg.dtype != "fp32":
        raise UserError("dtype: an adapter is exported as trained (fp32); remove --dtype")
    model = load_model(source, cfg.trust_remote_code, merge_lora=False)
    if source.adapter_dir.parent == source.model_dir:
        _check_adapter_reproduces_run(source, model, cfg.trust_remote_code, say)
    for name in ADAPTER_FILES:
        shutil.copy2(source.adapter_dir / name, out / name)
    tokenizer.save_pretrained(out)
    card = model_card(source, model, auto_class, pipeline_tag, cfg.license, adapter_only=True)
    (out / "README.md").write_text(card, encoding="utf-8")
    return f"LoRA adapter of {source.architecture} (load it with peft onto its base model)"


def _check_adapter_reproduces_run(source: ExportSource, merged, trust_remote_code: bool, say):
    """The adapter on its base must give the run's (merged) model. It does not when the run
    initialized weights that neither the base nor the adapter holds, e.g. a classifier's pooler
    on a masked-LM base: those stay frozen under LoRA and are saved only in the merged model."""
    rebuilt = load_model(resolve_source(str(source.adapter_dir)), trust_remote_code, True)
    expected, got = merged.state_dict(), rebuilt.state_dict()
    missing = [name for name in expected if name not in got]
    differ = {
        name: float((expected[name].float() - got[name].float()).abs().max())
        for name in expected
        if name in got and expected[name].shape == got[name].shape
    }
    worst = max(differ.values(), default=0.0)
    bad = missing + [name for name, d in differ.items() if d > ADAPTER_TOLERANCE]
    if bad:
        raise UserError(
            f"merge_lora: the adapter on its base model does not reproduce this run's model "
            f"({len(bad)} tensors differ, e.g. {bad[0]}): the run initialized weights that only "
            "its merged model holds",
            "export the merged model (drop --adapter-only)",
        )
    say(f"adapter on its base = the run's merged model (largest weight difference {worst:.1e})")
