"""Arguments every command shares, so each command body stays a few lines."""

import typer

ConfigArg = typer.Argument(
    ..., dir_okay=False, help="YAML config file (see configs/ for examples)."
)
SetOpt = typer.Option(
    [],
    "--set",
    "-s",
    help="Override a config key, typed as YAML: --set train.lr=3e-4 (repeatable).",
)
ResumeOpt = typer.Option(
    False, "--resume", help="Continue from the latest checkpoint in output_dir."
)
ForceOpt = typer.Option(
    False, "--force", help="Replace this command's own earlier output in the output directory."
)
DryRunOpt = typer.Option(
    False, "--dry-run", help="Check config, model and data, run one step, write nothing."
)
MULTI_PROCESS_EXAMPLE = (
    "several processes: accelerate launch --multi_gpu --num_processes 2 -m llmkit"
)


def with_resume(overrides: list[str], resume: bool) -> list[str]:
    """`--resume` is `--set train.resume=auto`, applied last so it wins."""
    return [*overrides, "train.resume=auto"] if resume else overrides
