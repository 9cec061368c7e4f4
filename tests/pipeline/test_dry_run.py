"""`llmkit run --dry-run` shows the plan and checks each stage it can, writing nothing."""

from pipeline_helpers import write_pipeline


def test_dry_run_prints_the_plan_and_writes_nothing(cli, tiny, one_thread):
    root, pipeline = tiny
    result = cli("run", write_pipeline(root, pipeline), "--dry-run")
    assert result.exit_code == 0, result.output
    for name in ("tok", "prep", "pretrain", "sft", "score", "export"):
        assert name in result.output
    assert result.output.count("not run before") == 6
    assert "tok: preflight ok" in result.output
    assert "its inputs come from tok, which runs first" in result.output
    assert not (root / "pipe").exists()


def test_dry_run_checks_a_training_stage_whose_inputs_exist(cli, tiny, one_thread):
    """After the data stages ran (--only), the training stage's own dry run takes one step."""
    root, pipeline = tiny
    path = write_pipeline(root, pipeline)
    for name in ("tok", "prep"):
        assert cli("run", path, "--only", name).exit_code == 0
    result = cli("run", path, "--dry-run", "--from", "pretrain")
    assert result.exit_code == 0, result.output
    assert "dry run ok: one optimizer step" in result.output
    assert "pretrain: preflight ok" in result.output
    assert not (root / "pipe" / "pretrain").exists()
