"""A broken pipeline is refused before anything runs: one line naming the stage and the key,
exit code 2, nothing written."""

import pytest
from pipeline_helpers import write_pipeline


def _refused(cli, root, pipeline, *args):
    result = cli("run", write_pipeline(root, pipeline), *args)
    assert result.exit_code == 2, result.output
    assert not (root / "pipe").exists()  # nothing ran, nothing was written
    return result.output.strip()


def test_unknown_stage_type(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["prep"]["stage"] = "preprocesss"
    out = _refused(cli, root, pipeline)
    assert "stages.prep.stage: unknown stage type 'preprocesss'" in out
    assert len(out.splitlines()) == 1


def test_reference_to_a_stage_that_does_not_exist(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["sft"]["model"]["pretrained"] = "${pretrian}"
    out = _refused(cli, root, pipeline)
    assert "stages.sft.model.pretrained: ${pretrian} refers to stage 'pretrian', which does " in out


def test_reference_to_a_later_stage(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["tok2"] = pipeline["stages"]["tok"]
    pipeline["stages"]["prep"]["tokenizer"] = "${tok2}"
    out = _refused(cli, root, pipeline)
    assert "stages.prep.tokenizer: ${tok2} refers to stage 'tok2', which comes later" in out
    assert "move 'tok2' before 'prep'" in out


def test_reference_cycle(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["tok"]["data"]["train"] = "${prep}/corpus.txt"
    out = _refused(cli, root, pipeline)
    assert "the references form a cycle: tok → prep → tok" in out


def test_reference_to_a_key_the_stage_does_not_have(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["sft"]["model"]["pretrained"] = "${pretrain.outdir}"
    out = _refused(cli, root, pipeline)
    assert "stages.sft.model.pretrained: ${pretrain.outdir}: stage 'pretrain' has no key" in out


@pytest.mark.parametrize(
    ("stage", "key", "value", "shown"),
    [
        ("pretrain", "train", {"max_stepz": 3}, "unknown key 'stages.pretrain.train.max_stepz'"),
        ("sft", "max_length", "long", "stages.sft.max_length: "),
        ("score", "metrics", ["blue"], "stages.score.metrics.0: "),
    ],
)
def test_a_section_failing_its_own_schema(cli, tiny, stage, key, value, shown):
    root, pipeline = tiny
    pipeline["stages"][stage][key] = value
    out = _refused(cli, root, pipeline)
    assert out.startswith("error: ") and shown in out
    assert str(root / "pipeline.yaml") in out


def test_a_bad_override_is_named_as_such(cli, tiny):
    root, pipeline = tiny
    out = _refused(cli, root, pipeline, "--set", "stages.sft.train.max_steps=-1")
    assert "--set: stages.sft.train.max_steps: " in out


def test_an_output_directory_the_pipeline_did_not_write_is_refused(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["export"]["output_dir"] = str(root / "mine")
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("my work")
    out = _refused(cli, root, pipeline)
    assert "stages.export.output_dir: " in out and "was not written by this pipeline" in out
    assert (root / "mine" / "notes.txt").read_text() == "my work"


def test_a_pipeline_directory_holding_other_files_is_refused(cli, tiny):
    root, pipeline = tiny
    (root / "pipe").mkdir()
    (root / "pipe" / "notes.txt").write_text("my work")
    result = cli("run", write_pipeline(root, pipeline))
    assert result.exit_code == 2
    assert "is not empty and holds no pipeline_state.json" in result.output
    assert sorted(p.name for p in (root / "pipe").iterdir()) == ["notes.txt"]
