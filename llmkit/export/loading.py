"""Load the source model (fp32, eval mode, safetensors only) as its task loads it, and its
tokenizer."""

import torch
import transformers

from llmkit.errors import CheckpointError
from llmkit.export.source import ExportSource
from llmkit.models.adapters import load_adapter
from llmkit.models.build import from_pretrained
from llmkit.tasks.models import MODEL_CLASSES, load_trained_model, task_of_model

PIPELINE_TAGS = {
    "classification": "text-classification",
    "token-classification": "token-classification",
    "clm": "text-generation",
    "mlm": "fill-mask",
    "seq2seq": "text2text-generation",
    "mlm-nsp": "fill-mask",
    "multiple-choice": "multiple-choice",
    "question-answering": "question-answering",
}
"""Task → the Hub's pipeline tag for its models."""


def task_of_source(source: ExportSource) -> str | None:
    """The task whose model is exported (llmkit.tasks.models); None for a head no task trains."""
    return task_of_model([source.architecture], source.is_encoder_decoder)


def head_of(source: ExportSource) -> tuple[str, str]:
    """(Auto class name, Hub pipeline tag) of the source's model: its task's."""
    task = task_of_source(source)
    if task is None:
        return "AutoModel", "feature-extraction"
    if task == "seq2seq" and source.architecture.endswith("MTModel"):
        return MODEL_CLASSES[task], "translation"  # Marian: a translation model by design
    return MODEL_CLASSES[task], PIPELINE_TAGS[task]


def load_model(source: ExportSource, trust_remote_code: bool, merge_lora: bool = True):
    """The model in fp32 and eval mode, loaded as its task loads it (load_trained_model). An
    adapter-only source is loaded onto its base and, with merge_lora, folded into it (a run's
    output_dir already holds the merged model)."""
    kwargs = dict(use_safetensors=True, trust_remote_code=trust_remote_code, dtype=torch.float32)
    if source.config_dir is not None:
        kwargs["config"] = transformers.AutoConfig.from_pretrained(
            str(source.config_dir), trust_remote_code=trust_remote_code
        )
    task = task_of_source(source)
    try:
        if task is None:  # no task trains this head: the bare model
            model = from_pretrained(
                transformers.AutoModel, str(source.model_dir), "source", **kwargs
            )
        else:
            model = load_trained_model(task, source.model_dir, "source", **kwargs)
    except ValueError as e:  # e.g. an architecture that needs trust_remote_code
        raise CheckpointError(f"source: {source.model_dir}: {str(e).splitlines()[0]}") from None
    if source.adapter_dir is not None and source.adapter_dir.parent != source.model_dir:
        model = load_adapter(model, source.adapter_dir)
        if merge_lora:
            model = model.merge_and_unload()
    return model.eval()


def load_tokenizer(source: ExportSource, trust_remote_code: bool):
    directory = source.model_dir
    if source.adapter_dir is not None and _has_tokenizer(source.adapter_dir.parent):
        directory = source.adapter_dir.parent
    if not _has_tokenizer(directory):
        raise CheckpointError(
            f"source: {directory} has no tokenizer (tokenizer.json / tokenizer_config.json); "
            "an export must be usable on its own"
        )
    return transformers.AutoTokenizer.from_pretrained(
        str(directory), trust_remote_code=trust_remote_code
    )


def _has_tokenizer(directory) -> bool:
    return any((directory / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
