"""Never losing work: Ctrl-C saves a checkpoint, a resumed run repeats an uninterrupted one step
for step, a kill during a save leaves the previous checkpoint whole, and a fresh run never
overwrites an existing one."""

import os
import signal

import pytest
import torch
from accelerate import Accelerator
from pretrain_helpers import metric_rows, tiny_config
from safetensors.torch import load_file

from llmkit.errors import CheckpointError, TrainingInterrupted
from llmkit.tasks.registry import build_task
from llmkit.train import checkpoint as ckpt
from llmkit.train.loop import train
from llmkit.train.state import TrainState


def _run(cfg, on_loss_call=None):
    """Train `cfg`; on_loss_call(n) runs before the n-th loss computation (1-based)."""
    task = build_task(cfg)
    if on_loss_call is not None:
        original, calls = task.loss_sum, []

        def loss_sum(model, batch):
            calls.append(1)
            on_loss_call(len(calls))
            return original(model, batch)

        task.loss_sum = loss_sum
    return train(cfg, task)


def _interrupt_at(step):
    def hook(call):
        if call == step:
            os.kill(os.getpid(), signal.SIGINT)  # handled after this step finishes

    return hook


@pytest.mark.parametrize("task", ["clm", "mlm"])
def test_ctrl_c_saves_and_resume_repeats_the_uninterrupted_run(
    tmp_path, clm_data_dir, mlm_data_dir, task
):
    data = clm_data_dir if task == "clm" else mlm_data_dir
    settings = dict(max_steps=10, checkpoint={"every_steps": 4}, eval={"every_steps": 5})

    def config(name, **extra):
        cfg = tiny_config(tmp_path / name, data, task, **settings, **extra)
        # dropout on: resuming must restore the RNG, not just the weights
        return cfg.model_copy(update={"model": cfg.model.model_copy(update={"dropout": 0.1})})

    straight = _run(config("straight"))

    with pytest.raises(TrainingInterrupted, match="SIGINT at step 6"):
        _run(config("resumed"), on_loss_call=_interrupt_at(6))
    resumed_dir = tmp_path / "resumed"
    assert TrainState.load(resumed_dir / "checkpoints" / "step-6").step == 6
    assert not (resumed_dir / "config.json").exists()  # no final model from a stopped run
    _run(config("resumed", resume="auto"))

    expected = [(r["step"], r["loss"]) for r in metric_rows(straight)]
    got = [(r["step"], r["loss"]) for r in metric_rows(resumed_dir)]
    assert [s for s, _ in got] == list(range(1, 11))
    assert got == expected  # bit-for-bit on CPU, per step
    val = [(r["step"], r["loss"]) for r in metric_rows(resumed_dir, "validation")]
    assert val == [(r["step"], r["loss"]) for r in metric_rows(straight, "validation")]
    a = load_file(straight / "model.safetensors")
    b = load_file(resumed_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_loadable(
    tmp_path, clm_data_dir, monkeypatch
):
    cfg = tiny_config(tmp_path / "run", clm_data_dir, max_steps=9, checkpoint={"every_steps": 3})
    real_save_state = Accelerator.save_state

    def dying_save_state(self, output_dir, **kwargs):
        real_save_state(self, output_dir, **kwargs)
        if "step-6" in str(output_dir):  # files written, process killed before completion
            (ckpt.Path(output_dir) / "optimizer.bin").write_bytes(b"trunc")
            raise SystemExit("killed")

    monkeypatch.setattr(Accelerator, "save_state", dying_save_state)
    with pytest.raises(SystemExit):
        _run(cfg)
    monkeypatch.setattr(Accelerator, "save_state", real_save_state)

    latest = ckpt.latest_checkpoint(cfg.output_dir)
    assert latest.name == "step-3"
    assert TrainState.load(latest).step == 3
    # the debris is ignored and the run continues from step 3 to the end
    _run(tiny_config(tmp_path / "run", clm_data_dir, max_steps=9, resume="auto",
                     checkpoint={"every_steps": 3}))  # fmt: skip
    assert [r["step"] for r in metric_rows(cfg.output_dir)][-6:] == [4, 5, 6, 7, 8, 9]
    assert ckpt.latest_checkpoint(cfg.output_dir).name == "step-9"
    assert (tmp_path / "run" / "config.json").is_file()


def test_a_fresh_run_refuses_an_output_dir_that_has_checkpoints(tmp_path, clm_data_dir):
    cfg = tiny_config(tmp_path / "run", clm_data_dir, max_steps=2)
    _run(cfg)
    with pytest.raises(CheckpointError, match=r"checkpoints up to step-2.*--resume"):
        _run(cfg)
