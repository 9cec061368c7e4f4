"""The base every config section derives from.

`extra="forbid"` turns a YAML typo into an error instead of a silently ignored key, and
attribute docstrings become the field descriptions that `llmkit config schema` prints.
"""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
        frozen=True,
    )
