"""Named metrics → the metric functions, for texts and for labels, in file and model mode."""

from collections.abc import Sequence
from typing import Any

from llmkit.config.eval import MetricOptions
from llmkit.errors import DataError
from llmkit.metrics import functions as m

TEXT_METRICS = ("bleu", "chrf", "ter", "rouge", "exact_match")
LABEL_METRICS = ("classification", "regression", "seqeval")


def split_signatures(scores: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """{"bleu": 21.3, "bleu_signature": "nrefs:1|…"} → ({"bleu": 21.3}, {"bleu": "nrefs:1|…"})."""
    numbers = {k: float(v) for k, v in scores.items() if not k.endswith("_signature")}
    signatures = {
        k.removesuffix("_signature"): v for k, v in scores.items() if k.endswith("_signature")
    }
    return numbers, signatures


def score_texts(
    hypotheses: Sequence[str],
    streams: list[list[str]],
    names: Sequence[str],
    options: MetricOptions,
) -> dict[str, Any]:
    """Text metrics in `names` (others are ignored) over hypotheses and reference streams."""
    scores: dict[str, Any] = {}
    for name in names:
        if name == "bleu":
            scores |= m.bleu(hypotheses, streams, tokenize=options.bleu_tokenize)
        elif name == "chrf":
            scores |= m.chrf(hypotheses, streams, word_order=options.chrf_word_order)
        elif name == "ter":
            scores |= m.ter(hypotheses, streams, asian_support=options.ter_asian_support)
        elif name == "rouge":
            scores |= m.rouge(hypotheses, streams, use_stemmer=options.rouge_stemmer)
        elif name == "exact_match":
            scores |= m.exact_match(hypotheses, streams)
    return scores


def score_labels(
    predictions: Sequence[Any], references: Sequence[Any], name: str, options: MetricOptions
) -> dict[str, float]:
    """Label metrics from raw values as read from files: label names, numbers or tag lists."""
    if name == "classification":
        gold = [str(v).strip() for v in references]
        pred = [str(v).strip() for v in predictions]
        # Sorted names → ids; with average=binary the second name is the positive class.
        ids = {label: i for i, label in enumerate(sorted(set(gold) | set(pred)))}
        return m.classification_scores(
            [ids[p] for p in pred], [ids[g] for g in gold], average=options.average
        )
    if name == "regression":
        return m.regression_scores(_floats(predictions, "prediction"), _floats(references, "label"))
    if name == "seqeval":
        return m.seqeval_scores(_tags(predictions), _tags(references))
    raise ValueError(f"not a label metric: {name}")


def _floats(values: Sequence[Any], what: str) -> list[float]:
    out = []
    for i, v in enumerate(values, 1):
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise DataError(
                f"{what} {i} is {v!r}, not a number (regression needs numbers)"
            ) from None
    return out


def _tags(values: Sequence[Any]) -> list[list[str]]:
    """A line of space-separated tags, or a JSON list of tags, per example."""
    return [list(map(str, v)) if isinstance(v, list) else str(v).split() for v in values]
