"""`llmkit finetune` through the real CLI: a run, exact resume, dry run and a bad-input message."""

import json
import shutil

import torch
import yaml
from tasks.finetune_helpers import TINY_ENCODER, fixture


def _write_config(tmp_path, tokenizer, out, **overrides):
    cfg = {
        "stage": "finetune",
        "output_dir": str(out),
        "tokenizer": str(tokenizer),
        "model": TINY_ENCODER,
        "task": {"type": "classification"},
        "data": {
            "train": fixture("sentiment_train.jsonl"),
            "validation": fixture("sentiment_validation.jsonl"),
        },
        "train": {
            "batch_size": 8,
            "max_steps": 6,
            "optimizer": {"lr": 3e-3},
            "eval": {"every_steps": 3, "best_metric": "accuracy"},
            "checkpoint": {"every_steps": 3},
            "logging": {"every_steps": 3, "live": False, "trackers": []},
        },
        **overrides,
    }
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resumed_run_ends_with_the_same_weights(cli, tmp_path, masked_tokenizer_dir):
    full = tmp_path / "full"
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, full))
    assert result.exit_code == 0, result.output
    assert (full / "model.safetensors").is_file() and (full / "llmkit_config.yaml").is_file()

    # the same run, interrupted after its step-3 checkpoint
    cut = tmp_path / "cut"
    shutil.copytree(full / "checkpoints" / "step-3", cut / "checkpoints" / "step-3")
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, cut), "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output
    assert (cut / "model.safetensors").read_bytes() == (full / "model.safetensors").read_bytes()


def test_dry_run_writes_nothing(cli, tmp_path, masked_tokenizer_dir):
    out = tmp_path / "dry"
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, out), "--dry-run")
    assert result.exit_code == 0, result.output
    assert not (out / "model.safetensors").exists()


def test_unseen_validation_label_exits_2_naming_it(cli, tmp_path, masked_tokenizer_dir):
    bad = tmp_path / "val.jsonl"
    bad.write_text('{"text": "so so", "label": "neutral"}\n{"text": "good", "label": "positive"}\n')
    data = {"train": fixture("sentiment_train.jsonl"), "validation": str(bad)}
    path = _write_config(tmp_path, masked_tokenizer_dir, tmp_path / "bad", data=data)
    result = cli("finetune", path)
    assert result.exit_code == 2
    assert "data.validation column 'label': row 1 has label 'neutral'" in result.output


def test_early_stopping_ends_the_run_and_the_best_checkpoint_is_kept(
    cli, tmp_path, masked_tokenizer_dir
):
    """lr 0 never improves on the first validation: patience 2 stops at the third one (step 3),
    and keep_best keeps step 1's checkpoint although the cadence would have pruned it."""
    out = tmp_path / "early"
    train = {
        "batch_size": 8,
        "max_steps": 50,
        "optimizer": {"lr": 1e-12},
        "eval": {"every_steps": 1, "best_metric": "loss", "early_stopping_patience": 2},
        "checkpoint": {"every_steps": 1, "keep_last": 1, "keep_best": True},
        "logging": {"every_steps": 1, "live": False, "trackers": []},
    }
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, out, train=train))
    assert result.exit_code == 0, result.output
    assert "early stopping at step 3" in result.output
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step-1", "step-3"]
    assert (out / "model.safetensors").is_file()


def test_keep_best_saves_the_best_validated_model(cli, tmp_path, masked_tokenizer_dir):
    """With keep_best, output_dir holds the weights of the step with the lowest validation loss,
    not the last step's; the last step's weights stay in their checkpoint."""
    from safetensors.torch import load_file

    from llmkit.train.checkpoint import list_checkpoints

    out = tmp_path / "best"
    train = {
        "batch_size": 8,
        "max_steps": 8,
        "optimizer": {"lr": 3e-2},  # high enough that validation loss does not only fall
        "eval": {"every_steps": 1, "best_metric": "loss"},
        "checkpoint": {"every_steps": 1, "keep_last": 1, "keep_best": True},
        "logging": {"every_steps": 1, "live": False, "trackers": []},
    }
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, out, train=train))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in rows if r["split"] == "validation"}
    best_step = min(losses, key=losses.get)
    assert best_step != 8, "the test needs a run whose best step is not its last"
    checkpoints = dict(list_checkpoints(out))
    assert sorted(checkpoints) == [best_step, 8]
    saved = load_file(out / "model.safetensors")
    best = load_file(checkpoints[best_step] / "model.safetensors")
    last = load_file(checkpoints[8] / "model.safetensors")
    assert saved.keys() == best.keys()
    assert all(torch.equal(saved[k], best[k]) for k in saved)
    assert not all(torch.equal(saved[k], last[k]) for k in saved)
    assert json.loads((out / "trainer_state.json").read_text())["best_step"] == best_step


def test_keep_best_turned_on_at_resume_saves_the_last_model_when_the_best_was_pruned(
    cli, tmp_path, masked_tokenizer_dir
):
    """The best step of the first run (step 1 here) was pruned before keep_best was asked for:
    the run still ends with a saved model (the last step's) and says why."""
    out = tmp_path / "late"
    train = {
        "batch_size": 8,
        "max_steps": 8,
        "optimizer": {"lr": 3e-2},
        "eval": {"every_steps": 1, "best_metric": "loss"},
        "checkpoint": {"every_steps": 1, "keep_last": 1},
        "logging": {"every_steps": 1, "live": False, "trackers": []},
    }
    path = _write_config(tmp_path, masked_tokenizer_dir, out, train=train)
    assert cli("finetune", path).exit_code == 0
    best_step = json.loads((out / "trainer_state.json").read_text())["best_step"]
    assert best_step != 8, "the test needs a first run whose best step was pruned"
    overrides = ["--set", "train.max_steps=10", "--set", "train.checkpoint.keep_best=true"]
    result = cli("finetune", path, "--resume", *overrides)
    assert result.exit_code == 0, result.output
    assert f"the best step ({best_step}) has no checkpoint left" in result.output
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["step"] == 10 and state["model_step"] == 10
    # an export says what the weights are: step 10's, and its card scores step 10's validation
    export = tmp_path / "export"
    result = cli("export", out, "--format", "hf", "--output", export)
    assert result.exit_code == 0, result.output
    assert f"the final model of run {out} (step 10)" in result.output
    assert "## Evaluation (validation, step 10)" in (export / "README.md").read_text()
