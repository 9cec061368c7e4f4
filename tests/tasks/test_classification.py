"""Sequence classification: learning, label mapping, pairs, truncation and every bad label."""

import json

import pytest
import torch
from tasks.finetune_helpers import (
    TINY_ENCODER,
    fixture,
    make_config,
    metric_rows,
    rows,
    splits,
)

from llmkit.errors import DataError
from llmkit.tasks.batching import LengthGroupedSampler
from llmkit.tasks.classification import ClassificationTask
from llmkit.tasks.spec import task_spec
from llmkit.train.stage import run_training


def _task(tmp_path, tok, **sections):
    return ClassificationTask(task_spec(make_config(tmp_path, tok, model=TINY_ENCODER, **sections)))


def test_learns_sentiment_above_chance_and_saves_label_names(tmp_path, masked_tokenizer_dir):
    from transformers import AutoModelForSequenceClassification

    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        model=TINY_ENCODER,
        data={
            "train": fixture("sentiment_train.jsonl"),
            "validation": fixture("sentiment_validation.jsonl"),
        },
        train={"batch_size": 8, "epochs": 8, "optimizer": {"lr": 3e-3}, "eval": {}},
    )
    out = run_training(cfg)
    train_loss = [r["loss"] for r in metric_rows(out, "train")]
    final = metric_rows(out, "validation")[-1]
    assert train_loss[-1] < train_loss[0] * 0.8
    assert final["accuracy"] >= 0.75  # two balanced classes: chance is 0.5
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.label2id == {"negative": 0, "positive": 1}
    report = json.loads((out / "finetune_data.json").read_text())
    assert report["train"]["rows"] == 48 and report["validation"]["truncated"] == 0


def test_pairs_are_encoded_as_one_sequence_with_two_segments(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir, data={"train": "x", "columns": {"pair": "b"}})
    raw = splits(train=[{"text": "my lord", "b": "the king", "label": 1}] * 2)
    ids = task.tokenize_splits(raw)["train"][0]["input_ids"]
    sep = task.tokenizer.sep_token_id
    assert ids[0] == task.tokenizer.cls_token_id and ids.count(sep) == 2


def test_integer_labels_index_given_names(tmp_path, masked_tokenizer_dir):
    task = _task(
        tmp_path,
        masked_tokenizer_dir,
        task={"type": "classification", "labels": ["negative", "positive"]},
    )
    raw = splits(train=[{"text": "good", "label": 1}, {"text": "bad", "label": 0}])
    assert task.tokenize_splits(raw)["train"]["labels"] == [1, 0]
    assert task.model_kwargs()["id2label"] == {0: "negative", 1: "positive"}


def test_inferred_names_are_sorted(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    raw = splits(train=[{"text": t, "label": t} for t in ("c", "a", "b", "a")])
    assert task.tokenize_splits(raw)["train"]["labels"] == [2, 0, 1, 0]
    assert task.label_names == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("train", "validation", "message"),
    [
        (["pos", "neg"], ["pos", "neutral"], "'neutral', which the training data never has"),
        (["pos", "neg"], [0, 1], "labels are ints but the training labels are strs"),
        (["pos", ""], ["pos"], "row 2 has an empty label"),
        ([0.5, 1.5], [0.5], "task.regression: true"),
    ],
)
def test_bad_labels_are_named(tmp_path, masked_tokenizer_dir, train, validation, message):
    task = _task(tmp_path, masked_tokenizer_dir)
    raw = splits(
        train=[{"text": f"t{i}", "label": v} for i, v in enumerate(train)],
        validation=[{"text": f"v{i}", "label": v} for i, v in enumerate(validation)],
    )
    with pytest.raises(DataError, match=message):
        task.tokenize_splits(raw)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("mixed.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "pos"}\n'),
        ("mixed.csv", "text,label\na,1\nb,pos\nc,neg\n"),
    ],
)
def test_label_column_of_mixed_types_is_rejected(tmp_path, masked_tokenizer_dir, name, content):
    (tmp_path / name).write_text(content)
    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        data={"train": str(tmp_path / name)},
        split={"validation_ratio": 0.0},
    )
    with pytest.raises(DataError, match=r"data.train column 'label': the label column mixes"):
        ClassificationTask(task_spec(cfg)).prepare_data()


def test_long_examples_are_truncated_and_counted(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir, max_length=8)
    long_text = "the king and the queen went to the play at night " * 3
    raw = splits(train=[{"text": long_text, "label": "a"}, {"text": "so", "label": "b"}])
    ds = task.tokenize_splits(raw)["train"]
    assert [len(x) for x in ds["input_ids"]][0] == 8
    assert ds["input_ids"][0][-1] == task.tokenizer.sep_token_id  # special tokens kept
    assert task.report.splits["train"]["truncated"] == 1


