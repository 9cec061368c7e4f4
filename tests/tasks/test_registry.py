"""Every task type a config can name has a task class, the old SFT name still works, and a saved
model of each task is read back as the class that task trains."""

import typing

import pytest
import transformers

from llmkit.config.eval import EvalConfig
from llmkit.config.finetune import TASK_TYPES, FinetuneConfig
from llmkit.config.pretrain import PretrainConfig
from llmkit.tasks.mlm import MaskedLMTask
from llmkit.tasks.models import MODEL_CLASSES, task_of_model
from llmkit.tasks.nsp import MaskedLMWithNSPTask
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


FAMILY = {"seq2seq": "t5", "clm": "gpt2", "sft": "gpt2"}  # the encoder tasks: bert


@pytest.mark.parametrize("name", list(TASKS))
def test_a_saved_model_of_each_task_is_loaded_back_as_the_class_that_task_trains(name):
    """eval, generate and export load a model through load_trained_model(task_of_model(…)):
    the architecture a task's model is saved with must lead back to that task's class."""
    # mlm is a factory: masked LM alone, or with nsp: true, masked LM + next-sentence prediction
    classes = [MaskedLMTask, MaskedLMWithNSPTask] if name == "mlm" else [TASKS[name]]
    for task_class in classes:
        auto_class = getattr(transformers, task_class.auto_class_name)
        config = transformers.AutoConfig.for_model(FAMILY.get(name, "bert"))
        saved_as = auto_class._model_mapping[type(config)].__name__  # e.g. BertForMaskedLM
        trained_by = task_of_model([saved_as], config.is_encoder_decoder)
        assert MODEL_CLASSES[trained_by] == task_class.auto_class_name


def test_a_head_no_task_trains_has_no_task():
    assert task_of_model(["BertModel"], encoder_decoder=False) is None
