"""Decoding settings (shared by `llmkit generate`, `llmkit eval` and finetune validation) and the
`llmkit generate` stage config."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.load import apply_overrides, read_yaml, validate


class GenerationSettings(Section):
    """How text is decoded. Greedy by default: deterministic and what metrics are usually
    reported with. num_beams > 1 gives beam search; do_sample gives sampling."""

    max_new_tokens: int = Field(64, ge=1)
    """Generate at most this many tokens after the prompt (not counting the prompt)."""
    min_new_tokens: int = Field(0, ge=0)
    """Suppress EOS until this many tokens are generated (equal-length outputs for benchmarks)."""
    num_beams: int = Field(1, ge=1)
    """Beam width; 1 = greedy or sampling."""
    do_sample: bool = False
    """Sample from the (temperature/top-k/top-p filtered) distribution instead of taking argmax."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature (do_sample only); below 1 sharpens, above 1 flattens."""
    top_k: int = Field(50, ge=0)
    """Sample among the k most likely tokens (do_sample only); 0 disables the filter."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling: the smallest token set with this total probability (do_sample only)."""
    repetition_penalty: float = Field(1.0, gt=0)
    """Divide the logits of tokens already present by this (>1 discourages repeats)."""
    stop_at_eos: bool = True
    """End a sequence at the tokenizer's EOS token; false always runs max_new_tokens."""
    max_input_tokens: int | None = Field(None, ge=1)
    """Truncate prompts to this many tokens (decoder-only models keep the end of the prompt);
    null keeps whole prompts."""
    seed: int = 0
    """Seed for sampling; the same seed, prompts and batch size give the same outputs."""

    @model_validator(mode="after")
    def _min_le_max(self):
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens ({self.min_new_tokens}) must not exceed "
                f"max_new_tokens ({self.max_new_tokens})"
            )
        return self


class GenerateConfig(Section):
    """`llmkit generate`: a model directory + prompts → generated texts."""

    stage: Literal["generate"] = "generate"
    model: str | None = None
    """Model directory (output of `llmkit pretrain`/`finetune`) or hub id; the MODEL_DIR argument
    of `llmkit generate` sets it."""
    prompts: list[str] = Field(default_factory=list)
    """Prompts to complete (or, for encoder–decoder models, inputs to transform)."""
    input_file: str | None = None
    """A file of prompts: .txt (one per line) or .jsonl (the `input_field` of each row)."""
    input_field: str = "prompt"
    """Field holding the prompt in each row of a .jsonl input_file."""
    batch_size: int = Field(32, ge=1)
    """Prompts per generate call (prompts are sorted by length first, so padding stays small)."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    output_dir: str | None = None
    """When set, write generations.jsonl ({"prompt", "output"} per line, input order) and the
    resolved config there; null prints the outputs only."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where the model runs; auto picks CUDA, then MPS, then CPU."""


def load_generate_config(
    path: str | None,
    overrides: list[str],
    model: str | None,
    prompts: list[str],
    input_file: str | None,
) -> GenerateConfig:
    """YAML (optional) < MODEL_DIR / --prompt / --input-file < --set overrides."""
    data = read_yaml(path) if path is not None else {}
    if model is not None:
        data["model"] = model
    if prompts:
        data["prompts"] = list(prompts)
    if input_file is not None:
        data["input_file"] = input_file
    data = apply_overrides(data, overrides)
    return validate(GenerateConfig, data, str(path) if path is not None else "command line")
