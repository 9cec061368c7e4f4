"""`llmkit run PIPELINE.yaml`: the plan, then each stage through the same function its own
command calls, in this process.

Under `accelerate launch` every process runs the pipeline: training stages (and model-mode
evaluation, which shares its batches out) run on all processes; the others run on the first
process while the rest wait, and learn from it whether the stage succeeded, so a failure stops
every process instead of leaving them waiting in a collective.
"""

import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from llmkit.config.load import save_resolved_config
from llmkit.config.pipeline import PipelineConfig, PipelineStage
from llmkit.errors import ConfigError, TrainingInterrupted, UserError
from llmkit.outputs import command_name, is_empty_dir
from llmkit.pipeline.plan import (
    TRAINING,
    Selection,
    StagePlan,
    build_plan,
    check_owned_outputs,
    output_paths,
    require_prompts,
    started_record,
)
from llmkit.pipeline.preflight import preflight
from llmkit.pipeline.report import print_plan, stage_summary, write_report
from llmkit.pipeline.state import (
    STATE_FILE,
    load_state,
    now,
    save_state,
    tree_fingerprint,
)
from llmkit.writable import require_writable_dir

STAGE_CONFIGS = "stages"
"""Subdirectory of the pipeline directory holding each stage's resolved config as its own YAML."""


class Processes:
    """This process's place among the processes of `accelerate launch` (one when not launched)."""

    def __init__(self) -> None:
        self._state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState

            from llmkit.train.setup import launched_without_gpus

            # As the training stages will make it: CPU processes over gloo on a machine
            # without GPUs (the state is made once per process, the first call decides).
            # A training run ends with accelerate's end_training, which destroys the process
            # group unless the processes were fork-launched (FORK_LAUNCHED, read by every
            # PartialState()); the stages after it need the group, and making a second one
            # reuses the first one's rendezvous keys (a test hung once that way). So the group lives for the
            # whole pipeline and close() ends it.
            self._fork_launched = os.environ.get("FORK_LAUNCHED")
            os.environ["FORK_LAUNCHED"] = "1"
            self._state = PartialState(cpu=launched_without_gpus())

    @property
    def is_main(self) -> bool:
        return self._state is None or self._state.is_main_process

    def barrier(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

    def share(self, value: Any) -> Any:
        """The first process's `value`, on every process."""
        if self._state is None:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0]

    def close(self) -> None:
        if self._state is None:
            return
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if self._fork_launched is None:
            os.environ.pop("FORK_LAUNCHED", None)
        else:
            os.environ["FORK_LAUNCHED"] = self._fork_launched


