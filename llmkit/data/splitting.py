"""Seeded ratio split for the splits not given as files.

Rows are cut into up to 1,000 contiguous runs and whole runs are assigned to validation/test at
random (seeded). Every split keeps the original row order, so text read one line per document
keeps its context inside a run instead of becoming a bag of shuffled lines.
"""

import numpy as np

from llmkit.config.data import DataConfig, SplitConfig
from llmkit.data.id_split import split_by_group, split_by_id
from llmkit.errors import DataError

_MAX_RUNS = 1000


def ratio_split_indices(rows: int, cfg: SplitConfig) -> dict[str, np.ndarray]:
    """Row indices of "train", "validation" and "test" (empty when that ratio is 0)."""
    return {name: _rows_of(runs) for name, runs in ratio_split_runs(rows, cfg).items()}


def ratio_split_runs(rows: int, cfg: SplitConfig) -> dict[str, list[tuple[int, int]]]:
    """The (start, stop) row ranges of "train", "validation" and "test", each in row order:
    the split without a list of every row index, for streaming."""
    runs = min(rows, _MAX_RUNS)
    bounds = np.linspace(0, rows, runs + 1).astype(np.int64)
    order = np.random.default_rng(cfg.seed).permutation(runs)
    n_val = _runs_for(cfg.validation_ratio, runs)
    n_test = _runs_for(cfg.test_ratio, runs)
    if n_val + n_test >= runs:
        raise DataError(
            f"only {rows} training rows after cleaning: too few to split off "
            f"validation_ratio={cfg.validation_ratio} and test_ratio={cfg.test_ratio}",
            "give data.validation as a file, or add data",
        )
    picked = {
        "validation": order[:n_val],
        "test": order[n_val : n_val + n_test],
        "train": order[n_val + n_test :],
    }
    return {
        name: [(int(bounds[r]), int(bounds[r + 1])) for r in np.sort(r_)]
        for name, r_ in picked.items()
    }


def _runs_for(ratio: float, runs: int) -> int:
    return 0 if ratio == 0 else max(1, round(ratio * runs))


def _rows_of(runs: list[tuple[int, int]]) -> np.ndarray:
    if not runs:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(start, stop) for start, stop in runs])


def cut_ratios(given: dict, cfg: SplitConfig) -> SplitConfig | None:
    """The split settings for the splits to cut from train (those not `given` as files with a
    ratio > 0), or None when nothing is cut."""
    wanted = {"validation": cfg.validation_ratio, "test": cfg.test_ratio}
    to_cut = {name: r for name, r in wanted.items() if given.get(name) is None and r > 0}
    if not to_cut:
        return None
    return cfg.model_copy(
        update={
            "validation_ratio": to_cut.get("validation", 0.0),
            "test_ratio": to_cut.get("test", 0.0),
        }
    )


def make_splits(train, validation, test, cfg: SplitConfig) -> dict:
    """{"train": ds, "validation": ds, "test": ds}: given splits kept, missing ones cut from
    train by ratio. A split with ratio 0 and no file is left out."""
    splits = {"train": train, "validation": validation, "test": test}
    effective = cut_ratios(splits, cfg)
    if effective is not None:
        indices = ratio_split_indices(len(train), effective)
        for name in indices:
            if name == "train" or splits[name] is None and len(indices[name]):
                splits[name] = train.select(indices[name])
    return {name: ds for name, ds in splits.items() if ds is not None}


def split_data(data: DataConfig, cfg: SplitConfig, read: dict) -> dict:
    """The splits of `read` ({split: rows} as read from data's files, "train" at least):
    data.train cut by data.id_split or data.group_split when one is given, else the splits not
    given as files cut from train by `cfg`'s ratios."""
    if data.id_split is not None:
        return split_by_id(read["train"], data.id_split)
    if data.group_split is not None:
        return split_by_group(read["train"], data.group_split)
    return make_splits(read["train"], read.get("validation"), read.get("test"), cfg)
