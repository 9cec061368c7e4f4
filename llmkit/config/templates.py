"""Prompt templates as config values: "{text}\nYour code should pass these tests:\n{test_list}".

Fields are column names in Python's str.format syntax; `{{` and `}}` are literal braces. Checked
here when a config is validated; filled from rows by llmkit.data.templates.
"""

import string
from typing import Annotated

from pydantic import AfterValidator


def template_fields(template: str) -> list[str]:
    """The column names a template reads, in order; ValueError (a config error) when the
    template is malformed or uses positional, attribute, index or format-spec fields."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(
            f"not a valid template ({e}); write literal braces as {{{{ and }}}}"
        ) from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or name.isdigit() or any(c in name for c in ".[]") or spec or conversion:
            raise ValueError(
                f"template field {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} must be a plain column name, e.g. {{text}}"
            )
        names.append(name)
    if not names:
        raise ValueError("the template names no column; use {column} fields, e.g. {text}")
    return list(dict.fromkeys(names))


def _checked(template: str) -> str:
    template_fields(template)
    return template


PromptTemplate = Annotated[str, AfterValidator(_checked)]
"""A config value that is a prompt template, checked by template_fields when validated."""
