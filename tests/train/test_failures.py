"""Runs that cannot work are refused before training, with a message naming the key; a NaN loss
stops the run before a bad checkpoint is written; --dry-run takes one step and writes nothing."""

import pytest
import torch
import yaml
from pretrain_helpers import tiny_config

from llmkit.errors import TrainingDiverged
from llmkit.tasks.registry import build_task
from llmkit.train import checkpoint as ckpt
from llmkit.train.loop import train


def _config_file(tmp_path, cfg, **top) -> str:
    data = cfg.model_dump(mode="json")
    data.update(top)
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_nan_loss_stops_the_run_before_a_bad_checkpoint(tmp_path, clm_data_dir):
    cfg = tiny_config(
        tmp_path / "run", clm_data_dir, max_steps=12, checkpoint={"every_steps": 3},
        logging={"every_steps": 10, "trackers": [], "live": False},
    )  # fmt: skip
    task = build_task(cfg)
    original, calls = task.loss_sum, []

    def loss_sum(model, batch):
        calls.append(1)
        loss = original(model, batch)
        return loss * float("nan") if len(calls) == 5 else loss

    task.loss_sum = loss_sum
    with pytest.raises(TrainingDiverged, match=r"NaN/inf at step 5 .*step-3"):
        train(cfg, task)
    assert ckpt.latest_checkpoint(cfg.output_dir).name == "step-3"  # step 6 was never saved
    assert not (tmp_path / "run" / "config.json").exists()


def test_context_longer_than_the_model_positions_is_refused(tmp_path, clm_data_dir, cli):
    cfg = tiny_config(tmp_path / "run", clm_data_dir)
    result = cli("pretrain", _config_file(tmp_path, cfg), "--set", "model.context_length=16")
    assert result.exit_code == 2
    assert "rows are 32 tokens" in result.output and "at most 16 positions" in result.output
    assert not (tmp_path / "run").exists()


def test_a_model_whose_vocab_is_smaller_than_the_tokenizer_is_refused(tmp_path, clm_data_dir, cli):
    from transformers import GPT2Config, GPT2LMHeadModel

    small = tmp_path / "small-vocab-model"
    GPT2LMHeadModel(GPT2Config(vocab_size=100, n_layer=1, n_embd=32, n_head=2)).save_pretrained(
        small
    )
    cfg = tiny_config(tmp_path / "run", clm_data_dir)
    result = cli("pretrain", _config_file(tmp_path, cfg), "--set", f"model.pretrained={small}")
    assert result.exit_code == 2
    assert "tokenizer has 300 tokens" in result.output and "100 rows" in result.output


def test_a_batch_larger_than_the_data_is_refused(tmp_path, clm_data_dir, cli):
    cfg = tiny_config(tmp_path / "run", clm_data_dir)
    result = cli(
        "pretrain", _config_file(tmp_path, cfg), "--set", "train.batch_size=4096",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "needs 4096 training rows" in result.output and "train.batch_size" in result.output


def test_dry_run_reports_shows_a_marked_batch_takes_one_step_and_writes_nothing(
    tmp_path, mlm_data_dir, cli, capsys
):
    cfg = tiny_config(tmp_path / "run", mlm_data_dir, "mlm")
    result = cli("pretrain", _config_file(tmp_path, cfg), "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output + capsys.readouterr().out
    for fact in ("parameters", "memory per device", "tokens per optimizer step", "steps per epoch"):
        assert fact in out
    assert "[MASK]→" in out  # a masked position shows what it must predict
    assert "dry run ok: one optimizer step, loss" in out
    assert not (tmp_path / "run").exists()
    assert torch.isfinite(torch.tensor(float(out.split("loss ")[-1].split(",")[0])))
