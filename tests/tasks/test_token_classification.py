"""Token classification: subword alignment, learning NER tags (JSON lines and CoNLL files),
and bad tag data."""

import json

import pytest
from tasks.finetune_helpers import TINY_ENCODER, fixture, make_config, metric_rows, splits

from llmkit.errors import DataError
from llmkit.models.loss import IGNORE_INDEX as IGNORE
from llmkit.tasks.spec import task_spec
from llmkit.tasks.token_classification import TokenClassificationTask, align_labels
from llmkit.train.stage import run_training

NER = {"type": "token-classification"}
NER_DATA = {"train": "x", "columns": {"label": "ner"}}


def _task(tmp_path, tok, **options):
    cfg = make_config(tmp_path, tok, model=TINY_ENCODER, task=NER | options, data=NER_DATA)
    return TokenClassificationTask(task_spec(cfg))


def test_tag_goes_on_the_first_subword_only():
    # [CLS] Hen ##ry went [SEP]: word 0 has two subwords
    word_ids = [None, 0, 0, 1, None]
    labels, first = align_labels(word_ids, [7, 3], all_subwords=False)
    assert labels == [IGNORE, 7, IGNORE, 3, IGNORE]
    assert first == [0, 1, 0, 1, 0]
    labels, _ = align_labels(word_ids, [7, 3], all_subwords=True)
    assert labels == [IGNORE, 7, 7, 3, IGNORE]


@pytest.mark.parametrize("all_subwords", [False, True])
def test_alignment_on_real_subwords(tmp_path, masked_tokenizer_dir, all_subwords):
    task = _task(tmp_path, masked_tokenizer_dir, label_all_subwords=all_subwords)
    raw = splits(train=[{"words": ["Juliet", "went", "home"], "ner": ["B-PER", "O", "O"]}])
    row = task.tokenize_splits(raw)["train"][0]
    words = task.tokenizer(["Juliet", "went", "home"], is_split_into_words=True).word_ids()
    juliet = [i for i, w in enumerate(words) if w == 0]
    assert len(juliet) > 1  # the 300-token vocabulary splits the name into subwords
    per = task.label_names.index("B-PER")
    tagged = [i for i, lab in enumerate(row["labels"]) if lab == per]
    assert tagged == (juliet if all_subwords else juliet[:1])
    assert row["labels"][0] == IGNORE and row["labels"][-1] == IGNORE  # [CLS], [SEP]


def test_learns_entities_above_chance(tmp_path, masked_tokenizer_dir):
    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        model=TINY_ENCODER,
        task=NER,
        data={
            "train": fixture("ner_train.jsonl"),
            "validation": fixture("ner_validation.jsonl"),
            "columns": {"label": "ner"},
        },
        train={"batch_size": 6, "epochs": 10, "optimizer": {"lr": 5e-3}, "eval": {}},
    )
    out = run_training(cfg)
    train_loss = [r["loss"] for r in metric_rows(out, "train")]
    final = metric_rows(out, "validation")[-1]
    assert train_loss[-1] < train_loss[0] * 0.5
    assert final["f1"] > 0.6  # entity-level seqeval F1; an untrained tagger scores ~0


def test_finetunes_on_a_conll_file_with_the_default_columns(tmp_path, masked_tokenizer_dir):
    from transformers import AutoConfig

    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        model=TINY_ENCODER,
        task=NER,
        data={"train": fixture("ner_train.conll")},  # no columns: words and tags → words, label
        split={"validation_ratio": 0.25},
        train={"batch_size": 9, "max_steps": 4, "optimizer": {"lr": 5e-3}, "eval": {}},
    )
    out = run_training(cfg)
    labels = AutoConfig.from_pretrained(out).id2label
    assert sorted(labels.values()) == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    final = metric_rows(out, "validation")[-1]
    assert {"precision", "recall", "f1"} <= set(final)  # seqeval scores on the held-out rows
    report = json.loads((out / "finetune_data.json").read_text())
    assert (report["train"]["rows"], report["validation"]["rows"]) == (27, 9)  # 36 sentences


@pytest.mark.parametrize(
    ("train", "validation", "message"),
    [
        ({"words": ["a", "b"], "ner": ["O"]}, None, "row 1 has 2 words but 1 tags"),
        (
            {"words": ["a"], "ner": ["O"]},
            {"words": ["b"], "ner": ["B-MISC"]},
            "'B-MISC', which the training data never has",
        ),
    ],
)
def test_bad_tag_data_is_named(tmp_path, masked_tokenizer_dir, train, validation, message):
    task = _task(tmp_path, masked_tokenizer_dir)
    raw = splits(train=[train], **({"validation": [validation]} if validation else {}))
    with pytest.raises(DataError, match=message):
        task.tokenize_splits(raw)
