"""`llmkit run PIPELINE.yaml`: named stages run in the order written, each section exactly the
config its own command takes (its `stage:` key included), so a section cut into its own file runs
alone. A value `${pretrain.output_dir}` (or `${pretrain}` for short) refers to an earlier stage's
resolved config; references are resolved and every section validated by its own schema before
anything runs. A section without `output_dir` writes to `<pipeline output_dir>/<stage name>`."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from llmkit.config.base import Section
from llmkit.config.load import (
    apply_overrides,
    format_validation_error,
    read_yaml,
    validate,
)
from llmkit.config.stages import STAGE_SCHEMAS, schema_for
from llmkit.errors import ConfigError

REFERENCE = re.compile(r"\$\{([^}]*)\}")
STAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
RUNNABLE = tuple(s for s in STAGE_SCHEMAS if s != "pipeline")
"""Stage types a pipeline runs."""


class PipelineConfig(Section):
    """The pipeline file: where its state and report go, and its stages in order."""

    stage: str = "pipeline"
    output_dir: str = "runs/pipeline"
    """The pipeline's own directory: its state (pipeline_state.json), report.md, pipeline.json,
    each stage's resolved config as a YAML file, and the outputs of stages that name none."""
    stages: dict[str, dict[str, Any]] = Field(min_length=1)
    """Stage name → that stage's config (with its `stage:` key), run in the order written."""

    @field_validator("stage")
    @classmethod
    def _is_pipeline(cls, value: str) -> str:
        if value != "pipeline":
            raise ValueError("a pipeline file has 'stage: pipeline' (or no stage key)")
        return value

    @field_validator("stages")
    @classmethod
    def _names(cls, stages: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in stages:
            if not STAGE_NAME.fullmatch(name):
                raise ValueError(
                    f"stage name '{name}': use letters, digits, '_' and '-' (a name can be "
                    "referred to as ${name.key})"
                )
        return stages


@dataclass(frozen=True)
class PipelineStage:
    """One stage of a resolved pipeline."""

    name: str
    kind: str
    """Its stage type: tokenizer, preprocess, pretrain, finetune, eval, generate or export."""
    config: BaseModel
    """The section, references resolved, validated by the stage's own schema."""
    references: tuple[str, ...]
    """Earlier stages whose config or output this one names."""


def load_pipeline(
    path: str | Path, overrides: list[str] | None = None
) -> tuple[PipelineConfig, list[PipelineStage]]:
    """The pipeline file + `--set stages.NAME.key=value` overrides → its stages, resolved."""
    overrides = list(overrides or [])
    data = apply_overrides(read_yaml(path), overrides)
    cfg = validate(PipelineConfig, data, str(path), overrides)
    return cfg, resolve_stages(cfg, str(path), overrides)


def resolve_stages(
    cfg: PipelineConfig, source: str, overrides: list[str] = ()
) -> list[PipelineStage]:
    names = list(cfg.stages)
    found = {name: _references_in(section) for name, section in cfg.stages.items()}
    _check_no_cycle(found, source)
    resolved: dict[str, dict[str, Any]] = {}
    stages = []
    for name, section in cfg.stages.items():
        for key, target in found[name]:
            _check_target(name, key, target, names, source)
        kind = _kind_of(name, section, source)
        section = _with_default_output(kind, section, Path(cfg.output_dir) / name)
        section = _substitute(section, resolved, f"{source}: stages.{name}")
        config = _validate_section(name, kind, section, source, overrides)
        _check_runs_unattended(name, kind, config, source)
        resolved[name] = config.model_dump(mode="json")
        refs = tuple(dict.fromkeys(target.split(".")[0] for _, target in found[name]))
        stages.append(PipelineStage(name, kind, config, refs))
    return stages


def _references_in(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key path, reference) in a section, e.g. ("model.pretrained", "pretrain.output_dir")."""
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in _references_in(v, f"{key}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [r for i, v in enumerate(value) for r in _references_in(v, f"{key}.{i}")]
    if isinstance(value, str):
        return [(key, m.strip()) for m in REFERENCE.findall(value)]
    return []


def _check_no_cycle(found: dict[str, list[tuple[str, str]]], source: str) -> None:
    edges = {
        n: [t.split(".")[0] for _, t in refs if t.split(".")[0] in found]
        for n, refs in found.items()
    }

    def visit(node: str, path: list[str]) -> list[str] | None:
        for nxt in edges[node]:
            if nxt in path:
                return path[path.index(nxt) :] + [nxt]
            cycle = visit(nxt, path + [nxt])
            if cycle:
                return cycle
        return None

    for start in edges:
        cycle = visit(start, [start])
        if cycle:
            raise ConfigError(
                f"{source}: stages: the references form a cycle: {' → '.join(cycle)}",
                "a stage can only use the output of a stage that runs before it",
            )


def _check_target(name: str, key: str, target: str, names: list[str], source: str) -> None:
    where = f"{source}: stages.{name}.{key}: ${{{target}}}"
    other = target.split(".")[0]
    if other not in names:
        raise ConfigError(
            f"{where} refers to stage '{other}', which does not exist",
            f"the stages are: {', '.join(names)}",
        )
    if names.index(other) > names.index(name):
        raise ConfigError(
            f"{where} refers to stage '{other}', which comes later; stages run in the order "
            "written",
            f"move '{other}' before '{name}'",
        )


def _kind_of(name: str, section: dict[str, Any], source: str) -> str:
    kind = section.get("stage")
    if kind is None:
        raise ConfigError(
            f"{source}: stages.{name}.stage: required key is missing",
            f"name the stage's command, one of: {', '.join(RUNNABLE)}",
        )
    if kind not in RUNNABLE:
        raise ConfigError(
            f"{source}: stages.{name}.stage: unknown stage type '{kind}'",
            f"use one of: {', '.join(RUNNABLE)}",
        )
    return kind


def _with_default_output(kind: str, section: dict[str, Any], default: Path) -> dict[str, Any]:
    if "output_dir" in section or "output_dir" not in schema_for(kind).model_fields:
        return section
    return {**section, "output_dir": str(default)}


def _substitute(value: Any, resolved: dict[str, dict[str, Any]], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, resolved, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, resolved, f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = REFERENCE.fullmatch(value.strip())
    if whole:  # a whole value keeps its type: ${pretrain.model.context_length} is an int
        return _lookup(whole.group(1).strip(), resolved, where)
    return REFERENCE.sub(lambda m: str(_lookup(m.group(1).strip(), resolved, where)), value)


def _lookup(target: str, resolved: dict[str, dict[str, Any]], where: str) -> Any:
    name, *path = target.split(".")
    node: Any = resolved[name]
    if not path:  # ${pretrain}: the stage's output directory
        path = ["output_dir"]
    for i, part in enumerate(path):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            dotted = ".".join(path[: i + 1])
            keys = f"; its keys: {', '.join(node)}" if isinstance(node, dict) else ""
            raise ConfigError(f"{where}: ${{{target}}}: stage '{name}' has no key '{dotted}'{keys}")
    if node is None:
        raise ConfigError(f"{where}: ${{{target}}}: stage '{name}' leaves '{'.'.join(path)}' unset")
    return node


def _validate_section(
    name: str, kind: str, section: dict[str, Any], source: str, overrides: list[str]
) -> BaseModel:
    """The section through its stage's own schema; error lines name stages.NAME.key."""
    schema = schema_for(kind)
    prefix = f"stages.{name}."
    own = [o.removeprefix(prefix) for o in overrides if o.startswith(prefix)]
    try:
        return schema.model_validate(section)
    except ValidationError as e:
        lines = format_validation_error(e, schema, "\0", own).splitlines()
        raise ConfigError("\n".join(_prefixed(line, source, prefix) for line in lines)) from None


def _check_runs_unattended(name: str, kind: str, config: BaseModel, source: str) -> None:
    """What `llmkit generate` takes from its command line, a pipeline's section must hold: a
    model, prompts, and a directory for the generations (the report and the next run read it)."""
    if kind != "generate":
        return
    where = f"{source}: stages.{name}"
    if config.model is None:
        raise ConfigError(
            f"{where}.model: required in a pipeline", "name a model directory, e.g. ${sft}"
        )
    if not config.prompts and config.input_file is None:
        raise ConfigError(
            f"{where}: no prompts", "give prompts: [...] or input_file: FILE (.txt or .jsonl)"
        )
    if config.output_dir is None:
        raise ConfigError(
            f"{where}.output_dir: a pipeline's generate stage writes generations.jsonl",
            "name a directory, or leave the key out for the pipeline's default",
        )


def _prefixed(line: str, source: str, prefix: str) -> str:
    """A section's error line with its keys spelled from the pipeline file's top."""
    origin, _, rest = line.partition(": ")
    unknown = "unknown key '"
    if rest.startswith(unknown):
        rest = unknown + prefix + rest[len(unknown) :]
    else:
        rest = prefix + rest
    return f"{'--set' if origin == '--set' else source}: {rest}"
