"""LoRA adapters (through peft) and parameter freezing for finetuning.

With LoRA the base model is frozen and only the low-rank adapters train, plus the task head
(peft keeps `classifier`/`score` trainable for SEQ_CLS and TOKEN_CLS). The adapter is saved on its
own (adapter_config.json + adapter_model.safetensors) and folded into a plain transformers model
(`merged_copy`) so that `AutoModelFor….from_pretrained(output_dir)` needs neither peft nor the
base model.
"""

import copy
import re
from pathlib import Path

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model

from llmkit.config.finetune import FreezeConfig, LoraConfig
from llmkit.errors import CheckpointError, ConfigError

# Module lists that hold the transformer blocks, by the names transformers uses:
# BERT/RoBERTa encoder.layer, GPT-2 h, Llama/BART/Marian layers, T5 block.
_BLOCK_LIST = re.compile(r"(^|\.)(layer|layers|h|block)$")

PEFT_TASK_TYPES = ("SEQ_CLS", "TOKEN_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM")


def prepare_for_training(
    model: torch.nn.Module, lora: LoraConfig, freeze: FreezeConfig, peft_task_type: str
) -> torch.nn.Module:
    """Apply LoRA (returns a peft model) or freezing (returns `model`) as the config says."""
    if lora.enabled:
        if freeze.embeddings or freeze.first_n_layers:
            raise ConfigError(
                "freeze: only applies to full finetuning; with lora.enabled the whole base model "
                "is already frozen. Remove the freeze: section or set lora.enabled: false"
            )
        return apply_lora(model, lora, peft_task_type)
    freeze_parameters(model, freeze)
    return model


def apply_lora(model: torch.nn.Module, lora: LoraConfig, peft_task_type: str):
    if peft_task_type not in PEFT_TASK_TYPES:
        raise ValueError(f"unknown peft task type {peft_task_type!r}")
    peft_cfg = PeftLoraConfig(
        task_type=peft_task_type,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
    )
    try:
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if _is_linear(m)})
        raise ConfigError(
            f"lora.target_modules ({lora.target_modules!r}): {e}",
            f"linear modules of this model: {', '.join(names)}",
        ) from None


def _is_linear(module: torch.nn.Module) -> bool:
    # GPT-2 uses transformers' Conv1D (a transposed linear layer)
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"


def is_adapter_model(model: torch.nn.Module) -> bool:
    return isinstance(model, PeftModel)


def merged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A plain transformers model with the adapters folded into its weights; `model` (which may
    still be training) is left untouched."""
    return copy.deepcopy(model).merge_and_unload()


def save_adapter(model: torch.nn.Module, directory: str | Path) -> Path:
    """adapter_config.json + adapter_model.safetensors (adapters and trained head only)."""
    model.save_pretrained(str(directory))
    return Path(directory)


def load_adapter(base_model: torch.nn.Module, adapter_dir: str | Path):
    """The base model with a saved adapter attached (for evaluation or further training)."""
    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise CheckpointError(
            f"{adapter_dir}: no adapter_config.json; point at the adapter/ directory of a "
            "LoRA finetuning run"
        )
    return PeftModel.from_pretrained(base_model, str(adapter_dir))


def freeze_parameters(model: torch.nn.Module, freeze: FreezeConfig) -> None:
    """Turn off gradients for embeddings and/or the first N blocks of each stack (an
    encoder–decoder's encoder and decoder each lose their first N blocks)."""
    if freeze.embeddings:
        # every nn.Embedding: token, position and token-type tables (with tied input/output
        # embeddings this also freezes the LM head, which is the same tensor)
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding):
                module.weight.requires_grad_(False)
    if freeze.first_n_layers:
        stacks = block_stacks(model)
        if not stacks:
            raise ConfigError(
                "freeze.first_n_layers: could not find this model's list of transformer blocks"
            )
        name, shortest = min(stacks, key=lambda stack: len(stack[1]))
        if freeze.first_n_layers > len(shortest):
            raise ConfigError(
                f"freeze.first_n_layers ({freeze.first_n_layers}) exceeds the "
                f"{len(shortest)} blocks of {name}",
                f"set freeze.first_n_layers to at most {len(shortest)}",
            )
        for _, blocks in stacks:
            for block in blocks[: freeze.first_n_layers]:
                block.requires_grad_(False)


def block_stacks(model: torch.nn.Module) -> list[tuple[str, torch.nn.ModuleList]]:
    """The model's lists of transformer blocks, by name: one for a decoder or an encoder, two
    (encoder, decoder) for an encoder–decoder. Only outermost lists count: a T5 block holds its
    sub-layers in a ModuleList named `layer` too (encoder.block.0.layer), which is not a stack."""
    stacks: list[tuple[str, torch.nn.ModuleList]] = []
    for name, module in model.named_modules():  # parents come before their children
        if not isinstance(module, torch.nn.ModuleList) or not _BLOCK_LIST.search(name):
            continue
        if not any(name.startswith(outer + ".") for outer, _ in stacks):
            stacks.append((name, module))
    return stacks


def count_trainable(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
