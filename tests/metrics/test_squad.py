"""SQuAD exact match and F1 equal the official v2.0 evaluation script's definition, on values
worked out by hand from that definition."""

import pytest

from llmkit.metrics.squad import exact_score, f1_score, normalize_answer, squad_scores


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  a cat,  AN apple;  the end ", "cat apple end"),
        ("theatre another thermos", "theatre another thermos"),  # articles as whole words only
        ("the-cat", "thecat"),  # punctuation goes first, so no word boundary is left
        ("Café «Noir»", "café «noir»"),  # lowercased; « » are not ASCII punctuation
        ("naïve — RÉSUMÉ", "naïve — résumé"),
        ("", ""),
    ],
)
def test_normalization_as_the_official_script(text, normalized):
    assert normalize_answer(text) == normalized


def test_f1_by_hand():
    # gold tokens [cat, sat, on, mat], predicted [cat, on, mat]: 3 in common,
    # precision 3/3, recall 3/4, F1 = 2 * 1 * 0.75 / 1.75
    assert f1_score("The cat sat on the mat.", "a cat on mat") == pytest.approx(6 / 7)
    # repeated tokens count as often as both sides have them: x:1 + y:1 of 3 each → F1 2/3
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_score("Paris", "London") == 0.0
    assert exact_score("The Beatles", "beatles.") == 1


def test_empty_answers():
    assert f1_score("", "") == 1.0  # both say "no answer"
    assert f1_score("", "Paris") == 0.0
    assert f1_score("Paris", "") == 0.0
    assert f1_score("the", "a") == 1.0  # both normalise to nothing


def test_scores_take_the_best_gold_answer_and_split_has_and_no_answer():
    references = {
        "q1": ["Denver Broncos", "the Broncos"],  # best: "Broncos" vs "the Broncos" → 1, 1
        "q2": ["in 1066", "1066"],  # "1066 AD": vs "1066" P 1/2 R 1 → F1 2/3; EM 0
        "q3": [],  # unanswerable; predicted "" → 1, 1
        "q4": [],  # unanswerable; predicted an answer → 0, 0
        "q5": ["the", "Saint-Denis"],  # "the" normalises to nothing and is dropped
    }
    predictions = {"q1": "Broncos", "q2": "1066 AD", "q3": "", "q4": "Paris",
                   "q5": "saint denis", "extra": "ignored"}  # fmt: skip
    # q5: gold tokens [saintdenis], predicted [saint, denis] → 0, 0
    scores = squad_scores(predictions, references)
    assert scores["total"] == 5
    assert scores["exact"] == pytest.approx(100 * (1 + 0 + 1 + 0 + 0) / 5)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0 + 0) / 5)
    assert scores["HasAns_total"] == 3 and scores["NoAns_total"] == 2
    assert scores["HasAns_exact"] == pytest.approx(100 / 3)
    assert scores["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert scores["NoAns_exact"] == scores["NoAns_f1"] == 50.0


def test_gold_of_only_empty_answers_is_the_empty_answer():
    # an answerable question whose only gold answer normalises to nothing: gold is [""]
    scores = squad_scores({"q": ""}, {"q": ["The"]})
    assert scores["exact"] == scores["f1"] == 100.0
    assert scores["HasAns_total"] == 1 and "NoAns_total" not in scores


def test_v1_data_has_no_no_answer_group():
    scores = squad_scores({"q": "x"}, {"q": ["x"]})
    assert scores == {"exact": 100.0, "f1": 100.0, "total": 1.0, "HasAns_exact": 100.0,
                      "HasAns_f1": 100.0, "HasAns_total": 1.0}  # fmt: skip


def test_a_missing_prediction_is_an_error():
    with pytest.raises(KeyError, match="q2"):
        squad_scores({"q1": "x"}, {"q1": ["x"], "q2": ["y"]})
