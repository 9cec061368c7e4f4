"""`llmkit generate`: complete prompts with a trained model (batched), or chat interactively."""

from pathlib import Path

import typer

from llmkit.cli.common import ForceOpt, SetOpt

EXAMPLE = (
    'Example: llmkit generate runs/pretrain --prompt "To be, or not" '
    "--set generation.do_sample=true --set generation.top_p=0.9   ·   "
    "llmkit generate runs/t5 --input-file sources.txt --set output_dir=out"
)


def generate(
    model_dir: str | None = typer.Argument(None, help="Model directory or hub id."),
    prompts: list[str] = typer.Option([], "--prompt", "-p", help="A prompt (repeatable)."),
    input_file: str | None = typer.Option(
        None, "--input-file", "-i", help=".txt (one prompt per line) or .jsonl."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", dir_okay=False, help="YAML config (stage: generate)."
    ),
    interactive: bool = typer.Option(
        False, "--interactive", help="Read prompts from stdin and stream the output."
    ),
    set_: list[str] = SetOpt,
    force: bool = ForceOpt,
) -> None:
    """Generate text: greedy by default; beams and sampling via --set generation.…"""
    from llmkit.config.generate import load_generate_config
    from llmkit.generation import run_generate

    cfg = load_generate_config(config, set_, model_dir, prompts, input_file)
    run_generate(cfg, interactive=interactive, force=force)
