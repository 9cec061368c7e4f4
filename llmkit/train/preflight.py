"""What `--dry-run` shows before a run spends any compute: size, memory, throughput shape, and
one batch decoded with the positions that carry loss marked.

The memory figure is an estimate per device for plain data parallelism (every device holds the
whole model, its gradients and AdamW states); FSDP/DeepSpeed ZeRO shard those and need less.
"""

from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmkit.config.train import TrainConfig
from llmkit.models.loss import IGNORE_INDEX
from llmkit.models.precision import resolve_precision
from llmkit.models.properties import is_encoder_decoder


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameters; tied weights are counted once."""
    total = trainable = 0
    for p in model.parameters():  # yields a shared (tied) tensor only once
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


def _layer_shape(model: torch.nn.Module) -> tuple[int, int, int, int]:
    """(layers, hidden, heads, vocab) from a transformers config; encoder–decoders add up both
    stacks."""
    config = model.config
    layers = config.num_hidden_layers
    if is_encoder_decoder(config):
        decoder_layers = getattr(config, "decoder_layers", None)
        layers += decoder_layers or getattr(config, "num_decoder_layers", None) or layers
    return layers, config.hidden_size, config.num_attention_heads, config.vocab_size


def memory_breakdown(
    model: torch.nn.Module,
    train_cfg: TrainConfig,
    seq_len: int,
    batch_size: int | None = None,
) -> dict[str, int]:
    """Bytes per device by kind: weights, gradients, optimizer, activations.

    Mixed precision keeps fp32 master weights, gradients and AdamW moments (4 + 4 + 8 bytes per
    trainable parameter); only activations shrink to 2 bytes. Activations follow Korthikanti et
    al. 2022 ("Reducing Activation Recomputation"): per layer s·b·h·(34 + 5·a·s/h) bytes at
    16 bits, plus the logits and their gradient in fp32. It is a rough upper bound: fused SDPA
    kernels avoid materialising the a·s² attention scores.
    """
    total, trainable = count_parameters(model)
    batch = batch_size or train_cfg.batch_size
    act_bytes = 2 if resolve_precision(train_cfg.precision) in ("bf16", "fp16") else 4
    layers, hidden, heads, vocab = _layer_shape(model)
    per_layer_16bit = seq_len * batch * hidden * (34 + 5 * heads * seq_len / hidden)
    activations = layers * per_layer_16bit * act_bytes / 2
    logits = 2 * seq_len * batch * vocab * 4
    return {
        "weights": 4 * total,
        "gradients": 4 * trainable,
        "optimizer": 8 * trainable,
        "activations": int(activations + logits),
    }


def estimate_memory_bytes(
    model: torch.nn.Module,
    train_cfg: TrainConfig,
    seq_len: int,
    batch_size: int | None = None,
) -> int:
    """Rough peak memory per device: weights + gradients + AdamW states + activations.
    `batch_size` defaults to train_cfg.batch_size (the micro-batch; accumulation adds nothing)."""
    return sum(memory_breakdown(model, train_cfg, seq_len, batch_size).values())


def _token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text each position adds, decoded with a few tokens of left context: decoding ids one
    by one would lose WordPiece's spaces and split multi-byte characters of byte-level BPE."""
    texts = []
    for i, token_id in enumerate(ids):
        left = ids[max(0, i - 6) : i]
        before = tokenizer.decode(left, skip_special_tokens=False)
        after = tokenizer.decode(left + [token_id], skip_special_tokens=False)
        text = after[len(before) :] if after.startswith(before) else ""
        if not text:
            text = tokenizer.decode([token_id], skip_special_tokens=False)
        texts.append(text.replace("\n", "⏎\n"))
    return texts


def _aligned_example(tokenizer: Any, ids: list[int], labels: list[int], mask: list[int]) -> str:
    """The text in order; each run of positions that carry loss is wrapped in ⟦…⟧ (a whole CLM
    block is one run, an SFT response another). A position where the model sees something else
    than it must predict (MLM's masked or replaced tokens) is its own ⟦input→label⟧."""
    parts: list[str] = []
    run: list[str] = []  # texts of the current run of positions predicting what they show

    def close_run() -> None:
        if run:
            parts.append(f"[bold green]⟦{''.join(run)}⟧[/bold green]")
            run.clear()

    texts = _token_texts(tokenizer, ids)
    for token_id, label, attended, text in zip(ids, labels, mask, texts, strict=True):
        if not attended:
            continue  # padding: neither seen nor scored
        if label == token_id:
            run.append(escape(text))
            continue
        close_run()
        if label == IGNORE_INDEX:
            parts.append(f"[dim]{escape(text)}[/dim]")
        else:
            target = escape(tokenizer.decode([label]).strip())
            parts.append(f"[bold magenta]⟦{escape(text)}→{target}⟧[/bold magenta]")
    close_run()
    return "".join(parts)


