"""The same command under `accelerate launch` on 2 processes (on this machine: CPU, gloo) trains
the same model as one process with the same global batch."""

import json

import pytest
import yaml
from pretrain_helpers import final_weights, metric_rows, tiny_config
from two_processes import launch_two_processes

from llmkit.train.stage import run_training


def _launch_on_two_processes(command: str, cfg, config_file) -> None:
    """`accelerate launch` the llmkit command on 2 processes; on a machine without GPUs they run
    on the CPU over gloo."""
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    done = launch_two_processes(command, config_file)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, clm_data_dir):
    common = dict(
        max_steps=6, eval={"every_steps": 6}, checkpoint={"every_steps": 3}, precision="fp32",
        logging={"every_steps": 3, "trackers": [], "live": False},
    )  # fmt: skip
    one = run_training(tiny_config(tmp_path / "one", clm_data_dir, batch_size=8, **common))

    two_cfg = tiny_config(tmp_path / "two", clm_data_dir, batch_size=4, **common)
    _launch_on_two_processes("pretrain", two_cfg, tmp_path / "two.yaml")
    two = tmp_path / "two"

    a, b = final_weights(one), final_weights(two)
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    losses_one = [r["loss"] for r in metric_rows(one)]
    losses_two = [r["loss"] for r in metric_rows(two)]
    assert losses_two == pytest.approx(losses_one, abs=1e-4)
    val_one, val_two = metric_rows(one, "validation"), metric_rows(two, "validation")
    assert val_two[-1]["loss"] == pytest.approx(val_one[-1]["loss"], abs=1e-4)
    # one set of checkpoints and metrics, written by the main process only
    assert len(metric_rows(two)) == 2
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-3", "step-6"]


def test_two_process_finetuning_validates_every_example_once(tmp_path, masked_tokenizer_dir):
    """Validation on 2 processes gathers predictions without the duplicates that pad an odd
    split to even shards: the same accuracy and loss as one process, counted over all rows."""
    from tasks.finetune_helpers import TINY_ENCODER, fixture, make_config, rows

    from llmkit.train.stage import run_training

    validation = tmp_path / "validation.jsonl"  # 15 rows: one process gets a padded shard
    validation.write_text(
        "".join(f"{json.dumps(r)}\n" for r in rows("sentiment_validation.jsonl")[:15])
    )

    def config(out, batch_size):
        return make_config(
            tmp_path / out,
            masked_tokenizer_dir,
            model=TINY_ENCODER | {"dropout": 0.0},
            task={"type": "classification", "labels": ["negative", "positive"]},
            data={"train": fixture("sentiment_train.jsonl"), "validation": str(validation)},
            train={
                "batch_size": batch_size, "max_steps": 6, "precision": "fp32",
                "optimizer": {"lr": 3e-3}, "eval": {"batch_size": 4},
                "logging": {"every_steps": 3, "trackers": [], "live": False},
            },
        )  # fmt: skip

    one = run_training(config("one", 8))
    _launch_on_two_processes("finetune", config("two", 4), tmp_path / "two.yaml")
    two = tmp_path / "two" / "out"

    val_one, val_two = metric_rows(one, "validation")[-1], metric_rows(two, "validation")[-1]
    assert val_two["accuracy"] == val_one["accuracy"]
    assert val_two["loss"] == pytest.approx(val_one["loss"], abs=1e-4)
    assert round(val_one["accuracy"] * 15) == pytest.approx(val_one["accuracy"] * 15, abs=1e-6)


def test_two_process_masked_lm_validation_gives_one_process_loss(tmp_path, mlm_data_dir):
    """17 validation rows in batches of 4: one process's last batch is completed with rows from
    the start (accelerate's even_batches). Its real rows keep the masks one process gives them,
    so the validation loss is one process's. Micro-batches of 4 on both sides (accumulated on
    one process) give the same training batches, and so the same model."""
    common = dict(
        batch_size=4, max_steps=4, precision="fp32",
        eval={"every_steps": 4, "batch_size": 4, "max_batches": None},
        logging={"every_steps": 2, "trackers": [], "live": False},
    )  # fmt: skip
    one = run_training(tiny_config(tmp_path / "one", mlm_data_dir, "mlm", grad_accum_steps=2,
                                   **common))  # fmt: skip
    _launch_on_two_processes(
        "pretrain",
        tiny_config(tmp_path / "two", mlm_data_dir, "mlm", **common),
        tmp_path / "t.yaml",
    )
    two = tmp_path / "two"
    losses_one = [r["loss"] for r in metric_rows(one)]
    assert [r["loss"] for r in metric_rows(two)] == pytest.approx(losses_one, abs=1e-4)
    val_one, val_two = metric_rows(one, "validation")[-1], metric_rows(two, "validation")[-1]
    assert val_two["loss"] == pytest.approx(val_one["loss"], abs=1e-5)
