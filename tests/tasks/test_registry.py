"""Every task type a config can name has a task class, and the old SFT name still works."""

import typing

import pytest

from llmkit.config.eval import EvalConfig
from llmkit.config.finetune import TASK_TYPES, FinetuneConfig
from llmkit.config.pretrain import PretrainConfig
from llmkit.tasks.registry import TASKS
from llmkit.tasks.sft import SFTTask


def test_the_registry_holds_exactly_the_task_types_the_configs_accept():
    pretrain_types = typing.get_args(
        PretrainConfig.model_fields["task"].annotation.model_fields["type"].annotation
    )
    assert set(TASKS) == set(pretrain_types) | set(TASK_TYPES)


def test_the_sft_task_is_called_sft_and_causal_still_validates_with_a_warning():
    data = {"train": "train.jsonl"}
    assert FinetuneConfig(data=data, tokenizer="tok", task={"type": "sft"}).task.type == "sft"
    with pytest.warns(FutureWarning, match="'causal' is deprecated and now called 'sft'"):
        old = FinetuneConfig(data=data, tokenizer="tok", task={"type": "causal"})
    assert old.task.type == "sft"
    assert TASKS[old.task.type] is SFTTask
    with pytest.warns(FutureWarning, match="task: 'causal' is deprecated"):
        assert EvalConfig(models=["m"], data="d.jsonl", task="causal").task == "sft"
