"""Scores equal the reference implementations: the `sacrebleu` command, rouge-score, sklearn."""

import json
import subprocess
import sys

import pytest

from llmkit.errors import DataError
from llmkit.metrics import functions as metrics

HYPOTHESES = [
    "The cat sat on the mat.",
    "",  # an empty hypothesis is legal: a system may output nothing
    "Zürich liegt in der Schweiz, sagte er — „ja“.",
    "他们在北京的大学学习中文。",
    "running quickly towards the houses",
]
REFERENCES = [
    "The cat is sitting on the mat.",
    "Nothing was said.",
    "Zürich liegt in der Schweiz, sagte sie „ja“.",
    "他们在北京大学学习中文。",
    "ran quick toward the house",
]
SECOND_REFERENCES = [
    "A cat sat on the mat.",
    "He said nothing.",
    "Er sagte: Zürich liegt in der Schweiz.",
    "他们在北京的大学里学中文。",
    "runs quickly to the houses",
]


def _sacrebleu_cli(tmp_path, refs: list[list[str]], *args: str) -> list[float]:
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("\n".join(HYPOTHESES) + "\n", encoding="utf-8")
    ref_files = []
    for i, stream in enumerate(refs):
        path = tmp_path / f"ref{i}.txt"
        path.write_text("\n".join(stream) + "\n", encoding="utf-8")
        ref_files.append(str(path))
    cmd = [sys.executable, "-m", "sacrebleu", *ref_files, "-i", str(hyp), "-b", "-w", "6", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [float(x) for x in json.loads(out)] if out.lstrip().startswith("[") else [float(out)]


@pytest.mark.parametrize("tokenize", ["13a", "intl", "zh"])
def test_bleu_chrf_ter_equal_the_sacrebleu_command(tmp_path, tokenize):
    refs = [REFERENCES, SECOND_REFERENCES]
    expected = _sacrebleu_cli(tmp_path, refs, "-m", "bleu", "chrf", "ter", "--tokenize", tokenize)
    got = [
        metrics.bleu(HYPOTHESES, refs, tokenize=tokenize)["bleu"],
        metrics.chrf(HYPOTHESES, refs)["chrf"],
        metrics.ter(HYPOTHESES, refs)["ter"],
    ]
    assert [round(x, 6) for x in got] == expected


def test_single_reference_list_equals_one_stream(tmp_path):
    (expected,) = _sacrebleu_cli(tmp_path, [REFERENCES], "-m", "bleu")
    assert round(metrics.bleu(HYPOTHESES, REFERENCES)["bleu"], 6) == expected


def test_signatures_name_the_settings():
    result = metrics.bleu(HYPOTHESES, [REFERENCES, SECOND_REFERENCES], tokenize="zh")
    assert "nrefs:2" in result["bleu_signature"] and "tok:zh" in result["bleu_signature"]
    assert "nw:2" in metrics.chrf(HYPOTHESES, REFERENCES, word_order=2)["chrf_signature"]


@pytest.mark.parametrize("use_stemmer", [True, False])
def test_rouge_equals_rouge_score(use_stemmer):
    from rouge_score import rouge_scorer

    hyps = HYPOTHESES + ["first sentence here.\nsecond one there."]
    refs = REFERENCES + ["the first sentence.\nthe second one."]
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
    per_example = [scorer.score(r, h) for h, r in zip(hyps, refs, strict=True)]
    expected = {t: sum(s[t].fmeasure for s in per_example) / len(hyps) for t in types}
    assert metrics.rouge(hyps, refs, use_stemmer=use_stemmer) == expected


def test_rouge_several_references_takes_the_best():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    best = scorer.score_multi([REFERENCES[4], SECOND_REFERENCES[4]], HYPOTHESES[4])
    got = metrics.rouge([HYPOTHESES[4]], [[REFERENCES[4]], [SECOND_REFERENCES[4]]])
    assert got["rouge1"] == best["rouge1"].fmeasure


def test_reference_stream_of_wrong_length_is_a_data_error():
    with pytest.raises(DataError, match="reference stream 2 has 4 lines but there are 5"):
        metrics.bleu(HYPOTHESES, [REFERENCES, SECOND_REFERENCES[:4]])


def test_exact_match_ignores_outer_whitespace_and_accepts_any_reference():
    got = metrics.exact_match(
        ["  Paris ", "Rome", "x"], [["Paris", "Milan", "y"], ["-", "Rome", "z"]]
    )
    assert got == {"exact_match": pytest.approx(2 / 3)}


def test_classification_scores_equal_sklearn_per_average():
    from sklearn.metrics import f1_score, matthews_corrcoef

    preds, labels = [0, 1, 2, 2, 1, 0, 1], [0, 2, 2, 2, 1, 1, 1]
    for average in ("macro", "micro", "weighted"):
        got = metrics.classification_scores(preds, labels, average=average)
        assert got["f1"] == pytest.approx(f1_score(labels, preds, average=average))
    got = metrics.classification_scores(preds, labels)
    assert got["accuracy"] == pytest.approx(5 / 7)
    assert got["mcc"] == pytest.approx(matthews_corrcoef(labels, preds))


def test_regression_scores_and_constant_predictions():
    got = metrics.regression_scores([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0])
    assert got["spearman"] == pytest.approx(0.8)
    assert got["mse"] == pytest.approx(0.75)
    # a collapsed model: correlation undefined → 0.0, not NaN in the JSON
    assert metrics.regression_scores([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])["pearson"] == 0.0


def test_seqeval_is_entity_level():
    refs = [["B-PER", "I-PER", "O", "B-LOC"]]
    preds = [["B-PER", "O", "O", "B-LOC"]]  # the PER entity is cut short: wrong entity
    got = metrics.seqeval_scores(preds, refs)
    assert got["precision"] == 0.5 and got["recall"] == 0.5
    assert got["accuracy"] == 0.75
    with pytest.raises(DataError, match="example 1: 3 predicted tags but 4"):
        metrics.seqeval_scores([preds[0][:3]], refs)
