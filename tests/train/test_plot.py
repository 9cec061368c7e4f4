"""`llmkit plot RUN_DIR` redraws the loss curve; a run without metrics is a clear error."""

import json

from llmkit.train.plot import read_metrics


def _write_metrics(run_dir, rows):
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (run_dir / "metrics.jsonl").write_text(text)


def test_plot_command_draws_png(tmp_path, cli):
    run = tmp_path / "run"
    rows = [
        {"step": s, "split": "train", "loss": 5 - s / 100, "lr": 1e-3} for s in range(10, 210, 10)
    ]
    rows.append({"step": 200, "split": "validation", "loss": 3.1})
    _write_metrics(run, rows)
    result = cli("plot", run)
    assert result.exit_code == 0, result.output
    png = run / "loss_curve.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert str(png) in result.output


def test_plot_without_metrics_exits_2_naming_the_file(tmp_path, cli):
    (tmp_path / "run").mkdir()
    result = cli("plot", tmp_path / "run")
    assert result.exit_code == 2
    assert "metrics.jsonl" in result.output and "not found" in result.output


def test_plot_with_empty_metrics_exits_2(tmp_path, cli):
    _write_metrics(tmp_path / "run", [])
    result = cli("plot", tmp_path / "run")
    assert result.exit_code == 2 and "no train loss rows" in result.output


def test_resumed_steps_keep_the_latest_row_and_torn_last_line_is_skipped(tmp_path):
    run = tmp_path / "run"
    _write_metrics(
        run,
        [
            {"step": 10, "split": "train", "loss": 3.0},
            {"step": 20, "split": "train", "loss": 2.9},
            {"step": 20, "split": "train", "loss": 2.5},  # logged again after a resume
        ],
    )
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 30, "spl')  # killed mid-write
    rows = read_metrics(run / "metrics.jsonl")
    assert [(r["step"], r["loss"]) for r in rows] == [(10, 3.0), (20, 2.5)]


def test_plot_skips_a_torn_line_in_the_middle_with_a_warning(tmp_path, cli, capsys):
    """A run resumed by an llmkit that did not yet truncate torn lines wrote rows after one."""
    run = tmp_path / "run"
    _write_metrics(run, [{"step": 10, "split": "train", "loss": 3.0}])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 20, "spl' + json.dumps({"step": 20, "split": "train", "loss": 2.5}))
        f.write("\n" + json.dumps({"step": 30, "split": "train", "loss": 2.4}) + "\n")
    result = cli("plot", run)
    assert result.exit_code == 0, result.output
    assert "metrics.jsonl:2: skipped a torn line" in result.output + capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [10, 30]
