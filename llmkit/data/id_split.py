"""Split one file into train/validation/test by ranges of an integer id column, as datasets with
a conventional split by id publish it (MBPP: task_ids 601–974 train, 511–600 validation,
11–510 test)."""

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