def run_pipeline(
    cfg: PipelineConfig, stages: list[PipelineStage], selection: Selection, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Plan, then run (or with dry_run, show the plan and check each stage); returns each
    stage's summary (what pipeline.json holds)."""
    processes = Processes()
    try:
        return _run(cfg, stages, selection, dry_run, processes)
    finally:
        processes.close()


def _run(
    cfg: PipelineConfig,
    stages: list[PipelineStage],
    selection: Selection,
    dry_run: bool,
    processes: Processes,
) -> list[dict[str, Any]]:
    # one report on screen: the other processes of `accelerate launch` print nothing of their own
    console = Console(highlight=False, soft_wrap=True, quiet=not processes.is_main)
    pipeline_dir = Path(cfg.output_dir)
    _check_pipeline_dir(pipeline_dir)
    state = load_state(pipeline_dir)
    plans = build_plan(stages, state, selection)
    check_owned_outputs(plans, state)
    print_plan(plans, console)
    if dry_run:  # on every process: a training stage's check is a collective one-step run
        preflight(plans, console)
        return []
    processes.barrier()  # every process has read the state before the first one writes it
    if processes.is_main:
        _write_stage_configs(cfg, stages, pipeline_dir)
    summaries = []
    for index, plan in enumerate(plans):
        record = state.get(plan.stage.name, {})
        if plan.runs:
            console.rule(
                f"[bold]{plan.stage.name}[/] ({command_name(plan.stage.kind)}): {plan.reason}"
            )
            record = _run_stage(plan, stages[:index], state, pipeline_dir, processes)
        if processes.is_main:
            summaries.append(stage_summary(plan, record, pipeline_dir))
    if processes.is_main:
        write_report(cfg, plans, summaries, console)
    return summaries


def _check_pipeline_dir(pipeline_dir: Path) -> None:
    require_writable_dir(pipeline_dir, "output_dir")
    if pipeline_dir.is_file():
        raise ConfigError(f"output_dir: {pipeline_dir} is a file; name a directory")
    if pipeline_dir.is_dir() and not is_empty_dir(pipeline_dir):
        if not (pipeline_dir / STATE_FILE).is_file():
            raise ConfigError(
                f"output_dir: {pipeline_dir} is not empty and holds no {STATE_FILE}: it is not "
                "a pipeline's directory; nothing was run",
                "choose another output_dir, or move that directory away yourself",
            )


def _write_stage_configs(cfg: PipelineConfig, stages: list[PipelineStage], root: Path) -> None:
    """Each stage's resolved section as its own file, so `llmkit <command> FILE` repeats it."""
    folder = root / STAGE_CONFIGS
    folder.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        save_resolved_config(_as_standalone(stage), folder, f"{stage.name}.yaml")
    save_resolved_config(cfg, root)


def _as_standalone(stage: PipelineStage):
    """The config as its own command takes it: no pipeline-only run control."""
    if stage.kind == "export":
        return stage.config.model_copy(update={"force": False})
    return stage.config


def _run_stage(
    plan: StagePlan,
    earlier: list[PipelineStage],
    state: dict[str, dict[str, Any]],
    pipeline_dir: Path,
    processes: Processes,
) -> dict[str, Any]:
    """Run one stage; the state records it `started` before and `complete` after."""
    stage, started = plan.stage, time.time()
    record: dict[str, Any] = {}
    if processes.is_main:
        record = state[stage.name] = started_record(stage, earlier, state)
        save_state(pipeline_dir, state)
        if plan.action == "run" and stage.kind in TRAINING:
            _remove_earlier_run(Path(stage.config.output_dir))
    processes.barrier()
    if _runs_on_every_process(stage):
        _call_stage(plan)
    else:
        failure = None
        if processes.is_main:
            try:
                _call_stage(plan)
            except BaseException as e:  # every process must learn it, then it propagates
                failure = e
        shared = processes.share(None if failure is None else f"{type(failure).__name__}")
        if failure is not None:
            raise failure
        if shared is not None:
            raise UserError(f"stage '{stage.name}' failed on the first process ({shared})")
    if processes.is_main:
        record.update(
            status="complete",
            output_fingerprint=tree_fingerprint(output_paths(stage)),
            finished_at=now(),
            seconds=round(time.time() - started, 1),
        )
        save_state(pipeline_dir, state)
    processes.barrier()
    return record


def _runs_on_every_process(stage: PipelineStage) -> bool:
    return stage.kind in TRAINING or (stage.kind == "eval" and bool(stage.config.models))


def _remove_earlier_run(output_dir: Path) -> None:
    """A training stage that reruns from scratch replaces this pipeline's earlier run (the
    plan checked that the pipeline wrote it): moved aside first, so no half-deleted run
    remains where a run is expected."""
    if not output_dir.exists():
        return
    doomed = output_dir.parent / f".{output_dir.name}.old-{os.getpid()}"
    os.replace(output_dir, doomed)
    shutil.rmtree(doomed)


class PipelineInterrupted(UserError):
    """Ctrl-C or SIGTERM stopped a stage; the state and every finished output are consistent."""

    exit_code = 130


def _call_stage(plan: StagePlan) -> None:
    """The stage, told how to continue when it is stopped (exit code 130)."""
    again = "run the same `llmkit run` command again to continue"
    try:
        _call_stage_function(plan)
    except TrainingInterrupted as e:
        raise PipelineInterrupted(f"stage '{plan.stage.name}': {e.message}", again) from None
    except KeyboardInterrupt:
        raise PipelineInterrupted(
            f"stage '{plan.stage.name}' stopped by Ctrl-C; its output was left as it was", again
        ) from None


def _call_stage_function(plan: StagePlan) -> None:
    """The stage function its own command calls; an output this pipeline wrote before is
    replaced (the plan refused any other)."""
    cfg, kind = plan.stage.config, plan.stage.kind
    replace = any(p.exists() for p in output_paths(plan.stage))
    if kind in TRAINING:
        from llmkit.train.stage import run_training

        resume = "auto" if plan.action == "resume" else "never"
        run_training(
            cfg.model_copy(update={"train": cfg.train.model_copy(update={"resume": resume})})
        )
    elif kind == "tokenizer":
        from llmkit.tokenizer import train_tokenizer

        train_tokenizer(cfg, force=replace)
    elif kind == "preprocess":
        from llmkit.data.preprocess import run_preprocess

        run_preprocess(cfg, force=replace)
    elif kind == "eval":
        from llmkit.evaluation.runner import run_eval

        run_eval(cfg, force=replace)
    elif kind == "generate":
        from llmkit.generation import run_generate

        if cfg.input_file is not None:  # unchecked by the plan when an earlier stage writes it
            require_prompts(plan.stage, "found when its turn came; the stages before it completed")
        run_generate(cfg, force=replace)
    elif kind == "export":
        from llmkit.export.run import run_export

        run_export(cfg.model_copy(update={"force": replace}))
    else:  # resolve_stages admits only the kinds above
        raise AssertionError(f"no runner for stage type {kind}")
