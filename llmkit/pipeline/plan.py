"""The plan of a pipeline run: for each stage, run, resume or skip, and why.

A stage is skipped when it completed before with the same resolved config, the same inputs
(content hashes of the files it reads; for an earlier stage's output, the fingerprint recorded
when that stage completed) and its outputs still exist. A stage that reruns makes every stage
that uses it rerun. A training stage interrupted with the same config and inputs resumes from
its last checkpoint. Everything here only reads: the plan is decided before anything runs.
"""

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.config.pipeline import PipelineStage
from llmkit.errors import ConfigError, DataError, UserError
from llmkit.outputs import is_empty_dir
from llmkit.pipeline.state import (
    changed_keys,
    config_hash,
    config_view,
    file_digest,
    now,
    tree_fingerprint,
)

TRAINING = ("pretrain", "finetune")
TEXT_KEYS = ("prompts",)
"""Top-level keys whose strings are text to work on, never paths (generate's prompts: a prompt
that happens to name a file, or holds a '*', is not an input file)."""


@dataclass(frozen=True)
class Selection:
    """What the user asked for on the command line."""

    start: str | None = None
    """--from: this stage and every one after it run; earlier ones are skipped."""
    only: str | None = None
    """--only: this stage runs, no other."""
    force: bool = False
    """--force: every selected stage runs, from scratch."""


@dataclass(frozen=True)
class StagePlan:
    stage: PipelineStage
    action: str
    """run, resume (a training stage continuing its checkpoint) or skip."""
    reason: str
    uses: tuple[str, ...]
    """Earlier stages whose config or output this stage uses."""

    @property
    def runs(self) -> bool:
        return self.action != "skip"


def output_paths(stage: PipelineStage) -> list[Path]:
    """What the stage writes: its output_dir, and eval's scores file when it names one."""
    cfg = stage.config
    found = [getattr(cfg, key, None) for key in ("output_dir", "output")]
    return [Path(p) for p in found if p is not None]


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _leaves(v)]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    return [value] if isinstance(value, str) else []


def _owner(path: Path, earlier: list[PipelineStage]) -> str | None:
    """The earlier stage whose output holds `path`, if any."""
    resolved = path.resolve()
    for stage in reversed(earlier):
        for out in output_paths(stage):
            out = out.resolve()
            if resolved == out or out in resolved.parents:
                return stage.name
    return None


