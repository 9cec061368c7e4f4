"""Split one file into train/validation/test by ranges of an integer id column, as datasets with
a conventional split by id publish it (MBPP: task_ids 601–974 train, 511–600 validation,
11–510 test), or by named values of a column, keeping each group whole (SQuAD by article)."""

from llmkit.errors import DataError


def split_by_id(rows, id_split) -> dict:
    """{"train": …, "validation": …, "test": …} for the ranges `id_split` gives (inclusive);
    rows outside every range are left out."""
    column = id_split.column
    if column not in rows.column_names:
        raise DataError(
            f"data.id_split.column: no column '{column}' (columns: {', '.join(rows.column_names)})"
        )
    ids = rows[column]
    if any(not isinstance(v, int) or isinstance(v, bool) for v in ids):
        raise DataError(f"data.id_split.column: '{column}' must hold integers in every row")
    splits = {}
    for name in ("train", "validation", "test"):
        bounds = getattr(id_split, name)
        if bounds is None:
            continue
        low, high = bounds
        keep = [i for i, v in enumerate(ids) if low <= v <= high]
        if not keep:
            raise DataError(f"data.id_split.{name}: no row has {column} in [{low}, {high}]")
        splits[name] = rows.select(keep)
    return splits


def split_by_group(rows, group_split) -> dict:
    """{"train": …, "validation": …, "test": …}: the rows whose `group_split.column` value is
    named under validation / test go there, all others to train, each in file order."""
    column = group_split.column
    if column not in rows.column_names:
        raise DataError(
            f"data.group_split.column: no column '{column}' "
            f"(columns: {', '.join(rows.column_names)})"
        )
    values = [str(v) for v in rows[column]]
    present = list(dict.fromkeys(values))
    named = {"validation": group_split.validation, "test": group_split.test}
    for name, groups in named.items():
        for group in groups:
            if group not in present:
                shown = ", ".join(repr(v) for v in present[:10]) + (
                    " …" if len(present) > 10 else ""
                )
                raise DataError(
                    f"data.group_split.{name}: no row has {column} {group!r} (values: {shown})"
                )
    held_out = {g: name for name, groups in named.items() for g in groups}
    indices: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for i, value in enumerate(values):
        indices[held_out.get(value, "train")].append(i)
    if not indices["train"]:
        raise DataError(
            f"data.group_split: every {column} is held out; nothing is left to train on"
        )
    return {name: rows.select(keep) for name, keep in indices.items() if keep}
