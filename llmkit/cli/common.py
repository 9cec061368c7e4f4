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
