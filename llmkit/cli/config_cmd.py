"""`llmkit config show|validate|schema`: look at a config before running it."""

import json
from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, SetOpt
from llmkit.config.load import apply_overrides, dump_config, read_yaml, validate
from llmkit.config.pipeline import resolve_stages
from llmkit.config.stages import STAGE_SCHEMAS, schema_for, stage_of
from llmkit.errors import ConfigError

app = typer.Typer(help="Show, validate and describe configs.", no_args_is_help=True)

StageOpt = typer.Option(
    None, "--stage", help=f"Stage to validate against: {', '.join(STAGE_SCHEMAS)}."
)


def _resolve(path: Path, sets: list[str], stage: str | None):
    data = apply_overrides(read_yaml(path), sets)
    implicit = "pipeline" if "stages" in data and "stage" not in data else None  # as `run` takes it
    kind = stage_of(data, str(path), stage or implicit)
    cfg = validate(schema_for(kind), data, str(path), sets)
    if kind == "pipeline":  # each stage's section, as `llmkit run` checks it before running
        resolve_stages(cfg, str(path), sets)
    return cfg


@app.command(
    "show",
    epilog="Example: llmkit config show configs/bpe-tokenizer.yaml --set tokenizer.vocab_size=4000",
)
def show(path: Path = ConfigArg, set_: list[str] = SetOpt, stage: str | None = StageOpt) -> None:
    """Print the fully resolved config (defaults filled in, overrides applied) as YAML."""
    typer.echo(dump_config(_resolve(path, set_, stage)), nl=False)


@app.command("validate", epilog="Example: llmkit config validate configs/*.yaml")
def validate_cmd(
    paths: list[Path] = typer.Argument(..., help="YAML config files."),
    set_: list[str] = SetOpt,
    stage: str | None = StageOpt,
) -> None:
    """Check configs against their stage's schema (a pipeline: each stage's section against
    its own); exit 2 if any is invalid, naming each."""
    problems = []
    for path in paths:
        try:
            _resolve(path, set_, stage)
            typer.echo(f"{path}: ok")
        except ConfigError as e:  # check every file: CI wants all the broken ones in one run
            problems.append(str(e))
    if problems:
        raise ConfigError("\n".join(problems))


@app.command("schema", epilog="Example: llmkit config schema pretrain")
def schema(stage: str = typer.Argument(..., help=f"One of: {', '.join(STAGE_SCHEMAS)}.")) -> None:
    """Print a stage's JSON schema: every key, its type, default and documentation."""
    typer.echo(json.dumps(schema_for(stage).model_json_schema(), indent=2))