def describe_batch(tokenizer: Any, batch: dict[str, Any], n_examples: int = 1) -> str:
    """The first `n_examples` of a batch as rich markup: positions whose label is not -100 carry
    loss and are marked ⟦…⟧. Labels of another length than input_ids (seq2seq targets) or one
    per example (classification) are shown after the input."""
    if batch["input_ids"].dim() == 3:  # multiple choice: (batch, choices, tokens)
        return _describe_choices(tokenizer, batch)
    input_ids = batch["input_ids"].tolist()
    labels = batch["labels"].tolist() if "labels" in batch else None
    masks = batch["attention_mask"].tolist() if "attention_mask" in batch else None
    blocks = []
    for i in range(min(n_examples, len(input_ids))):
        ids = input_ids[i]
        mask = masks[i] if masks is not None else [1] * len(ids)
        if labels is None:
            body = escape(tokenizer.decode(ids))
            scored = "no labels"
        elif isinstance(labels[i], list) and len(labels[i]) == len(ids):
            body = _aligned_example(tokenizer, ids, labels[i], mask)
            n_scored = sum(lab != IGNORE_INDEX for lab in labels[i])
            scored = f"{n_scored} carry loss, marked ⟦…⟧"
        else:
            attended = [t for t, m in zip(ids, mask, strict=True) if m]
            body = escape(tokenizer.decode(attended))
            target = labels[i]
            if isinstance(target, list):
                target = [t for t in target if t != IGNORE_INDEX]
                target = tokenizer.decode(target)
            body += f"\n[bold green]target ⟦{escape(str(target))}⟧[/bold green]"
            scored = "the target carries the loss"
        if "next_sentence_label" in batch:  # BERT's NSP: 0 = B follows A
            follows = int(batch["next_sentence_label"][i]) == 0
            body += "\n[bold green]next sentence ⟦" + ("B follows A" if follows else
                     "B is from another document") + "⟧[/bold green]"  # fmt: skip
        header = f"[bold]example {i}[/bold] ({sum(mask)} tokens; {scored})"
        blocks.append(f"{header}\n{body}")
    return "\n\n".join(blocks)


def _describe_choices(tokenizer: Any, batch: dict[str, Any]) -> str:
    """The first example's choices, one per line; the one its label names carries the loss."""
    label = int(batch["labels"][0])
    lines = [f"[bold]example 0[/bold] ({batch['input_ids'].shape[1]} choices; the right one "
             "carries the loss, marked ⟦…⟧)"]  # fmt: skip
    choices = zip(batch["input_ids"][0], batch["attention_mask"][0], strict=True)
    for c, (ids, mask) in enumerate(choices):
        if "choice_mask" in batch and not batch["choice_mask"][0, c]:
            lines.append(f"{c}: [dim](missing choice, masked)[/dim]")
            continue
        text = escape(tokenizer.decode(ids[mask.bool()].tolist()))
        lines.append(f"{c}: [bold green]⟦{text}⟧[/bold green]" if c == label else f"{c}: {text}")
    return "\n".join(lines)


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**28 else f"{n_bytes / 2**20:.1f} MiB"


def preflight_rows(
    model: torch.nn.Module,
    train_cfg: TrainConfig,
    seq_len: int,
    num_devices: int,
    steps_per_epoch: int,
    total_steps: int,
) -> dict[str, str]:
    """The facts `print_preflight` shows, as label → text."""
    total, trainable = count_parameters(model)
    memory = memory_breakdown(model, train_cfg, seq_len)
    tokens_per_step = train_cfg.batch_size * train_cfg.grad_accum_steps * num_devices * seq_len
    precision = resolve_precision(train_cfg.precision)
    shown_precision = precision if train_cfg.precision != "auto" else f"{precision} (auto)"
    return {
        "parameters": f"{total:,} ({trainable:,} trainable)",
        "memory per device (est.)": (
            f"{_gib(sum(memory.values()))} = weights {_gib(memory['weights'])} + grads "
            f"{_gib(memory['gradients'])} + AdamW {_gib(memory['optimizer'])} + activations "
            f"{_gib(memory['activations'])}"
        ),
        "tokens per optimizer step": (
            f"{tokens_per_step:,} = {train_cfg.batch_size} batch × {train_cfg.grad_accum_steps} "
            f"accum × {num_devices} device(s) × {seq_len} tokens"
        ),
        "steps per epoch": f"{steps_per_epoch:,}",
        "total steps": f"{total_steps:,}",
        "precision": shown_precision + (" + torch.compile" if train_cfg.compile else ""),
        "attention": str(getattr(model.config, "_attn_implementation", None) or "default"),
        "devices": str(num_devices),
    }


def print_preflight(
    model: torch.nn.Module,
    train_cfg: TrainConfig,
    *,
    seq_len: int,
    num_devices: int,
    steps_per_epoch: int,
    total_steps: int,
    batch_description: str | None = None,
    console: Console | None = None,
) -> dict[str, str]:
    """Print the preflight table (and the decoded batch, if given); returns the table's rows."""
    console = console or Console()
    rows = preflight_rows(model, train_cfg, seq_len, num_devices, steps_per_epoch, total_steps)
    table = Table(title="preflight", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows.items():
        table.add_row(label, value)
    console.print(table)
    if batch_description is not None:
        console.print("[bold]one training batch[/bold] (loss positions marked ⟦…⟧)")
        console.print(batch_description)
    return rows
