"""Turn a ModelConfig into a transformers model: from a directory/hub id, or from scratch.

Vocabulary size and special-token ids always come from the tokenizer, so a model built here can
never disagree with the tokenizer it trains with.
"""

from pathlib import Path
from typing import Any

import transformers
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from llmkit.config.model import ModelConfig
from llmkit.errors import CheckpointError
from llmkit.models.precision import resolve_attention


def _special_ids(tok: PreTrainedTokenizerBase) -> dict[str, Any]:
    eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    return {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}


def architecture_config(cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """A fresh transformers config for `cfg.family` sized as `cfg` says."""
    ids = _special_ids(tokenizer)
    vocab = len(tokenizer)
    ffn = cfg.intermediate_size or 4 * cfg.hidden_size
    common = dict(vocab_size=vocab, tie_word_embeddings=cfg.tie_embeddings, **ids)
    f = cfg.family
    if f == "gpt2":
        return transformers.GPT2Config(
            n_layer=cfg.n_layers, n_embd=cfg.hidden_size, n_head=cfg.n_heads, n_inner=ffn,
            n_positions=cfg.context_length, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout, **common,
        )  # fmt: skip
    if f == "llama":
        return transformers.LlamaConfig(
            num_hidden_layers=cfg.n_layers, hidden_size=cfg.hidden_size,
            num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads or cfg.n_heads,
            intermediate_size=ffn, max_position_embeddings=cfg.context_length,
            attention_dropout=cfg.dropout, **common,
        )  # fmt: skip
    if f in ("bert", "roberta"):
        klass = transformers.BertConfig if f == "bert" else transformers.RobertaConfig
        # RoBERTa offsets positions by padding_idx + 1, so it needs two extra position slots.
        extra = 2 if f == "roberta" else 0
        return klass(
            num_hidden_layers=cfg.n_layers, hidden_size=cfg.hidden_size,
            num_attention_heads=cfg.n_heads, intermediate_size=ffn,
            max_position_embeddings=cfg.context_length + extra,
            hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout, **common,
        )  # fmt: skip
    if f == "t5":
        return transformers.T5Config(
            num_layers=cfg.n_layers, num_decoder_layers=cfg.n_layers, d_model=cfg.hidden_size,
            num_heads=cfg.n_heads, d_kv=cfg.hidden_size // cfg.n_heads, d_ff=ffn,
            dropout_rate=cfg.dropout, decoder_start_token_id=ids["pad_token_id"], **common,
        )  # fmt: skip
    klass = transformers.BartConfig if f == "bart" else transformers.MarianConfig
    return klass(
        encoder_layers=cfg.n_layers, decoder_layers=cfg.n_layers, d_model=cfg.hidden_size,
        encoder_attention_heads=cfg.n_heads, decoder_attention_heads=cfg.n_heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=cfg.context_length,
        dropout=cfg.dropout, decoder_start_token_id=ids["eos_token_id"], **common,
    )  # fmt: skip


def from_pretrained(loader: Any, name: str, key: str, **kwargs: Any) -> Any:
    """`loader.from_pretrained(name)` for an Auto… class. A name that is neither a local directory
    nor a hub id that can be fetched (there is no network offline), or a config.json that names
    no model type, becomes one clear error naming the config key, instead of a traceback."""
    try:
        return loader.from_pretrained(name, **kwargs)
    except ValueError as e:
        if not str(e).startswith("Unrecognized model in"):
            raise
        raise CheckpointError(
            f"{key}: {name}/config.json names no model_type, so transformers cannot tell which "
            "model it is",
            "point at a directory written by save_pretrained, e.g. a `llmkit pretrain` output_dir",
        ) from None
    except OSError as e:
        local = Path(name).expanduser()
        reason = "no such local directory" if not local.exists() else str(e).splitlines()[0]
        raise CheckpointError(
            f"{key}: cannot load {name!r}: {reason}",
            "give a local model directory (e.g. a `llmkit pretrain` output_dir); a hub id needs "
            "network access",
        ) from None


def load_or_build(
    cfg: ModelConfig,
    auto_class: type,
    tokenizer: PreTrainedTokenizerBase,
    precision: str = "fp32",
    **kwargs: Any,
) -> transformers.PreTrainedModel:
    """`auto_class` is an AutoModelFor… class; `precision` is the run's train.precision (it
    decides what attn_implementation auto means); kwargs go to from_pretrained/from_config
    (e.g. num_labels, id2label)."""
    attention = resolve_attention(cfg.attn_implementation, precision)
    if cfg.pretrained is not None:
        local = Path(cfg.pretrained)
        if local.exists() and not (local / "config.json").is_file():
            raise CheckpointError(
                f"model.pretrained: {local} has no config.json; point it at a Hugging Face model "
                "directory such as the output_dir of `llmkit pretrain`"
            )
        return from_pretrained(
            auto_class,
            cfg.pretrained,
            "model.pretrained",
            attn_implementation=attention,
            **kwargs,
        )
    config = architecture_config(cfg, tokenizer)
    for key, value in kwargs.items():
        setattr(config, key, value)
    return auto_class.from_config(config, attn_implementation=attention)