def test_collate_pads_to_the_longest_in_the_batch(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    raw = splits(train=[{"text": "so", "label": "a"}, {"text": "the king is here", "label": "b"}])
    ds = task.tokenize_splits(raw)["train"]
    batch = task.collate([ds[0], ds[1]])
    longest = max(len(x) for x in ds["input_ids"])
    assert batch["input_ids"].shape == (2, longest)
    assert batch["attention_mask"].sum(1).tolist() == [len(x) for x in ds["input_ids"]]


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_multi_label_and_regression_train(tmp_path, masked_tokenizer_dir, kind):
    task = _task(tmp_path, masked_tokenizer_dir, task={"type": "classification", kind: True})
    if kind == "multi_label":
        data = [{"text": "a b", "label": ["x", "y"]}, {"text": "c", "label": ["y"]}] * 2
    else:
        data = [{"text": "good", "label": 1.0}, {"text": "bad", "label": -1.0}] * 2
    ds = task.tokenize_splits(splits(train=data))["train"]
    model = task.build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = task.collate([ds[i] for i in range(len(ds))])
    losses = []
    for _ in range(25):
        loss = task.loss_sum(model, batch) / task.count_loss_items(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] * 0.5
    model.eval()
    with torch.no_grad():
        metrics = task.compute_metrics([task.evaluate_batch(model, batch)])
    expected = "subset_accuracy" if kind == "multi_label" else "pearson"
    assert metrics[expected] > 0.9


def test_length_grouped_batches_pad_less_and_stay_random():
    lengths = torch.randint(3, 60, (512,), generator=torch.Generator().manual_seed(0)).tolist()
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=1, window=8)
    order = list(sampler)
    assert sorted(order) == list(range(512))
    assert order == list(sampler)  # deterministic per epoch (exact resume)
    sampler.set_epoch(1)
    assert order != list(sampler)

    def padded(order):
        batches = [order[i : i + 16] for i in range(0, len(order), 16)]
        return sum(max(lengths[j] for j in b) * len(b) for b in batches)

    random_order = torch.randperm(512, generator=torch.Generator().manual_seed(1)).tolist()
    assert padded(order) < 0.8 * padded(random_order)
    # batch order is shuffled: the longest batches are not all at the start of the epoch
    firsts = [max(lengths[j] for j in order[i : i + 16]) for i in range(0, 512, 16)]
    assert firsts != sorted(firsts, reverse=True)


def test_missing_column_names_the_columns(tmp_path, masked_tokenizer_dir):
    (tmp_path / "d.jsonl").write_text('{"sentence": "hi", "label": 1}\n' * 4)
    cfg = make_config(tmp_path, masked_tokenizer_dir, data={"train": str(tmp_path / "d.jsonl")})
    with pytest.raises(DataError, match="text"):
        ClassificationTask(task_spec(cfg)).prepare_data()


def test_fixture_files_are_balanced():
    labels = [r["label"] for r in rows("sentiment_train.jsonl")]
    assert labels.count("positive") == labels.count("negative")


def test_batches_are_random_by_default_and_length_grouping_is_opt_in(
    tmp_path, masked_tokenizer_dir
):
    """Length-grouped batches cost accuracy on SST-2 (BENCHMARKS.md): random unless asked
    (question answering alone groups by default, see its tests)."""
    data = {"train": fixture("sentiment_train.jsonl")}
    task = _task(tmp_path, masked_tokenizer_dir, data=data)
    prepared = task.prepare_data()
    assert prepared.train_sampler(prepared.splits["train"], batch_size=8, seed=0) is None
    grouped = _task(tmp_path, masked_tokenizer_dir, data=data, batching={"group_by_length": True})
    grouped_data = grouped.prepare_data()
    sampler = grouped_data.train_sampler(grouped_data.splits["train"], batch_size=8, seed=0)
    assert isinstance(sampler, LengthGroupedSampler) and sampler.window == 4


def test_regression_run_validates_with_pearson_and_keeps_the_lowest_mse(
    tmp_path, masked_tokenizer_dir
):
    """A float target (a similarity-score style regression) through the whole run: validation
    reports mse and pearson, and keep_best reads mse as lower-is-better."""
    from transformers import AutoModelForSequenceClassification

    def scored(name: str) -> str:
        path = tmp_path / name
        lines = [
            json.dumps({"text": r["text"], "label": 1.0 if r["label"] == "positive" else 0.0})
            for r in rows(name)
        ]
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        model=TINY_ENCODER,
        task={"type": "classification", "regression": True},
        data={
            "train": scored("sentiment_train.jsonl"),
            "validation": scored("sentiment_validation.jsonl"),
        },
        train={
            "batch_size": 8, "epochs": 8, "optimizer": {"lr": 3e-3},
            "eval": {"every_steps": 12, "best_metric": "mse"},
            "checkpoint": {"keep_best": True},
        },
    )  # fmt: skip
    out = run_training(cfg)
    evals = metric_rows(out, "validation")
    assert {"mse", "pearson"} <= evals[-1].keys()
    assert min(e["mse"] for e in evals) < evals[0]["mse"] and max(e["pearson"] for e in evals) > 0.5
    state = json.loads((out / "trainer_state.json").read_text())
    best = min(evals, key=lambda e: e["mse"])
    assert state["best_step"] == best["step"] and state["best_metric"] == best["mse"]
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.problem_type == "regression" and model.config.num_labels == 1
