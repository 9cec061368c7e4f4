"""Every example config that ships in configs/ validates against its stage's schema, so the
examples in the README and in `--help` never go stale."""

from pathlib import Path

import pytest
import yaml

from llmkit.config.load import dump_config, read_yaml, validate
from llmkit.config.stages import STAGE_SCHEMAS, schema_for

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
PIPELINES = sorted((Path(__file__).resolve().parents[2] / "configs" / "pipelines").glob("*.yaml"))


def test_configs_ship():
    assert CONFIGS, "configs/ has no example YAML files"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates_against_its_stage(path):
    data = read_yaml(path)
    stage = data.get("stage")
    assert stage in STAGE_SCHEMAS, f"{path.name}: stage {stage!r} is not registered in stages.py"
    cfg = validate(schema_for(stage), data, path.name)
    # The resolved config (what every output directory keeps) loads back to the same config.
    assert validate(schema_for(stage), yaml.safe_load(dump_config(cfg)), path.name) == cfg


def test_config_validate_command_accepts_every_shipped_config(cli):
    result = cli("config", "validate", *CONFIGS)
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(CONFIGS)


def test_config_validate_command_accepts_every_shipped_pipeline(cli):
    """Each stage's section too, against its own stage's schema, as `llmkit run` checks it."""
    assert PIPELINES, "configs/pipelines/ has no example pipelines"
    result = cli("config", "validate", *PIPELINES)
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(PIPELINES)


# the finetune configs whose data ships in tests/fixtures
TINY_FINETUNE = sorted(
    p for p in CONFIGS if p.name.startswith("finetune-tiny-") or p.name == "finetune-swag.yaml"
)


@pytest.mark.parametrize("path", TINY_FINETUNE, ids=lambda p: p.name)
def test_shipped_tiny_finetune_config_dry_runs(
    path, cli, tmp_path, monkeypatch, masked_tokenizer_dir, causal_tokenizer_dir, one_thread
):
    """Past the schema: the config's data files, columns, task and model fit together (one
    optimizer step on the shipped data). Its tokenizer path is a run's output, so a fixture
    tokenizer of the same kind stands in."""
    tokenizer = (
        masked_tokenizer_dir
        if "wordpiece" in read_yaml(path)["tokenizer"]
        else causal_tokenizer_dir
    )
    monkeypatch.chdir(path.parents[1])  # data paths in configs/ are relative to the repo root
    result = cli(
        "finetune", str(path), "--dry-run",
        "--set", f"tokenizer={tokenizer}", "--set", f"output_dir={tmp_path / 'out'}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
