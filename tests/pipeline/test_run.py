"""`llmkit run` end to end on a tiny pipeline: every stage through its own stage function, a
model plain transformers loads, a score file, report.md and pipeline.json; a second run skips
everything, an edited section reruns only its stage and the ones after it that use it; a kill in
the middle of a training stage is resumed from its checkpoint."""

import json
import shlex

import pytest
import transformers
import yaml
from pipeline_helpers import write_pipeline

from llmkit.config.load import load_config
from llmkit.config.stages import schema_for
from llmkit.pipeline.state import load_state
from llmkit.train import checkpoint


def _statuses(pipe):
    figures = json.loads((pipe / "pipeline.json").read_text())
    return {s["stage"]: s["status"] for s in figures["stages"]}


def test_a_tiny_pipeline_runs_then_skips_then_reruns_what_changed(cli, tiny, one_thread):
    root, pipeline = tiny
    path, pipe = write_pipeline(root, pipeline), root / "pipe"
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    model = transformers.AutoModelForCausalLM.from_pretrained(pipe / "export")
    assert model.config.n_layer == 2
    scores = json.loads((pipe / "score" / "scores.json").read_text())
    assert "chrf" in scores["metrics"]
    report = (pipe / "report.md").read_text()
    assert "![loss curve of pretrain](pretrain-loss_curve.png)" in report
    assert (pipe / "pretrain-loss_curve.png").is_file()
    assert f"llmkit finetune {pipe / 'stages' / 'sft.yaml'} --set output_dir=" in report
    assert "| chrf |" in report
    assert set(_statuses(pipe).values()) == {"ran"}
    for name, section in yaml.safe_load(path.read_text())["stages"].items():
        # each stage's resolved config is a file its own command takes as it is
        saved = load_config(schema_for(section["stage"]), pipe / "stages" / f"{name}.yaml")
        assert saved.stage == section["stage"]

    # the report's command repeats a stage alone, as its own command
    figures = json.loads((pipe / "pipeline.json").read_text())
    command = next(s["command"] for s in figures["stages"] if s["stage"] == "export")
    alone = cli(*shlex.split(command)[1:])
    assert alone.exit_code == 0, alone.output
    transformers.AutoModelForCausalLM.from_pretrained(f"{pipe / 'export'}-again")

    again = cli("run", path)
    assert again.exit_code == 0, again.output
    assert set(_statuses(pipe).values()) == {"skipped"}

    edited = cli("run", path, "--set", "stages.sft.train.max_steps=3")
    assert edited.exit_code == 0, edited.output
    assert _statuses(pipe) == {"tok": "skipped", "prep": "skipped", "pretrain": "skipped",
                               "sft": "ran", "score": "ran", "export": "ran"}  # fmt: skip
    trained = json.loads((pipe / "sft" / "trainer_state.json").read_text())
    assert trained["step"] == 3


class Killed(BaseException):
    """Stands in for a SIGKILL: nothing after it runs, no handler sees it."""


def test_a_pipeline_killed_during_training_resumes_from_its_checkpoint(
    cli, tiny, one_thread, monkeypatch
):
    root, pipeline = tiny
    for name in ("sft", "score", "export"):
        del pipeline["stages"][name]
    path, pipe = write_pipeline(root, pipeline), root / "pipe"
    save = checkpoint.save_checkpoint

    def save_then_die(acc, output_dir, state, run_cfg):
        saved = save(acc, output_dir, state, run_cfg)
        if state.step == 2:
            raise Killed()
        return saved

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        cli("run", path)
    monkeypatch.setattr(checkpoint, "save_checkpoint", save)
    state = load_state(pipe)
    assert state["tok"]["status"] == state["prep"]["status"] == "complete"
    assert state["pretrain"]["status"] == "started"  # never taken for a finished stage

    result = cli("run", path)
    assert result.exit_code == 0, result.output
    assert "continues from its last checkpoint" in result.output
    assert "resuming from" in result.output and "(step 2)" in result.output
    assert _statuses(pipe) == {"tok": "skipped", "prep": "skipped", "pretrain": "resumed"}
    trained = json.loads((pipe / "pretrain" / "trainer_state.json").read_text())
    assert trained["step"] == 4
    assert load_state(pipe)["pretrain"]["status"] == "complete"
