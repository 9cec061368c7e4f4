"""Prompts built from several columns by a template such as
"{text}\\nYour code should pass these tests:\\n{test_list}".

Fields are column names in Python's str.format syntax; `{{` and `}}` are literal braces. A list
value is joined by newlines (one assert per line), anything else is str()-ed.
"""

from collections.abc import Mapping
from typing import Any

from llmkit.config.templates import template_fields
from llmkit.errors import DataError


def require_template_columns(template: str, columns: list[str], where: str, key: str) -> None:
    """DataError naming the first template field that is not a column of the data."""
    for name in template_fields(template):
        if name not in columns:
            raise DataError(
                f"{key}: the template names column '{name}', which {where} does not have "
                f"(columns: {', '.join(columns)})"
            )


def render(template: str, row: Mapping[str, Any]) -> str:
    """The template filled from one row."""
    return template.format_map({name: _as_text(row[name]) for name in template_fields(template)})


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)
