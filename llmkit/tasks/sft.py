"""Instruction tuning (SFT) of decoder-only models on prompt/response pairs or chats.

Each example is rendered with a chat template (the config's, the tokenizer's, or a simple default
for tokenizers without one) and tokenized once with character offsets. Loss goes on exactly the
tokens inside assistant turns (their content and the turn's closing EOS), found by rendering the
conversation up to each assistant turn; `task.loss_on_prompt` puts loss on every token instead.
Optional packing joins whole examples into rows of up to max_length tokens.
"""

from typing import Any

import torch
from datasets import Dataset, DatasetDict

from llmkit.config.finetune import DEFAULT_CHAT_TEMPLATE
from llmkit.data.sources import load_split
from llmkit.data.templates import render, require_template_columns, template_fields
from llmkit.errors import ConfigError, DataError
from llmkit.models.loss import IGNORE_INDEX, count_loss_tokens, example_losses, token_losses
from llmkit.tasks.batching import pad_ids_and_labels
from llmkit.tasks.finetune_common import FinetuneTaskBase, load_task_splits, warn
from llmkit.tasks.models import MODEL_CLASSES
from llmkit.tasks.spec import FinetuneSpec


class SFTTask(FinetuneTaskBase):
    name = "sft"
    auto_class_name = MODEL_CLASSES[name]
    peft_task_type = "CAUSAL_LM"

    def __init__(self, spec: FinetuneSpec):
        super().__init__(spec)
        self.options = spec.task
        self.columns = spec.columns
        template = self.options.chat_template or self.tokenizer.chat_template
        self.tokenizer.chat_template = template or DEFAULT_CHAT_TEMPLATE
        if not self.tokenizer.is_fast:
            raise ConfigError("task.type sft needs a fast tokenizer (character offsets)")

    # ---- data -------------------------------------------------------------------------------

    def _uses_chat(self, columns: list[str]) -> bool:
        if self.options.format == "auto":
            return self.columns.messages in columns
        return self.options.format == "chat"

    @property
    def prompt_template(self) -> str | None:
        """data.prompt_template (None when the task is handed its rows)."""
        return self.spec.data.prompt_template if self.spec.data is not None else None

    def read_splits(self) -> DatasetDict:
        self.check_template_markers()
        first = load_split(self.spec.data, "train")
        chat = self._uses_chat(first.column_names if first is not None else [])
        cols = self.columns
        template = self.prompt_template
        if template and first is not None:
            where = f"data.train ({self.spec.data.train})"
            require_template_columns(template, first.column_names, where, "data.prompt_template")
        prompt_columns = template_fields(template) if template else [cols.prompt]
        text_columns = [] if chat else [cols.response] + ([] if template else [cols.prompt])
        needed = [cols.messages] if chat else [*prompt_columns, cols.response]
        return load_task_splits(self.spec, text_columns, needed, self.report)

    def tokenize_splits(self, raw: DatasetDict) -> DatasetDict:
        out = {}
        for split, ds in raw.items():
            chat = self._uses_chat(ds.column_names)
            encoded = ds.map(
                lambda ex, i, chat=chat, split=split: self._encode(
                    self._messages(ex, chat, split, i)
                ),
                with_indices=True,
                remove_columns=ds.column_names,
                desc=f"rendering {split}",
            )
            # a prompt that fills max_length leaves no response token: nothing to learn from
            has_loss = [n > 0 for n in encoded["loss_tokens"]]
            counts = {
                "rows": sum(has_loss),
                "truncated": int(sum(encoded["truncated"])),
                "dropped_no_response_tokens": len(has_loss) - sum(has_loss),
            }
            keep = [i for i, ok in enumerate(has_loss) if ok]
            encoded = encoded.select(keep).remove_columns(["truncated", "loss_tokens"])
            if self.options.packing and split == "train":
                encoded = pack_examples(encoded, self.max_length)
                counts["packed_rows"] = len(encoded)
            if not len(encoded):
                raise DataError(
                    f"data.{split}: no example keeps a response token within max_length "
                    f"({self.max_length})",
                    "raise max_length or shorten the prompts",
                )
            self.report.record(split, **counts)
            out[split] = encoded
        self.report.announce()
        return DatasetDict(out)

    def _messages(self, example: dict, chat: bool, split: str, row: int) -> list[dict]:
        cols = self.columns
        where = f"data.{split}: row {row + 1}"
        if chat:
            messages = example[cols.messages]
            if not isinstance(messages, list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in messages
            ):
                raise DataError(f"{where}: {cols.messages!r} must be a list of {{role, content}}")
            if not any(m["role"] == "assistant" for m in messages):
                raise DataError(f"{where}: the chat has no assistant message to learn from")
        else:
            template = self.prompt_template
            prompt = render(template, example) if template else example[cols.prompt]
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": example[cols.response]},
            ]
        for m in messages:
            if m["role"] == "assistant" and not (m["content"] or "").strip():
                raise DataError(f"{where}: empty response (assistant content)")
        return messages

    def broken_markers(self) -> dict[str, str]:
        """{marker: what the tokenizer gives back} for the chat template's own text (role
        markers, separators) that does not survive encode → decode or encodes to unk."""
        content = "LLMKITCONTENT"  # survives any template; the text around it is the template's
        user, reply = (
            {"role": "user", "content": content},
            {"role": "assistant", "content": content},
        )
        rendered = self._render([user, reply], False) + content + self._render([user], True)
        unk = self.tokenizer.unk_token_id
        broken = {}
        for marker in dict.fromkeys(rendered.split(content)):
            if not marker.strip():
                continue
            ids = self.tokenizer(marker, add_special_tokens=False)["input_ids"]
            back = self.tokenizer.decode(ids, skip_special_tokens=False)
            if (unk is not None and unk in ids) or back.strip() != marker.strip():
                broken[marker] = back
        return broken

    def check_template_markers(self) -> None:
        """Warn when the model could not see (or learn to write) the turn markers."""
        broken = self.broken_markers()
        if broken:
            shown = ", ".join(f"{m!r} becomes {b!r}" for m, b in broken.items())
            warn(
                f"the chat template's markers do not survive the tokenizer: {shown}. The model "
                "cannot tell the turns apart, and a generation that needs these markers will "
                "not find them. Use a tokenizer that can spell them (e.g. train it with the "
                "markers as special tokens: tokenizer.special_tokens.additional), or set "
                "task.chat_template to a template written in characters the tokenizer knows."
            )

    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    def response_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and the character spans of its assistant turns."""
        text = self._render(messages, False)
        spans = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._render(messages[:i], True) if i else ""
            through = self._render(messages[: i + 1], False)
            if not (text.startswith(through) and through.startswith(before)):
                raise ConfigError(
                    "task.chat_template: rendering a conversation turn by turn does not give "
                    "prefixes of the whole conversation, so the response tokens cannot be found",
                    "use a template that appends one turn at a time",
                )
            spans.append((len(before), len(through)))
        return text, spans

    def _encode(self, messages: list[dict]) -> dict[str, Any]:
        text, spans = self.response_spans(messages)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        # a token that straddles the start of a response (" b" after "]") is the model's to
        # produce, so any overlap with a response span puts loss on it
        labels = [
            tok
            if self.options.loss_on_prompt or any(start < e and end > s for s, e in spans)
            else IGNORE_INDEX
            for tok, (start, end) in zip(ids, offsets, strict=True)
        ]
        truncated = len(ids) > self.max_length
        ids, labels = ids[: self.max_length], labels[: self.max_length]
        loss_tokens = sum(lab != IGNORE_INDEX for lab in labels[1:])
        return {
            "input_ids": ids,
            "labels": labels,
            "length": len(ids),
            "truncated": truncated,
            "loss_tokens": loss_tokens,
        }

    def collate(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_ids_and_labels(examples, self.tokenizer.pad_token_id)

    # ---- loss and evaluation ----------------------------------------------------------------

    def count_loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return count_loss_tokens(batch["labels"][:, 1:])

    def _shifted(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, targets): position t predicts token t + 1."""
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return logits[:, :-1].float(), batch["labels"][:, 1:]

    def loss_sum(self, model, batch) -> torch.Tensor:
        return token_losses(*self._shifted(model, batch), "sum")

    def evaluate_batch(self, model, batch) -> dict[str, Any]:
        loss_sums, counts = example_losses(*self._shifted(model, batch))
        return {"loss_sum": loss_sums, "count": counts}

    def compute_metrics(self, outputs: list[dict[str, Any]]) -> dict[str, float]:
        loss = sum(float(o["loss_sum"].sum()) for o in outputs)
        count = sum(int(o["count"].sum()) for o in outputs)
        mean = loss / max(count, 1)
        return {"loss": mean, "perplexity": float(torch.tensor(mean).exp())}


def pack_examples(ds: Dataset, max_length: int) -> Dataset:
    """Join consecutive whole examples into rows of at most `max_length` tokens (no example is
    split; each example already fits)."""
    rows: list[dict[str, Any]] = []
    ids: list[int] = []
    labels: list[int] = []
    for ex in ds:
        if ids and len(ids) + len(ex["input_ids"]) > max_length:
            rows.append({"input_ids": ids, "labels": labels, "length": len(ids)})
            ids, labels = [], []
        ids = ids + ex["input_ids"]
        labels = labels + ex["labels"]
    if ids:
        rows.append({"input_ids": ids, "labels": labels, "length": len(ids)})
    return Dataset.from_list(rows)
