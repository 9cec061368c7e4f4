"""The GenerationConfig a model decodes with, shared by `llmkit generate`, `llmkit eval` and
seq2seq validation during finetuning."""

import copy

from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from llmkit.config.generate import GenerationSettings
from llmkit.models.properties import is_encoder_decoder


def generation_config(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, settings: GenerationSettings
) -> GenerationConfig:
    """The model's own generation config (keeps e.g. forced BOS/EOS ids of Marian and BART)
    overridden by `settings` and the tokenizer's special ids.

    Sampling fields get neutral values under greedy/beam decoding, so a model whose saved config
    samples does not leak its temperature into greedy runs (nor make transformers warn).
    """
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    config = copy.deepcopy(model.generation_config)
    sample = settings.do_sample
    config.update(
        max_new_tokens=settings.max_new_tokens,
        max_length=None,
        min_new_tokens=settings.min_new_tokens,
        num_beams=settings.num_beams,
        do_sample=sample,
        temperature=settings.temperature if sample else 1.0,
        top_k=settings.top_k if sample else 50,
        top_p=settings.top_p if sample else 1.0,
        repetition_penalty=settings.repetition_penalty,
        eos_token_id=eos if settings.stop_at_eos else None,
        pad_token_id=pad,
        use_cache=True,
    )
    if is_encoder_decoder(model.config) and config.decoder_start_token_id is None:
        config.decoder_start_token_id = model.config.decoder_start_token_id
    return config
