"""What a transformers config says about the model's shape, read in one place."""

from typing import Any

_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")
"""Models whose positions start after padding_idx, so two slots of the table are not usable."""


def is_encoder_decoder(config: Any) -> bool:
    """An encoder–decoder (T5, BART, Marian) rather than a decoder- or encoder-only model."""
    return bool(getattr(config, "is_encoder_decoder", False))


def max_positions(config: Any, decoder: bool = False) -> int | None:
    """The longest sequence the model's position table holds; None when it is not bounded
    (relative positions: T5, whose checkpoints may carry a legacy n_positions that limits
    nothing). With `decoder`, the decoder's table where the config gives it its own size."""
    if getattr(config, "relative_attention_num_buckets", None) is not None:
        return None
    attrs = ("max_position_embeddings", "n_positions")
    if decoder:
        attrs = ("max_decoder_position_embeddings", *attrs)
    for attr in attrs:
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            offset = 2 if getattr(config, "model_type", None) in _OFFSET_POSITIONS else 0
            return value - offset
    return None
