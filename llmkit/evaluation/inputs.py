"""Model mode's inputs: the evaluation rows, their columns, and prompts as the model was tuned
on them."""

from typing import Any

from llmkit.config.data import DataConfig
from llmkit.config.eval import EvalConfig
from llmkit.config.templates import template_fields
from llmkit.data.conll import looks_like_conll
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


_ROLES = {
    "perplexity": ("text",),
    "seq2seq": ("source", "target"),
    "sft": ("prompt", "response"),
    "classification": ("text", "pair", "label"),
    "token-classification": ("words", "label"),
    "multiple-choice": ("premise", "ending_start", "endings", "label"),
    "question-answering": ("question", "context", "answer_text", "answer_start"),
    "mlm": ("text",),
    "mlm-nsp": ("text",),
}
"""The columns (data roles) each task reads."""


def check_columns(cfg: EvalConfig, rows, task: str, model_dir: str, reused: dict) -> None:
    """One line for every role (or prompt template field) whose column the data lacks: the
    columns found, where the expected name came from, and the --set that maps it."""
    template = cfg.prompt_template if task == "sft" else None  # it replaces columns.prompt
    roles = [r for r in _ROLES[task] if not (template and r == "prompt")]
    names = {r: getattr(cfg.columns, r) for r in roles if getattr(cfg.columns, r)}
    for role, value in list(names.items()):  # multiple choice's endings: a list of columns
        if isinstance(value, list):
            names |= {f"{role}[{i}]": name for i, name in enumerate(names.pop(role))}
    missing = {r: n for r, n in names.items() if n.split(".")[0] not in rows.column_names}
    fields = template_fields(template) if template else []
    missing_fields = [name for name in fields if name not in rows.column_names]
    if not missing and not missing_fields:
        return
    found = ", ".join(rows.column_names)
    finetuned_with = f"the model was finetuned with ({model_dir}/llmkit_config.yaml)"
    problems = [
        f"no column '{name}' (columns: {found}) for columns.{role}"
        + (f", the column {finetuned_with}" if f"columns.{role}" in reused else "")
        for role, name in missing.items()
    ] + [
        f"no column '{name}' (columns: {found}) for prompt_template {template!r}"
        + (f", the template {finetuned_with}" if "prompt_template" in reused else "")
        for name in missing_fields
    ]
    if looks_like_conll(rows):
        hint = "its lines look like CoNLL (a token and its tag per line): add --data-format conll"
    elif missing:
        free = [c for c in rows.column_names if c not in names.values()]
        column = free[0] if len(free) == 1 else "COLUMN"
        hint = "map it: " + " ".join(f"--set columns.{r}={column}" for r in missing)
    else:
        hint = (
            "set prompt_template to a template of this data's columns, or --set "
            "prompt_template=null to read the prompts from columns.prompt"
        )
    raise DataError(f"data: {cfg.data}: " + "; ".join(problems), hint)


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
