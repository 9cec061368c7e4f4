"""Which model to train: a local Hugging Face directory / hub id, or an architecture built from
config. Shared by `pretrain` and `finetune`."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section

Family = Literal["gpt2", "llama", "bert", "roberta", "t5", "bart", "marian"]


class ModelConfig(Section):
    pretrained: str | None = None
    """A local model directory (e.g. `llmkit pretrain` output) or a hub id; when set, the
    architecture fields below are ignored and the model's own config is used."""
    family: Family = "gpt2"
    """Architecture to build from scratch: gpt2/llama (decoders), bert/roberta (encoders),
    t5/bart/marian (encoder–decoders)."""
    n_layers: int = Field(2, ge=1)
    """Transformer layers (encoder and decoder each, for encoder–decoders)."""
    hidden_size: int = Field(64, ge=8)
    n_heads: int = Field(2, ge=1)
    n_kv_heads: int | None = Field(None, ge=1)
    """Key/value heads for grouped-query attention (llama); null = n_heads."""
    intermediate_size: int | None = Field(None, ge=8)
    """MLP width; null = 4 × hidden_size."""
    context_length: int = Field(128, ge=8)
    """Maximum positions the model can attend over."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    tie_embeddings: bool = True
    """Share input and output embeddings."""
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"
    """auto = PyTorch SDPA, except eager attention when training in bf16 on a CPU, where SDPA's
    bf16 backward is slow (llmkit.models.precision). flash_attention_2 needs flash-attn and a GPU."""

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.pretrained is None and self.hidden_size % self.n_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.n_kv_heads is not None and self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be divisible by n_kv_heads")
        return self
