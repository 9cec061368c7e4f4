"""The plan: stages in the order written, references resolved to earlier stages' values, a stage
skipped only when its config, inputs and upstream outputs are unchanged, and --from / --only /
--force choosing what runs. Nothing is trained here: completions are recorded by hand."""

from pathlib import Path

import pytest
from pipeline_helpers import record_completed, write_pipeline

from llmkit.config.pipeline import load_pipeline
from llmkit.errors import ConfigError
from llmkit.pipeline.plan import Selection, build_plan
from llmkit.pipeline.state import load_state, save_state


def _stages(root, pipeline, *sets):
    return load_pipeline(write_pipeline(root, pipeline), list(sets))[1]


def _complete_all(stages, pipeline_dir: Path) -> dict:
    """Record every stage as completed, as `llmkit run` does, with its outputs present."""
    save_state(pipeline_dir, record_completed(stages, {}))
    return load_state(pipeline_dir)


def _actions(plans):
    return {p.stage.name: p.action for p in plans}


def test_stages_keep_the_written_order_and_references_take_earlier_values(tiny):
    root, pipeline = tiny
    pipeline["stages"]["sft"]["max_length"] = "${pretrain.model.context_length}"
    stages = _stages(root, pipeline)
    assert [s.name for s in stages] == ["tok", "prep", "pretrain", "sft", "score", "export"]
    by_name = {s.name: s for s in stages}
    assert by_name["prep"].config.tokenizer == str(root / "pipe" / "tok")  # ${tok} = output_dir
    assert by_name["pretrain"].config.data.dataset_dir == str(root / "pipe" / "prep")
    assert by_name["sft"].config.max_length == 64  # a whole-value reference keeps its type
    assert by_name["score"].config.models == [str(root / "pipe" / "sft")]
    assert by_name["sft"].references == ("pretrain", "tok")


def test_a_fresh_pipeline_runs_every_stage(tiny):
    root, pipeline = tiny
    plans = build_plan(_stages(root, pipeline), {}, Selection())
    assert set(_actions(plans).values()) == {"run"}
    assert plans[0].reason == "not run before"


def test_unchanged_stages_are_skipped(tiny):
    root, pipeline = tiny
    stages = _stages(root, pipeline)
    state = _complete_all(stages, root / "pipe")
    plans = build_plan(_stages(root, pipeline), state, Selection())
    assert set(_actions(plans).values()) == {"skip"}
    assert plans[0].reason.startswith("unchanged since")


def test_a_changed_section_reruns_that_stage_and_the_stages_after_it_that_use_it(tiny):
    root, pipeline = tiny
    state = _complete_all(_stages(root, pipeline), root / "pipe")
    plans = build_plan(_stages(root, pipeline, "stages.sft.train.max_steps=3"), state, Selection())
    assert _actions(plans) == {"tok": "skip", "prep": "skip", "pretrain": "skip", "sft": "run",
                               "score": "run", "export": "run"}  # fmt: skip
    reasons = {p.stage.name: p.reason for p in plans}
    assert reasons["sft"] == "config changed: train.max_steps"
    assert reasons["export"] == "sft reruns"


def test_a_changed_data_file_reruns_the_stages_that_read_it(tiny):
    root, pipeline = tiny
    state = _complete_all(_stages(root, pipeline), root / "pipe")
    with open(root / "sft_validation.jsonl", "a") as f:
        f.write('{"prompt": "Say more.", "response": "more more."}\n')
    plans = build_plan(_stages(root, pipeline), state, Selection())
    actions = _actions(plans)
    assert actions["pretrain"] == "skip" and actions["sft"] == "run"
    assert {p.stage.name: p.reason for p in plans}["sft"].startswith("input changed: ")


def test_a_changed_upstream_output_reruns_what_uses_it(tiny):
    """A stage rerun on its own (--only) leaves a new fingerprint; the next plain run reruns
    the stages that used its earlier output."""
    root, pipeline = tiny
    state = _complete_all(_stages(root, pipeline), root / "pipe")
    state["pretrain"]["output_fingerprint"] = "rewritten"
    plans = build_plan(_stages(root, pipeline), state, Selection())
    assert _actions(plans) == {"tok": "skip", "prep": "skip", "pretrain": "skip", "sft": "run",
                               "score": "run", "export": "run"}  # fmt: skip
    assert plans[3].reason == "input changed: stage pretrain"


def test_a_deleted_output_reruns_its_stage(tiny):
    root, pipeline = tiny
    state = _complete_all(_stages(root, pipeline), root / "pipe")
    for path in (root / "pipe" / "export").iterdir():
        path.unlink()
    (root / "pipe" / "export").rmdir()
    plans = build_plan(_stages(root, pipeline), state, Selection())
    assert _actions(plans)["export"] == "run" and _actions(plans)["sft"] == "skip"


def test_from_only_and_force_choose_what_runs(tiny):
    root, pipeline = tiny
    stages = _stages(root, pipeline)
    state = _complete_all(stages, root / "pipe")
    start = _actions(build_plan(stages, state, Selection(start="sft")))
    assert start == {"tok": "skip", "prep": "skip", "pretrain": "skip", "sft": "run",
                     "score": "run", "export": "run"}  # fmt: skip
    only = _actions(build_plan(stages, state, Selection(only="pretrain")))
    assert [n for n, a in only.items() if a == "run"] == ["pretrain"]
    assert set(_actions(build_plan(stages, state, Selection(force=True))).values()) == {"run"}


def test_only_refuses_a_stage_whose_inputs_were_never_made(tiny):
    root, pipeline = tiny
    with pytest.raises(ConfigError, match="uses stage 'pretrain', which is skipped"):
        build_plan(_stages(root, pipeline), {}, Selection(only="sft"))


def test_unknown_from_stage_is_named(tiny):
    root, pipeline = tiny
    with pytest.raises(ConfigError, match="--from sfx: no stage of that name"):
        build_plan(_stages(root, pipeline), {}, Selection(start="sfx"))


def test_an_interrupted_training_stage_with_a_checkpoint_resumes(tiny):
    root, pipeline = tiny
    stages = _stages(root, pipeline)
    state = _complete_all(stages, root / "pipe")
    state["pretrain"]["status"] = "started"
    (root / "pipe" / "pretrain" / "checkpoints" / "step-2").mkdir(parents=True)
    plans = build_plan(stages, state, Selection())
    assert _actions(plans)["pretrain"] == "resume"
    assert _actions(plans)["sft"] == "run"
    assert _actions(build_plan(stages, state, Selection(force=True)))["pretrain"] == "run"
