"""Model mode's inputs: the evaluation rows, their columns, and prompts as the model was tuned
on them."""

from typing import Any

from llmkit.config.data import DataConfig
from llmkit.config.eval import EvalConfig
from llmkit.data.sources import load_split
from llmkit.errors import DataError


def read_rows(cfg: EvalConfig, text_unit: str = "line"):
    """The evaluation data as a datasets.Dataset (first max_examples rows); a .txt file holds a
    row per `text_unit`."""
    data = DataConfig(
        train=cfg.data, format=cfg.data_format, columns=cfg.columns, text_unit=text_unit
    )
    rows = load_split(data, "train")
    if rows is None or len(rows) == 0:
        raise DataError(f"data: {cfg.data} holds no rows")
    if cfg.max_examples is not None:
        rows = rows.select(range(min(cfg.max_examples, len(rows))))
    return rows


def column(rows, name: str) -> list[Any]:
    """Values of `name`; a dotted name reads nested JSON (translation.en)."""
    head, *rest = name.split(".")
    if head not in rows.column_names:
        raise DataError(
            f"data: no column '{head}' (columns: {', '.join(rows.column_names)}); "
            "set columns.<role> to the right column"
        )
    values = rows[head]
    for part in rest:
        try:
            values = [v[part] for v in values]
        except (KeyError, TypeError):
            raise DataError(f"data: column '{name}': some rows have no '{part}' inside") from None
    return values


def as_prompt(tokenizer, prompt: str) -> str:
    """A prompt formatted as the model was instruction-tuned: through its chat template when
    the saved tokenizer has one, as plain text otherwise."""
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
