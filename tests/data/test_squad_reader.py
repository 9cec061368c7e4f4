"""SQuAD's nested JSON read directly into one row per question, and data split by article."""

import json

import pytest
from datasets import Dataset
from pydantic import ValidationError

from llmkit.config.data import CleaningConfig, DataConfig, GroupSplitConfig, SplitConfig
from llmkit.data.id_split import split_by_group
from llmkit.data.preprocess import load_clean_splits
from llmkit.data.sources import load_split
from llmkit.errors import DataError

SQUAD = {
    "version": "v2.0",
    "data": [
        {"title": "Normans", "paragraphs": [{
            "context": "The Normans gave their name to Normandy, a region in France.",
            "qas": [
                {"id": "a1", "question": "In what country is Normandy?", "is_impossible": False,
                 "answers": [{"text": "France", "answer_start": 54},
                             {"text": "France", "answer_start": 54}]},
                {"id": "a2", "question": "Who named Paris?", "is_impossible": True,
                 "answers": [], "plausible_answers": [{"text": "Normans", "answer_start": 4}]},
            ]}]},
        {"title": "Sky", "paragraphs": [{
            "context": "Sky is a broadcaster.",
            "qas": [{"id": "b1", "question": "What is Sky?",
                     "answers": [{"text": "a broadcaster", "answer_start": 7}]}]}]},
    ],
}  # fmt: skip


def test_a_squad_file_is_one_row_per_question_in_the_hub_layout(write):
    path = write("dev.json", json.dumps(SQUAD))
    rows = load_split(DataConfig(train=str(path)), "train")  # format auto
    assert rows.column_names == ["id", "title", "context", "question", "answers"]
    assert rows["id"] == ["a1", "a2", "b1"]
    assert rows["title"] == ["Normans", "Normans", "Sky"]
    assert rows[0]["answers"] == {"text": ["France", "France"], "answer_start": [54, 54]}
    # unanswerable: no answers; its plausible answers are not answers
    assert rows[1]["answers"] == {"text": [], "answer_start": []}
    assert rows[2]["context"] == "Sky is a broadcaster."


def test_other_json_is_still_read_by_the_json_builder(write):
    path = write("rows.json", json.dumps([{"text": "a", "label": 1}]))
    assert load_split(DataConfig(train=str(path)), "train").column_names == ["text", "label"]


def test_a_broken_squad_file_names_where(write):
    broken = {"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}
    path = write("bad.json", json.dumps(broken))
    with pytest.raises(
        DataError, match=r"bad.json: data\[0\].paragraphs\[0\].qas\[0\]: no 'answers'"
    ):
        load_split(DataConfig(train=str(path), format="squad"), "train")


def test_group_split_keeps_articles_whole(write):
    path = write("dev.json", json.dumps(SQUAD))
    data = DataConfig(train=str(path), group_split={"column": "title", "validation": ["Sky"]})
    splits = load_clean_splits(data, CleaningConfig(), SplitConfig(), [])
    assert splits["train"]["id"] == ["a1", "a2"]
    assert splits["validation"]["id"] == ["b1"]


def test_group_split_errors():
    rows = Dataset.from_list([{"title": t} for t in ("A", "A", "B")])
    with pytest.raises(DataError, match="no row has title 'C' .*values: 'A', 'B'"):
        split_by_group(rows, GroupSplitConfig(validation=["C"]))
    with pytest.raises(DataError, match="nothing is left to train on"):
        split_by_group(rows, GroupSplitConfig(validation=["A"], test=["B"]))
    with pytest.raises(DataError, match="no column 'article'"):
        split_by_group(rows, GroupSplitConfig(column="article", validation=["A"]))
    with pytest.raises(ValidationError, match="name the groups"):
        GroupSplitConfig()
    with pytest.raises(ValidationError, match="both validation and test"):
        GroupSplitConfig(validation=["A"], test=["A"])
    with pytest.raises(ValidationError, match="group_split splits data.train"):
        DataConfig(train="x.json", validation="y.json", group_split={"validation": ["A"]})


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"text": "France", "answer_start": "fifty-four"}, "answer_start must be an integer"),
        ({"text": "France", "answer_start": 54.5}, "answer_start must be an integer"),
        ({"text": ["France"], "answer_start": 54}, "text must be a string"),
    ],
)
def test_a_squad_answer_of_the_wrong_type_exits_2_naming_it_via_the_cli(
    cli, tmp_path, answer, problem
):
    """A SQuAD file's answer_start that is not an integer (or a text that is not a string) used
    to end in pyarrow's ArrowInvalid traceback while the file was read."""
    squad = json.loads(json.dumps(SQUAD))
    squad["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [answer]
    references = tmp_path / "dev.json"
    references.write_text(json.dumps(squad))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({"a1": "France", "a2": "", "b1": "a broadcaster"}))
    scores = tmp_path / "scores.json"
    result = cli("eval", "-p", predictions, "-r", references, "-m", "squad", "-o", scores)
    assert result.exit_code == 2, result.output
    assert f"{references}: data[0].paragraphs[0].qas[0].answers[0]: {problem}" in result.output
    assert not scores.exists()
