"""The base every config section derives from.

`extra="forbid"` turns a YAML typo into an error instead of a silently ignored key, and
attribute docstrings become the field descriptions that `llmkit config schema` prints.
"""

import warnings

from pydantic import BaseModel, ConfigDict

RENAMED_TASKS = {"causal": "sft"}
"""Task names that were renamed: old → new. The old name still validates, with a warning."""


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
        frozen=True,
    )


def current_task_name(name: str, key: str = "task.type") -> str:
    """`name`, or its new name if it was renamed (saying so once per validation)."""
    if name not in RENAMED_TASKS:
        return name
    new = RENAMED_TASKS[name]
    warnings.warn(
        f"{key}: '{name}' is deprecated and now called '{new}'; '{name}' still works for now",
        FutureWarning,
        stacklevel=2,
    )
    return new
