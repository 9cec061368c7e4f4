"""Checkpoints under output_dir/checkpoints/step-N, written so that a kill never corrupts one.

A save goes to a hidden temporary directory; `state.json` is written last and the directory is
renamed into place only when complete, so every `step-N` with a state.json is whole. Old ones are
renamed to a hidden name before deletion for the same reason. The final model is a Hugging Face
directory whose config.json is moved in last: a directory with config.json is complete.
"""

import contextlib
import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from accelerate.utils import DistributedType

from llmkit.config.load import save_resolved_config
from llmkit.errors import CheckpointError
from llmkit.outputs import command_name, give_umask_modes, is_empty_dir, stage_of_output
from llmkit.train.lock import LOCK_FILE, RunLock
from llmkit.train.setup import Run
from llmkit.train.state import STATE_FILE, TrainState
from llmkit.train.tracking import MetricWindow

CHECKPOINTS = "checkpoints"
# What a training run writes before its first checkpoint (a run killed then can be resumed).
_RUN_FILES = {"metrics.jsonl", "tensorboard", "loss_curve.png", CHECKPOINTS, LOCK_FILE}


class _TiedWeightsNotice(logging.Filter):
    """accelerate warns on every save that tied weights (GPT-2's lm_head = wte) were stored once;
    load_state re-ties them, so the warning only alarms users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Removed shared tensor" not in record.getMessage()


logging.getLogger("accelerate.utils.other").addFilter(_TiedWeightsNotice())


def checkpoint_root(output_dir: Path) -> Path:
    return Path(output_dir) / CHECKPOINTS


def step_dir(output_dir: Path, step: int) -> Path:
    return checkpoint_root(output_dir) / f"step-{step}"


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (step, dir), oldest first; step comes from state.json."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.name.startswith(".") or not (path / STATE_FILE).is_file():
            continue
        found.append((TrainState.load(path).step, path))
    return sorted(found)


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def resolve_resume(output_dir: Path, resume: str, stage: str) -> Path | None:
    """The checkpoint to continue from, or None for a fresh run. A fresh run into a non-empty
    output_dir is refused: it would mix two runs' metrics and overwrite a model. Continuing is
    refused too unless output_dir is new, empty or a `stage` run (finished, or killed)."""
    output_dir = Path(output_dir)
    if resume != "never":
        _check_is_own_run(output_dir, stage)
    if resume == "auto":
        return latest_checkpoint(output_dir)
    if resume != "never":
        path = Path(resume)
        if not (path / STATE_FILE).is_file():
            raise CheckpointError(
                f"train.resume: {path} is not a checkpoint (no {STATE_FILE})",
                f"use a directory under {checkpoint_root(output_dir)} or train.resume=auto",
            )
        return path
    if output_dir.is_dir() and not is_empty_dir(output_dir, ignore=(LOCK_FILE,)):
        latest = latest_checkpoint(output_dir)
        found = f"it has checkpoints up to {latest.name}" if latest else "it is not empty"
        raise CheckpointError(
            f"output_dir {output_dir} already exists and {found}",
            "continue that run with the same command plus --resume (train.resume=auto), "
            "or choose a new output_dir",
        )
    return None


def _check_is_own_run(output_dir: Path, stage: str) -> None:
    if not output_dir.is_dir() or is_empty_dir(output_dir, ignore=(LOCK_FILE,)):
        return
    latest = latest_checkpoint(output_dir)
    found = stage_of_output(output_dir) or (latest and stage_of_output(latest))
    if found == stage:
        return
    names = [p.name for p in output_dir.iterdir()]
    if found is None and all(n in _RUN_FILES or n.startswith(".final-") for n in names):
        return  # a run killed before its first checkpoint
    what = f"a `{command_name(found)}` output" if found else "files llmkit did not write"
    raise CheckpointError(
        f"output_dir {output_dir} is not a `{command_name(stage)}` run (it holds {what}); "
        "nothing was written",
        "choose another output_dir",
    )


def remove_leftovers(output_dir: Path, report=print) -> None:
    """Hidden directories a kill leaves behind: a checkpoint half-way through deletion or saving
    (checkpoints/.deleting-step-N, .tmp-step-N) and a final model being staged (.final-*).
    Only llmkit's own names are touched; call it holding the run's lock."""
    output_dir = Path(output_dir)
    root = checkpoint_root(output_dir)
    found = [*output_dir.glob(".final-*")]
    if root.is_dir():
        found += [*root.glob(".deleting-step-*"), *root.glob(".tmp-step-*")]
    for path in sorted(found):
        if path.is_dir():
            shutil.rmtree(path)
            report(f"removed {path}, left by a run that was stopped while writing it")


def _remove(path: Path) -> None:
    """Delete a directory so that no half-deleted copy keeps looking complete."""
    doomed = path.with_name(f".deleting-{path.name}")
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def save_checkpoint(accelerator, output_dir: Path, state: TrainState, run_cfg) -> Path:
    """accelerator.save_state (model, optimizer, scheduler, RNG of every process) + state.json +
    the resolved config. Called on every process."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{state.step}"
    tmp = root / f".tmp-step-{state.step}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)  # debris of a save that was killed
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_resolved_config(run_cfg, tmp)
        give_umask_modes(tmp)
        state.save(tmp)  # last: its presence marks the checkpoint complete
        _fsync_dir(tmp)
        if final.exists():
            _remove(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final


def prune_checkpoints(output_dir: Path, keep_last: int, keep_step: int | None = None) -> None:
    """Keep the newest `keep_last` checkpoints (and `keep_step`, the best one, if given)."""
    found = list_checkpoints(output_dir)
    for step, path in found[:-keep_last]:
        if step != keep_step:
            _remove(path)


def _fsync_dir(directory: Path) -> None:
    """Flush the checkpoint's files to disk before the rename makes it visible."""
    for path in directory.iterdir():
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())


