"""Label columns → ids, with every way a label column can be wrong reported by name.

Names are inferred from the training split (sorted; integers numerically) or given in the config.
A label seen in validation/test but never in training, a column mixing numbers and strings,
or an empty label stops the run with the split, row and value, instead of training on a silently
wrong mapping.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmkit.errors import DataError


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "int" if value.is_integer() else "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def check_scalar_labels(values: Sequence[Any], where: str) -> str:
    """The one kind ("int", "float", "str", "bool") of the labels in `values`.

    `where` names the split and column for messages, e.g. "data.train column 'label'".
    """
    seen: dict[str, Any] = {}
    for row, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(
                f"{where}: row {row + 1} has an empty label",
                "fill it in or remove the row; every training/validation example needs a label",
            )
        seen.setdefault(_kind(value), value)
    if "int" in seen and "float" in seen:
        seen.pop("int")
    if set(seen) == {"str"}:
        # CSV/TSV readers turn a column of ids and names into strings: "1" next to "pos"
        numeric = [v for v in values if v.strip().lstrip("-").isdigit()]
        if numeric and len(numeric) < len(values):
            seen = {"int": numeric[0], "str": next(v for v in values if v not in numeric)}
    if len(seen) > 1:
        examples = ", ".join(f"{k} (e.g. {v!r})" for k, v in seen.items())
        raise DataError(
            f"{where}: the label column mixes types: {examples}",
            "use one type for every label: all names or all integer ids",
        )
    return next(iter(seen), "str")


def infer_names(values: Iterable[Any], kind: str) -> list[str]:
    """Sorted distinct labels as names: integers numerically, strings alphabetically."""
    distinct = set(values)
    if kind in ("int", "bool"):
        return [str(int(v)) for v in sorted(distinct)]
    return sorted(str(v) for v in distinct)


class LabelMap:
    """Maps raw label values (names, or integer ids into `names`) to ids 0..n-1."""

    def __init__(self, names: list[str], ids_are_indices: bool, kind: str = "str"):
        self.names = list(names)
        self.ids_are_indices = ids_are_indices
        self.kind = kind
        self.label2id = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_training(cls, values: Sequence[Any], given: list[str] | None, where: str):
        kind = check_scalar_labels(values, where)
        if kind == "float":
            raise DataError(
                f"{where}: labels are fractional numbers (e.g. {values[0]!r})",
                "for a float target set task.regression: true",
            )
        if given is not None:
            if len(set(given)) != len(given):
                raise DataError(f"task.labels has duplicate names: {given}")
            # integer labels with given names are ids into the list (SST-2's 0/1 → names)
            return cls(given, ids_are_indices=kind in ("int", "bool"), kind=kind)
        return cls(infer_names(values, kind), ids_are_indices=False, kind=kind)

    def encode(self, value: Any, where: str, row: int) -> int:
        if self.ids_are_indices and not isinstance(value, str):
            index = int(value)
            if 0 <= index < len(self.names):
                return index
            raise DataError(
                f"{where}: row {row + 1} has label id {value!r} but task.labels has "
                f"{len(self.names)} names (ids 0..{len(self.names) - 1})"
            )
        key = str(int(value)) if isinstance(value, int | float) and _kind(value) == "int" else value
        label_id = self.label2id.get(str(key))
        if label_id is None:
            known = ", ".join(self.names[:20]) + (" …" if len(self.names) > 20 else "")
            raise DataError(
                f"{where}: row {row + 1} has label {value!r}, which the training data never has "
                f"(known labels: {known})",
                "fix the label, add training examples of it, or list it in task.labels",
            )
        return label_id

    def encode_all(self, values: Sequence[Any], where: str) -> list[int]:
        kind = check_scalar_labels(values, where)
        if {kind, self.kind} == {"int", "str"}:
            raise DataError(
                f"{where}: labels are {kind}s but the training labels are {self.kind}s",
                "use the same label type in every split",
            )
        return [self.encode(v, where, row) for row, v in enumerate(values)]

    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))


def label_source(splits: Mapping[str, Any]) -> str:
    """The split whose labels name the classes: "train", or the one split handed to a task
    (`llmkit eval`'s rows), whose names must then come from task.labels (the model's own)."""
    return "train" if "train" in splits else next(iter(splits))
