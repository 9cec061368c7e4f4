"""SQuAD exact match and F1, as the official SQuAD v2.0 evaluation script computes them.

`evaluate`'s squad and squad_v2 metrics are scripts fetched from the hub by `evaluate.load`,
which fails offline, so the official logic (short) is written out here, line for line: answers
are normalised (lowercase, punctuation removed, the articles a/an/the removed as whole words,
whitespace collapsed), each prediction is scored against every gold answer and the best counts.
A question without a gold answer (SQuAD 2.0's unanswerable ones) has the one gold answer "":
the empty prediction scores 1, any other 0. Scores are percentages.

The v2.0 logic is used for v1.1 data too (as `evaluate`'s squad_v2 does): it differs from the
v1.1 script only on gold answers that normalise to nothing (e.g. "the"), which v2.0 drops.
"""

import collections
import re
import string
from collections.abc import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def exact_score(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def f1_score(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = _tokens(gold), _tokens(prediction)
    if not gold_tokens or not pred_tokens:
        # no answer on either side: right only when both are empty
        return float(gold_tokens == pred_tokens)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Sequence[str]) -> list[str]:
    """The gold answers a prediction is scored against: those that do not normalise to
    nothing, or [""] for an unanswerable question."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def squad_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """{id: predicted text} scored against {id: gold answer texts} (an empty list for an
    unanswerable question). Every reference id needs a prediction; predictions for other ids
    are ignored, as by the official script.

    Returns exact, f1 and total, plus HasAns_exact/_f1/_total for the questions with answers
    and NoAns_exact/_f1/_total for those without (each group only when it has questions).
    """
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise KeyError(f"no prediction for {len(missing)} question(s), e.g. {missing[0]!r}")
    exact, f1, has_answer = {}, {}, {}
    for qid, answers in references.items():
        golds = gold_answers(answers)
        exact[qid] = max(exact_score(g, predictions[qid]) for g in golds)
        f1[qid] = max(f1_score(g, predictions[qid]) for g in golds)
        has_answer[qid] = bool(answers)
    scores = _averages(exact, f1, list(references), "")
    for prefix, wanted in (("HasAns_", True), ("NoAns_", False)):
        ids = [qid for qid, has in has_answer.items() if has == wanted]
        if ids:
            scores |= _averages(exact, f1, ids, prefix)
    return scores


def _averages(exact: dict, f1: dict, ids: list[str], prefix: str) -> dict[str, float]:
    total = len(ids)
    return {
        f"{prefix}exact": 100.0 * sum(exact[i] for i in ids) / total if total else 0.0,
        f"{prefix}f1": 100.0 * sum(f1[i] for i in ids) / total if total else 0.0,
        f"{prefix}total": float(total),
    }
