"""Seeded ratio splits: deterministic, disjoint, complete and in the original order."""

import numpy as np
from datasets import Dataset

from llmkit.config.data import SplitConfig
from llmkit.data.splitting import make_splits, ratio_split_indices


def test_same_seed_same_split_other_seed_other_split():
    cfg = SplitConfig(validation_ratio=0.1, test_ratio=0.05, seed=7)
    a, b = ratio_split_indices(5000, cfg), ratio_split_indices(5000, cfg)
    other = ratio_split_indices(5000, cfg.model_copy(update={"seed": 8}))
    for name in ("train", "validation", "test"):
        assert np.array_equal(a[name], b[name])
    assert not np.array_equal(a["validation"], other["validation"])


def test_splits_are_disjoint_complete_ordered_and_near_the_ratio():
    idx = ratio_split_indices(5000, SplitConfig(validation_ratio=0.1, test_ratio=0.05))
    everything = np.concatenate(list(idx.values()))
    assert sorted(everything.tolist()) == list(range(5000))
    assert all(np.all(np.diff(v) > 0) for v in idx.values())
    assert abs(len(idx["validation"]) - 500) <= 10
    assert abs(len(idx["test"]) - 250) <= 10


def test_given_validation_is_kept_and_only_missing_splits_are_cut():
    train = Dataset.from_dict({"text": [f"t{i}" for i in range(100)]})
    given = Dataset.from_dict({"text": ["v"]})
    cfg = SplitConfig(validation_ratio=0.2, test_ratio=0.1)
    splits = make_splits(train, given, None, cfg)
    assert list(splits["validation"]["text"]) == ["v"]
    assert len(splits["train"]) + len(splits["test"]) == 100
    assert len(splits["test"]) == 10
    no_test = make_splits(train, None, None, SplitConfig(validation_ratio=0.1, test_ratio=0.0))
    assert set(no_test) == {"train", "validation"}
