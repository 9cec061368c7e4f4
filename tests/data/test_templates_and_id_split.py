"""Prompt templates from columns and the split of one file by id ranges (SFT data features)."""

import pytest
from datasets import Dataset
from pydantic import ValidationError

from llmkit.config.data import DataConfig, IdSplitConfig
from llmkit.data.id_split import split_by_id
from llmkit.data.templates import render, template_fields
from llmkit.errors import DataError


def test_a_template_fills_columns_and_joins_lists_by_newlines():
    row = {"text": "Add.", "test_list": ["assert add(1, 1) == 2", "assert add(0, 0) == 0"]}
    template = "{text}\nYour code should pass these tests:\n{test_list}\n{{literal}}"
    assert template_fields(template) == ["text", "test_list"]
    assert render(template, row) == (
        "Add.\nYour code should pass these tests:\n"
        "assert add(1, 1) == 2\nassert add(0, 0) == 0\n{literal}"
    )


@pytest.mark.parametrize("template", ["{text", "{0}", "{}", "{row.text}", "{text:>5}", "plain"])
def test_malformed_templates_are_config_errors(template):
    with pytest.raises(ValidationError, match="prompt_template"):
        DataConfig(train="x.jsonl", prompt_template=template)


def test_id_split_takes_inclusive_ranges_and_leaves_the_rest_out():
    rows = Dataset.from_list([{"task_id": i, "text": str(i)} for i in range(1, 11)])
    spec = IdSplitConfig(train=[6, 10], validation=[3, 5], test=[2, 2])
    splits = split_by_id(rows, spec)
    assert {name: ds["task_id"] for name, ds in splits.items()} == {
        "train": [6, 7, 8, 9, 10], "validation": [3, 4, 5], "test": [2]
    }  # fmt: skip
    with pytest.raises(DataError, match=r"data.id_split.train: no row has task_id in \[20, 30\]"):
        split_by_id(rows, IdSplitConfig(train=[20, 30]))
    with pytest.raises(DataError, match="no column 'id'"):
        split_by_id(rows, IdSplitConfig(column="id", train=[1, 2]))


def test_id_split_config_rejects_overlaps_and_extra_split_files():
    with pytest.raises(ValidationError, match="overlap"):
        IdSplitConfig(train=[5, 10], validation=[1, 5])
    with pytest.raises(ValidationError, match="empty"):
        IdSplitConfig(train=[5, 1])
    with pytest.raises(ValidationError, match="remove data.validation"):
        DataConfig(train="a.jsonl", validation="b.jsonl", id_split={"train": [1, 2]})


def test_prompt_template_is_for_sft_only():
    from llmkit.config.finetune import FinetuneConfig

    data = {"train": "x.jsonl", "prompt_template": "{text}"}
    with pytest.raises(ValidationError, match="needs task.type sft"):
        FinetuneConfig(tokenizer="t", data=data, task={"type": "classification"})
    with pytest.raises(ValidationError, match="needs task.type sft"):
        FinetuneConfig(tokenizer="t", data=data, task={"type": "sft", "format": "chat"})
    cfg = FinetuneConfig(tokenizer="t", data=data | {"id_split": {"train": [1, 5]}},
                         task={"type": "sft"})  # fmt: skip
    assert not cfg.has_validation  # an id split without a validation range has none
