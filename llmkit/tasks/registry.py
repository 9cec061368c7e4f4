"""Task type name → task class. Each class is built from its spec: `TaskClass(task_spec(cfg))`.
Adding a task is one module implementing llmkit.tasks.base.Task and one line here. `mlm` maps to
a function of the spec: with nsp: true it builds masked LM + next-sentence prediction."""

from collections.abc import Callable

from llmkit.errors import ConfigError
from llmkit.tasks.base import Task
from llmkit.tasks.classification import ClassificationTask
from llmkit.tasks.clm import CausalLMTask
from llmkit.tasks.multiple_choice import MultipleChoiceTask
from llmkit.tasks.nsp import masked_lm_task
from llmkit.tasks.question_answering import QuestionAnsweringTask
from llmkit.tasks.seq2seq import Seq2SeqTask
from llmkit.tasks.sft import SFTTask
from llmkit.tasks.spec import task_spec
from llmkit.tasks.token_classification import TokenClassificationTask

TASKS: dict[str, Callable[..., Task]] = {
    "clm": CausalLMTask,
    "mlm": masked_lm_task,
    "classification": ClassificationTask,
    "token-classification": TokenClassificationTask,
    "seq2seq": Seq2SeqTask,
    "sft": SFTTask,
    "multiple-choice": MultipleChoiceTask,
    "question-answering": QuestionAnsweringTask,
}


def build_task(cfg) -> Task:
    """The task named by `cfg.task.type` of a stage config, built from its spec."""
    name = cfg.task.type
    if name not in TASKS:
        raise ConfigError(f"task.type: unknown task '{name}'; known: {', '.join(sorted(TASKS))}")
    return TASKS[name](task_spec(cfg))
