"""`--resume` compares the config the checkpoint was trained with and the one given now, through
the real CLI: another model, task or data is refused naming the keys (old → new) before any
work; another seed or learning rate is a warning; a longer run is a note."""

import yaml
from pretrain_helpers import metric_rows, tiny_config


def _config_file(tmp_path, data_dir):
    cfg = tiny_config(tmp_path / "run", data_dir, max_steps=4, checkpoint={"every_steps": 2})
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
    return path


def test_resume_refuses_another_model_task_or_data_naming_the_keys(
    cli, tmp_path, clm_data_dir, one_thread
):
    config = _config_file(tmp_path, clm_data_dir)
    assert cli("pretrain", config).exit_code == 0
    run = tmp_path / "run"
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    metrics = (run / "metrics.jsonl").read_bytes()

    result = cli("pretrain", config, "--resume", "--set", "model.hidden_size=64",
                 "--set", "model.n_layers=3", "--set", "train.seed=7")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "size mismatch" not in result.output
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert "cannot resume from" in line and "step-4" in line
    assert "model.hidden_size 32 → 64; model.n_layers 2 → 3" in line, line
    assert "train.seed" not in line  # a training setting is not a reason to refuse
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert (run / "metrics.jsonl").read_bytes() == metrics

    result = cli("pretrain", config, "--resume", "--set", "task.type=mlm",
                 "--set", "model.family=bert", "--set", f"data.dataset_dir={tmp_path}")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"data.dataset_dir {clm_data_dir} → {tmp_path}" in result.stderr
    assert "model.family gpt2 → bert" in result.stderr and "task.type clm → mlm" in result.stderr


def test_resume_warns_on_changed_training_settings_and_goes_on(
    cli, tmp_path, clm_data_dir, one_thread
):
    config = _config_file(tmp_path, clm_data_dir)
    assert cli("pretrain", config).exit_code == 0
    result = cli("pretrain", config, "--resume", "--set", "train.seed=7",
                 "--set", "train.optimizer.lr=0.001", "--set", "train.max_steps=6")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich may wrap long lines
    assert "warning: resuming with changed training settings" in out
    assert "train.optimizer.lr 0.003 → 0.001; train.seed 42 → 7" in out
    assert "resuming with changed run length or reporting: train.max_steps 4 → 6" in out
    assert [r["step"] for r in metric_rows(tmp_path / "run")] == list(range(1, 7))


def test_a_plain_resume_reports_no_change(cli, tmp_path, clm_data_dir, one_thread):
    config = _config_file(tmp_path, clm_data_dir)
    assert cli("pretrain", config).exit_code == 0
    result = cli("pretrain", config, "--resume")
    assert result.exit_code == 0, result.output
    assert "changed" not in result.output


def test_a_setting_added_since_the_run_was_saved_is_a_warning_not_a_refusal(
    cli, tmp_path, clm_data_dir, one_thread
):
    # a checkpoint of an earlier llmkit: its saved config lacks a key the schema has now
    config = _config_file(tmp_path, clm_data_dir)
    assert cli("pretrain", config).exit_code == 0
    run = tmp_path / "run"
    for saved in run.rglob("llmkit_config.yaml"):
        tree = yaml.safe_load(saved.read_text(encoding="utf-8"))
        del tree["task"]["short_seq_prob"]
        saved.write_text(yaml.safe_dump(tree), encoding="utf-8")
    result = cli("pretrain", config, "--resume", "--set", "train.max_steps=6")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "settings added to llmkit since this run was saved" in out
    assert "task.short_seq_prob (absent) → 0.1" in out
    assert [r["step"] for r in metric_rows(run)] == list(range(1, 7))
