"""The export stage: check everything, write into a staging directory, verify, rename."""

from pathlib import Path

from rich.console import Console
from transformers.utils import logging as hf_logging

from llmkit.config.export import ExportConfig
from llmkit.config.load import save_resolved_config
from llmkit.export.output import check_export_output, staged_export
from llmkit.export.source import resolve_source


def run_export(cfg: ExportConfig) -> Path:
    console = Console(highlight=False, soft_wrap=True)
    hf_logging.disable_progress_bar()  # weight-loading bars would bury the verification lines
    source = resolve_source(cfg.source)
    out = check_export_output(cfg.output_dir, cfg.force, Path(cfg.source))
    exporter = _exporter(cfg.format)
    console.print(f"exporting {source.description} as {cfg.format}")
    with staged_export(out, cfg.force) as staging:
        summary = exporter(source, cfg, staging, console.print)
        save_resolved_config(cfg, staging)
    console.print(f"wrote {out}: {summary}")
    return out


def _exporter(fmt: str):
    # Each format imports its own libraries when chosen: onnx alone takes ~0.8 s (measured,
    # -X importtime), which an hf or gguf export does not need.
    if fmt == "hf":
        from llmkit.export.hf import export_hf

        return export_hf
    if fmt == "onnx":
        from llmkit.export.onnx import export_onnx

        return export_onnx
    from llmkit.export.gguf import export_gguf

    return export_gguf
