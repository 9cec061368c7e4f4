"""`llmkit config show|validate|schema`: look at a config, with every default and override, before
running it."""

import json
from pathlib import Path

import pytest
import yaml

from llmkit.config.stages import STAGE_SCHEMAS
from llmkit.config.tokenizer import TokenizerTrainConfig

GOOD = "stage: tokenizer\ndata:\n  train: corpus.txt\ntokenizer:\n  type: wordpiece\n"


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_show_prints_the_resolved_config_with_defaults_and_overrides(cli, tmp_path):
    result = cli("config", "show", _write(tmp_path, GOOD), "--set", "tokenizer.vocab_size=512")
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["tokenizer"]["vocab_size"] == 512  # the override
    assert shown["tokenizer"]["type"] == "wordpiece"  # the file
    assert shown["tokenizer"]["min_frequency"] == 2  # a default
    assert shown["tokenizer"]["special_tokens"]["unk"] == "<unk>"  # a family default
    assert shown["output_dir"] == "runs/tokenizer"
    assert TokenizerTrainConfig.model_validate(shown).tokenizer.vocab_size == 512


def test_show_output_is_a_config_that_gives_the_same_result(cli, tmp_path):
    first = cli("config", "show", _write(tmp_path, GOOD), "--set", "batch_size=7")
    again = cli("config", "show", _write(tmp_path, first.stdout, "resolved.yaml"))
    assert again.exit_code == 0 and again.stdout == first.stdout


def test_show_needs_a_stage_key_or_the_stage_option(cli, tmp_path):
    path = _write(tmp_path, GOOD.replace("stage: tokenizer\n", ""))
    result = cli("config", "show", path)
    assert result.exit_code == 2 and "no 'stage:' key" in result.stderr
    result = cli("config", "show", path, "--stage", "tokenizer")
    assert result.exit_code == 0 and "stage: tokenizer" in result.stdout


def test_show_names_the_file_of_an_unknown_stage_and_lists_known_ones(cli, tmp_path):
    result = cli("config", "show", _write(tmp_path, "stage: pretrian\n"))
    assert result.exit_code == 2
    assert "cfg.yaml: unknown stage 'pretrian'" in result.stderr
    assert "tokenizer" in result.stderr and "preprocess" in result.stderr


def test_validate_reports_every_invalid_file_and_exits_2(cli, tmp_path):
    good = _write(tmp_path, GOOD, "good.yaml")
    typo = _write(tmp_path, GOOD + "  vocab_sise: 3\n", "typo.yaml")
    bad_type = _write(tmp_path, GOOD + "batch_size: many\n", "bad_type.yaml")
    result = cli("config", "validate", typo, good, bad_type)
    assert result.exit_code == 2
    assert f"{good}: ok" in result.stdout
    assert "typo.yaml: unknown key 'tokenizer.vocab_sise'" in result.stderr
    assert "bad_type.yaml: batch_size" in result.stderr


def test_schema_prints_json_schema_with_field_documentation(cli):
    result = cli("config", "schema", "tokenizer")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    options = schema["$defs"]["TokenizerOptions"]["properties"]
    assert options["vocab_size"]["default"] == 8000
    assert "special tokens" in options["vocab_size"]["description"]
    assert set(options["type"]["enum"]) == {"bpe", "wordpiece", "unigram", "char"}


def test_schema_of_an_unknown_stage_lists_the_known_ones(cli):
    result = cli("config", "schema", "pretrian")
    assert result.exit_code == 2 and "known stages:" in result.stderr


@pytest.mark.parametrize("stage", sorted(STAGE_SCHEMAS))
def test_every_registered_stage_names_itself_and_an_output_dir(cli, stage):
    result = cli("config", "schema", stage)
    assert result.exit_code == 0, result.output
    properties = json.loads(result.stdout)["properties"]
    assert properties["stage"]["default"] == stage
    assert "output_dir" in properties
