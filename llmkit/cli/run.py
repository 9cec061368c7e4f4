"""`llmkit run`: a pipeline of stages from one YAML file; only what changed reruns."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, SetOpt

EXAMPLE = (
    "Example: llmkit run configs/pipelines/tiny-gpt.yaml --set stages.sft.train.max_steps=50   ·   "
    "llmkit run PIPELINE.yaml --dry-run   ·   llmkit run PIPELINE.yaml --from finetune"
)


def run(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    start: str | None = typer.Option(None, "--from", help="Run this stage and all after it."),
    only: str | None = typer.Option(None, "--only", help="Run this stage alone."),
    force: bool = typer.Option(False, "--force", help="Rerun the stages even if unchanged."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the plan (run or skip, and why), check stages, run none."
    ),
) -> None:
    """Run a pipeline's stages in order (tokenizer → … → export), skipping unchanged ones."""
    from llmkit.config.pipeline import load_pipeline
    from llmkit.pipeline.plan import Selection
    from llmkit.pipeline.run import run_pipeline

    cfg, stages = load_pipeline(config, set_)
    run_pipeline(cfg, stages, Selection(start, only, force), dry_run=dry_run)
