"""Task type name → task class. Each class is built from its stage's config: `TaskClass(cfg)`.
Adding a task is one module implementing llmkit.tasks.base.Task and one line here."""

import importlib

from llmkit.errors import ConfigError

TASKS: dict[str, str] = {
    "clm": "llmkit.tasks.clm:CausalLMTask",
    "mlm": "llmkit.tasks.mlm:MaskedLMTask",
    "classification": "llmkit.tasks.classification:ClassificationTask",
    "token-classification": "llmkit.tasks.token_classification:TokenClassificationTask",
    "seq2seq": "llmkit.tasks.seq2seq:Seq2SeqTask",
    "causal": "llmkit.tasks.sft:SFTTask",
}


def build_task(cfg):
    """The task named by `cfg.task.type`, constructed from the whole stage config."""
    name = cfg.task.type
    target = TASKS.get(name)
    if target is None:
        raise ConfigError(f"task.type: unknown task '{name}'; known: {', '.join(sorted(TASKS))}")
    module, class_name = target.split(":")
    return getattr(importlib.import_module(module), class_name)(cfg)
