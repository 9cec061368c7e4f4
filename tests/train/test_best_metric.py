"""Which direction the best checkpoint and early stopping read eval.best_metric in."""

import pytest

from llmkit.config.train import TrainConfig
from llmkit.train.state import TrainState
from llmkit.train.validation import greater_is_better


def _cfg(best_metric: str, **eval_options):
    return TrainConfig.model_validate({"eval": {"best_metric": best_metric, **eval_options}}).eval


@pytest.mark.parametrize("name", ["loss", "perplexity", "mse", "ter"])
def test_errors_are_better_when_lower(name):
    assert greater_is_better(_cfg(name)) is False
    state = TrainState(best_metric=0.5)  # a later, smaller error is the one to keep
    assert state.improves(0.1, greater_is_better(_cfg(name)))
    assert not state.improves(0.9, greater_is_better(_cfg(name)))


@pytest.mark.parametrize(
    "name", ["accuracy", "f1", "mcc", "subset_accuracy", "pearson", "spearman", "bleu", "chrf",
             "rouge1", "rougeL", "exact_match"],
)  # fmt: skip
def test_scores_are_better_when_higher(name):
    assert greater_is_better(_cfg(name)) is True


def test_an_explicit_direction_wins():
    assert greater_is_better(_cfg("mse", greater_is_better=True)) is True
    assert greater_is_better(_cfg("accuracy", greater_is_better=False)) is False
