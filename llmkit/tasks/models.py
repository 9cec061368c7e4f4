"""Which model class each task trains, and the one way a trained model of a task is loaded.

Every task's `build_model` trains `MODEL_CLASSES[task]`; `llmkit eval`, `llmkit generate` and
`llmkit export` load a saved model with `load_trained_model`, through that same class, so a
model is read back as the task that made it wrote it. Kept apart from the task modules (and
tasks/registry.py, which imports them all with their data code) so that loading a model for
generation or export does not import the data pipeline.
"""

from pathlib import Path
from typing import Any

import transformers

from llmkit.models.build import from_pretrained

MODEL_CLASSES = {
    "clm": "AutoModelForCausalLM",
    "mlm": "AutoModelForMaskedLM",
    "classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "seq2seq": "AutoModelForSeq2SeqLM",
    "sft": "AutoModelForCausalLM",
    "mlm-nsp": "AutoModelForPreTraining",
    "multiple-choice": "AutoModelForMultipleChoice",
    "question-answering": "AutoModelForQuestionAnswering",
}
"""Task name → the transformers Auto class its model is (the task's `auto_class_name`); mlm-nsp
is task mlm with nsp: true (BERT's two pretraining heads)."""

_HEADS = (
    ("ForSequenceClassification", "classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForMaskedLM", "mlm"),
    ("ForPreTraining", "mlm-nsp"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForCausalLM", "clm"),
    ("LMHeadModel", "clm"),
)
"""Architecture-name suffix of a decoder or encoder → the task that trains that head."""


def task_of_model(architectures: list[str] | None, encoder_decoder: bool) -> str | None:
    """The task that trains a saved model's head, from its config's `architectures` and
    `is_encoder_decoder`: seq2seq for encoder–decoders, clm for any causal LM (SFT trains the
    same class); None for a head no task trains (a bare encoder, say)."""
    if encoder_decoder:
        return "seq2seq"
    for architecture in architectures or []:
        for suffix, task in _HEADS:
            if architecture.endswith(suffix):
                return task
    return None


def load_trained_model(task: str, model_dir: str | Path, key: str, **kwargs: Any):
    """The model task `task` trained, from its directory, as the class the task's build_model
    trains; `key` names the setting that pointed at it in errors; kwargs go to
    from_pretrained (dtype, use_safetensors, config, …)."""
    auto_class = getattr(transformers, MODEL_CLASSES[task])
    return from_pretrained(auto_class, str(model_dir), key, **kwargs)