def stage_inputs(
    stage: PipelineStage, earlier: list[PipelineStage], state: dict[str, dict[str, Any]]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """(input → hash, the earlier stages used). Every string of the config naming an existing
    file, directory or glob counts: a file by its content, a directory by its files' names,
    sizes and times, an earlier stage's output by the fingerprint recorded at its completion."""
    config = config_view(stage.config)
    for key in ("output_dir", "output", *TEXT_KEYS):
        config.pop(key, None)
    inputs: dict[str, str] = {}
    uses = list(stage.references)
    for text in _leaves(config):
        if not text or "\n" in text or len(text) > 4096:
            continue
        owner = _owner(Path(text), earlier)
        if owner is not None:
            uses.append(owner)
            continue
        for name in sorted(glob.glob(text)) if glob.has_magic(text) else [text]:
            path = Path(name)
            if path.is_file():
                inputs[name] = file_digest(path)
            elif path.is_dir():
                inputs[name] = tree_fingerprint([path]) or "missing"
    uses = list(dict.fromkeys(uses))
    for name in uses:
        record = state.get(name, {})
        inputs[f"stage {name}"] = record.get("output_fingerprint") or "not completed"
    return inputs, tuple(uses)


def started_record(
    stage: PipelineStage, earlier: list[PipelineStage], state: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The state's record of a stage about to run: what it runs with and what it writes."""
    inputs, _ = stage_inputs(stage, earlier, state)
    return {
        "status": "started", "kind": stage.kind, "config_hash": config_hash(stage.config),
        "config": config_view(stage.config), "inputs": inputs,
        "outputs": [str(p) for p in output_paths(stage)], "started_at": now(),
    }  # fmt: skip


def build_plan(
    stages: list[PipelineStage], state: dict[str, dict[str, Any]], selection: Selection
) -> list[StagePlan]:
    names = [s.name for s in stages]
    for flag, name in (("--from", selection.start), ("--only", selection.only)):
        if name is not None and name not in names:
            raise ConfigError(f"{flag} {name}: no stage of that name; stages: {', '.join(names)}")
    if selection.start and selection.only:
        raise ConfigError("give --from or --only, not both")
    plans: list[StagePlan] = []
    for i, stage in enumerate(stages):
        inputs, uses = stage_inputs(stage, stages[:i], state)
        action, reason = _decide(stage, i, names, inputs, uses, plans, state, selection)
        plans.append(StagePlan(stage, action, reason, uses))
        if action != "skip":
            _check_prompt_file(stage, plans[:-1])
    _check_skipped_inputs_exist(plans, state)
    return plans


def _decide(stage, index, names, inputs, uses, plans, state, selection) -> tuple[str, str]:
    record = state.get(stage.name)
    if selection.only is not None and stage.name != selection.only:
        return "skip", f"not selected (--only {selection.only})"
    if selection.start is not None and index < names.index(selection.start):
        return "skip", f"before --from {selection.start}"
    if selection.force:
        return "run", "--force"
    if record is not None and record.get("status") == "started":
        if _can_resume(stage, record, inputs):
            return "resume", "interrupted; continues from its last checkpoint"
        return "run", "interrupted before it completed"
    if selection.only or selection.start:
        flag = "--only" if selection.only else "--from"
        return "run", f"{flag} {selection.only or selection.start}"
    return _why_run(stage, record, inputs, uses, plans)


def _why_run(stage, record, inputs, uses, plans) -> tuple[str, str]:
    if record is None or record.get("status") != "complete":
        return "run", "not run before"
    if record.get("config_hash") != config_hash(stage.config):
        keys = changed_keys(record.get("config", {}), config_view(stage.config))
        shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
        return "run", f"config changed: {shown or 'resolved config'}"
    rerun = [p.stage.name for p in plans if p.runs and p.stage.name in uses]
    if rerun:
        return "run", f"{', '.join(rerun)} reruns"
    changed = [k for k in inputs if record.get("inputs", {}).get(k) != inputs[k]]
    changed += [k for k in record.get("inputs", {}) if k not in inputs]
    if changed:
        return "run", f"input changed: {', '.join(changed[:3])}"
    missing = [str(p) for p in output_paths(stage) if not p.exists()]
    if missing:
        return "run", f"its output is gone: {', '.join(missing)}"
    return "skip", f"unchanged since {record.get('finished_at', 'its last run')}"


def _can_resume(stage: PipelineStage, record: dict[str, Any], inputs: dict[str, str]) -> bool:
    if stage.kind not in TRAINING:
        return False
    same = record.get("config_hash") == config_hash(stage.config)
    checkpoints = Path(stage.config.output_dir) / "checkpoints"
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.glob("step-*"))
    return same and record.get("inputs") == inputs and has_checkpoint


def _check_skipped_inputs_exist(plans: list[StagePlan], state: dict[str, dict[str, Any]]) -> None:
    """A stage that runs needs the stages it uses either to run first or to have completed."""
    by_name = {p.stage.name: p for p in plans}
    for plan in plans:
        if not plan.runs:
            continue
        for name in plan.uses:
            used = by_name[name]
            done = state.get(name, {}).get("status") == "complete"
            present = all(p.exists() for p in output_paths(used.stage))
            if not used.runs and not (done and present):
                raise ConfigError(
                    f"stage '{plan.stage.name}' uses stage '{name}', which is skipped "
                    f"({used.reason}) and has no completed output",
                    f"run the pipeline without --only/--from, or with --from {name}",
                )


def _check_prompt_file(stage: PipelineStage, earlier: list[StagePlan]) -> None:
    """A generate stage reads its prompt file only when its turn comes: a missing or empty one
    is refused before the stages ahead of it train for minutes, unless an earlier stage that
    runs writes it (then the stage checks it when its turn comes)."""
    path = stage.config.input_file if stage.kind == "generate" else None
    if path is None:
        return
    owner = _owner(Path(path), [p.stage for p in earlier])
    if owner is not None and any(p.stage.name == owner and p.runs for p in earlier):
        return
    require_prompts(stage, "nothing was run")


def require_prompts(stage: PipelineStage, outcome: str) -> None:
    """A generate stage's prompt file exists and holds a prompt, or the stage has prompts of its
    own; the error names the stage and its file (not `llmkit generate`'s command-line flags)
    and says what `outcome` the refusal had."""
    from llmkit.generation import read_prompts

    where = f"stages.{stage.name}.input_file: {stage.config.input_file}"
    path = Path(stage.config.input_file)
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(
            f"{where} {problem}; {outcome}", "name a .txt (one prompt per line) or .jsonl file"
        )
    try:
        prompts = read_prompts(stage.config)
    except UserError as e:
        e.message = f"stages.{stage.name}: {e.message}; {outcome}"
        raise
    if not prompts:
        raise DataError(
            f"{where} holds no prompts (it is empty or has only blank lines); {outcome}",
            "write one prompt per line, or give the stage prompts: [...]",
        )


def check_owned_outputs(plans: list[StagePlan], state: dict[str, dict[str, Any]]) -> None:
    """A stage that runs may write only where this pipeline wrote before, or somewhere new:
    a non-empty directory it did not write is someone's work, refused before anything runs."""
    for plan in plans:
        if not plan.runs:
            continue
        recorded = state.get(plan.stage.name, {}).get("outputs", [])
        for path in output_paths(plan.stage):
            if not path.exists() or str(path) in recorded:
                continue
            if path.is_dir() and is_empty_dir(path):
                continue
            key = "output" if path.is_file() else "output_dir"
            raise ConfigError(
                f"stages.{plan.stage.name}.{key}: {path} exists and was not written by this "
                "pipeline; nothing was run",
                "choose another output directory, or move that one away yourself",
            )
