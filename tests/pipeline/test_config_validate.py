"""`llmkit config validate PIPELINE.yaml` checks what `llmkit run` checks before it runs
anything: every stage's section against its own stage's schema, and the references between
stages; it reads no model or data, so it passes on a machine where none exist yet."""

import pytest
from pipeline_helpers import write_pipeline


def test_a_good_pipeline_validates(cli, tiny):
    root, pipeline = tiny
    path = write_pipeline(root, pipeline)
    result = cli("config", "validate", path)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{path}: ok"


def test_a_pipeline_without_a_stage_key_validates_as_run_takes_it(cli, tiny):
    root, pipeline = tiny
    del pipeline["stage"]
    result = cli("config", "validate", write_pipeline(root, pipeline))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("section", "key", "value", "shown"),
    [
        ("sft", "max_lenght", 48, "unknown key 'stages.sft.max_lenght'"),
        ("sft", "train", {"batch_size": "four"}, "stages.sft.train.batch_size: "),
        ("prep", "tokenizer", "${later}", "stages.prep.tokenizer: ${later} refers to stage"),
        ("export", "stage", "deploy", "stages.export.stage: unknown stage type 'deploy'"),
    ],
)
def test_a_bad_stage_section_fails_naming_its_key(cli, tiny, section, key, value, shown):
    root, pipeline = tiny
    pipeline["stages"][section][key] = value
    path = write_pipeline(root, pipeline)
    result = cli("config", "validate", path)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1, line
    assert line.startswith(f"error: {path}: ") and shown in line
    assert not (root / "pipe").exists()  # validating runs nothing


def test_a_bad_stage_override_is_named_as_the_override(cli, tiny):
    root, pipeline = tiny
    path = write_pipeline(root, pipeline)
    result = cli("config", "validate", path, "--set", "stages.sft.train.max_steps=-1")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --set: stages.sft.train.max_steps: ")


def test_every_broken_file_is_named_in_one_run(cli, tiny):
    root, pipeline = tiny
    pipeline["stages"]["score"]["metricz"] = ["chrf"]
    bad = write_pipeline(root, pipeline).rename(root / "bad.yaml")
    del pipeline["stages"]["score"]["metricz"]
    good = write_pipeline(root, pipeline)
    result = cli("config", "validate", good, bad)
    assert result.exit_code == 2
    assert f"{good}: ok" in result.output
    assert f"{bad}: unknown key 'stages.score.metricz'" in result.output
