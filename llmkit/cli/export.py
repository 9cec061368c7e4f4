"""`llmkit export`: a model or run directory → hf directory + model card, ONNX or GGUF."""

from pathlib import Path

import typer

from llmkit.cli.common import SetOpt

EXAMPLE = (
    "Example: llmkit export runs/finetune-sst2 --format onnx --output exports/sst2-onnx "
    "--quantize int8   ·   llmkit export runs/tiny-gpt --format gguf --output exports/gpt "
    "--set gguf.type=q8_0"
)


def export(
    source: str | None = typer.Argument(None, help="Model directory or training run directory."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="hf, onnx or gguf."),
    output: str | None = typer.Option(None, "--output", "-o", help="Output directory."),
    config: Path | None = typer.Option(None, "--config", "-c", dir_okay=False, help="YAML."),
    force: bool | None = typer.Option(
        None, "--force", help="Replace an earlier export in --output."
    ),
    merge_lora: bool | None = typer.Option(
        None, "--merge-lora/--adapter-only", help="LoRA runs: merged model (default) or adapter."
    ),
    dtype: str | None = typer.Option(None, "--dtype", help="hf weights: fp32, fp16 or bf16."),
    quantize: str | None = typer.Option(None, "--quantize", help="onnx: none or int8."),
    set_: list[str] = SetOpt,
) -> None:
    """Export a trained model: a clean HF directory with a model card, ONNX (verified in
    onnxruntime) or GGUF (verified by loading it back)."""
    from llmkit.config.export import load_export_config
    from llmkit.export.run import run_export

    flags = {"source": source, "format": fmt, "output_dir": output, "force": force,
             "merge_lora": merge_lora, "dtype": dtype, "onnx.quantize": quantize}  # fmt: skip
    run_export(load_export_config(config, set_, flags))
