"""Load the source model (fp32, eval mode, safetensors only) and its tokenizer."""

import torch
import transformers

from llmkit.errors import CheckpointError
from llmkit.export.source import ExportSource
from llmkit.models.adapters import load_adapter
from llmkit.models.build import from_pretrained

# architecture-name suffix → (Auto class, pipeline tag on the Hub)
_HEADS = (
    ("ForSequenceClassification", "AutoModelForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "AutoModelForTokenClassification", "token-classification"),
    ("ForCausalLM", "AutoModelForCausalLM", "text-generation"),
    ("LMHeadModel", "AutoModelForCausalLM", "text-generation"),
    ("ForMaskedLM", "AutoModelForMaskedLM", "fill-mask"),
    ("ForPreTraining", "AutoModelForPreTraining", "fill-mask"),
    ("ForMultipleChoice", "AutoModelForMultipleChoice", "multiple-choice"),
    ("ForConditionalGeneration", "AutoModelForSeq2SeqLM", "text2text-generation"),
    ("MTModel", "AutoModelForSeq2SeqLM", "translation"),
)


def head_of(source: ExportSource) -> tuple[str, str]:
    """(Auto class name, Hub pipeline tag) of the source's architecture."""
    for suffix, auto_name, tag in _HEADS:
        if source.architecture.endswith(suffix):
            return auto_name, tag
    return "AutoModel", "feature-extraction"


def load_model(source: ExportSource, trust_remote_code: bool, merge_lora: bool = True):
    """The model in fp32 and eval mode. An adapter-only source is loaded onto its base and, with
    merge_lora, folded into it (a run's output_dir already holds the merged model)."""
    auto_class = getattr(transformers, head_of(source)[0])
    kwargs = dict(use_safetensors=True, trust_remote_code=trust_remote_code, dtype=torch.float32)
    if source.config_dir is not None:
        kwargs["config"] = transformers.AutoConfig.from_pretrained(
            str(source.config_dir), trust_remote_code=trust_remote_code
        )
    try:
        model = from_pretrained(auto_class, str(source.model_dir), "source", **kwargs)
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