def publish_model(staging: Path, output_dir: Path) -> None:
    """Move a finished model directory's files into output_dir, config.json last, so a reader
    never sees a config.json next to half-written weights."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.json").unlink(missing_ok=True)
    give_umask_modes(staging)
    _fsync_dir(staging)
    names = sorted(p.name for p in staging.iterdir())
    names.sort(key=lambda n: n == "config.json")
    for name in names:
        target = output_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staging / name, target)
    staging.rmdir()


# ---- a run's checkpoints and its final model -------------------------------------------------


@contextlib.contextmanager
def claimed_output_dir(output_dir: Path, resume: str, stage: str) -> Iterator[Path | None]:
    """Hold output_dir's lock (llmkit.train.lock) for the whole run, from before the resume
    check to the end, so a second run on the same directory stops at once; a kill's leftovers
    are removed first. Yields the checkpoint to resume from, None for a fresh run."""
    first = int(os.environ.get("RANK", "0")) == 0  # one lock per run, not per process
    with RunLock(output_dir) if first else contextlib.nullcontext():
        # Only the first process judges the directory: by the time another one looks, the first
        # may already have written into it and the fresh-run check would refuse it.
        if first:
            resume_from = resolve_resume(output_dir, resume, stage)
        elif resume == "never":
            resume_from = None
        else:
            resume_from = latest_checkpoint(output_dir) if resume == "auto" else Path(resume)
        if first:
            remove_leftovers(output_dir)
        yield resume_from


def resume(run: Run, checkpoint: Path | None) -> TrainState:
    """Load `checkpoint` (model, optimizer, scheduler, RNG) into the run and return its state;
    a fresh state when there is none."""
    if checkpoint is None:
        return TrainState()
    run.accelerator.load_state(str(checkpoint))
    state = TrainState.load(checkpoint)
    run.accelerator.print(f"resuming from {checkpoint} (step {state.step})")
    return state


def save_run(run: Run, state: TrainState, window: MetricWindow) -> Path:
    """A checkpoint of the run at `state.step` (tokens counted up to this step), then pruning
    to checkpoint.keep_last (keeping the best one under keep_best)."""
    acc, cfg = run.accelerator, run.train_cfg
    tokens = state.tokens_seen + window.pending_tokens(acc)
    saved = dataclasses.replace(state, tokens_seen=tokens)
    path = save_checkpoint(acc, run.output_dir, saved, run.config)
    if acc.is_main_process:
        best = state.best_step if cfg.checkpoint.keep_best else None
        prune_checkpoints(run.output_dir, cfg.checkpoint.keep_last, best)
    acc.wait_for_everyone()
    return path


def restore_best(run: Run, state: TrainState) -> int:
    """checkpoint.keep_best: the model to publish is the best validated one. Loading the whole
    checkpoint also rewinds optimizer and RNG, which no longer matter once training is over.
    Returns the step whose weights the model now holds."""
    cfg = run.train_cfg
    if not cfg.checkpoint.keep_best or state.best_step in (None, state.step):
        return state.step
    best = step_dir(run.output_dir, state.best_step)
    if not best.is_dir():  # keep_best was turned on at a resume, after that step was pruned
        run.accelerator.print(
            f"warning: the best step ({state.best_step}) has no checkpoint left; saving the last "
            "step's model"
        )
        return state.step
    run.accelerator.load_state(str(best))
    run.accelerator.print(
        f"saving the model of step {state.best_step}, the best by {cfg.eval.best_metric} "
        f"({state.best_metric:.4g}); step {state.step}'s weights stay in its checkpoint"
    )
    return state.best_step


def save_final_model(run: Run, state: TrainState, model_step: int) -> Path:
    """The Hugging Face model directory: weights, config, tokenizer, generation config, the
    resolved llmkit config and trainer_state.json (the loop's state, plus `model_step`: the step
    whose weights these are); staged in a temporary directory and moved in config.json last."""
    acc = run.accelerator
    acc.wait_for_everyone()
    model = acc.unwrap_model(run.model, keep_torch_compile=False)
    # Sharded models (FSDP, DeepSpeed ZeRO) are gathered by accelerate; others save themselves
    # (a PEFT model then writes its adapter, which the task's save_artifacts expects).
    sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    state_dict = acc.get_state_dict(run.model) if sharded else None
    if acc.is_main_process:
        # mkdir, not tempfile.mkdtemp: the published files keep the modes the umask gives.
        staging = run.output_dir / f".final-{os.getpid()}"
        staging.mkdir()
        model.save_pretrained(staging, state_dict=state_dict, safe_serialization=True)
        run.task.save_artifacts(model, str(staging))
        save_resolved_config(run.config, staging)
        saved_state = dataclasses.asdict(state) | {"model_step": model_step}
        state_json = json.dumps(saved_state, indent=2) + "\n"
        (staging / "trainer_state.json").write_text(state_json, encoding="utf-8")
        publish_model(staging, run.output_dir)
        acc.print(f"model saved to {run.output_dir}")
    acc.wait_for_everyone()
    acc.end_training()
    return run.output_dir
