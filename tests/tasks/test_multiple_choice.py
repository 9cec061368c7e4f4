"""Multiple choice: (batch, choices, tokens) batches, loss and accuracy over the choices, missing
choices masked out of the softmax, and bad rows named by file and row through the real CLI."""

import json

import pytest
import torch
import torch.nn.functional as F
import yaml
from tasks.finetune_helpers import QUIET_TRAIN, TINY_ENCODER, fixture, make_config, splits

from llmkit.tasks.multiple_choice import MultipleChoiceTask
from llmkit.tasks.spec import task_spec

SWAG = {"train": fixture("swag_train.csv"), "validation": fixture("swag_validation.csv")}


def _task(tmp_path, tok, task=None, **sections) -> MultipleChoiceTask:
    sections.setdefault("data", SWAG)
    cfg = make_config(
        tmp_path, tok, model=TINY_ENCODER, task={"type": "multiple-choice", **(task or {})},
        **sections,
    )  # fmt: skip
    return MultipleChoiceTask(task_spec(cfg))


def examples_text(data, task) -> str:
    """The first validation row's premise as the tokenizer gives it back (lower-cased)."""
    return task.tokenizer.decode(data.splits["validation"][0]["input_ids"][0][1:4])


def _tiny_model(task):
    torch.manual_seed(0)
    return task.build_model().eval()


def test_batches_hold_every_choice_and_loss_and_accuracy_are_over_the_choices(
    tmp_path, masked_tokenizer_dir
):
    task = _task(tmp_path, masked_tokenizer_dir)
    data = task.prepare_data()
    examples = [data.splits["validation"][i] for i in range(4)]
    batch = data.collate(examples)
    width = max(len(ids) for ex in examples for ids in ex["input_ids"])
    assert batch["input_ids"].shape == (4, 4, width)  # padded to the batch's longest choice
    sep = task.tokenizer.sep_token_id  # each choice is the pair [CLS] premise [SEP] ending [SEP]
    assert all((row == sep).sum() == 2 for row in batch["input_ids"][0])
    premise = task.tokenizer.decode(batch["input_ids"][0, 0], skip_special_tokens=True)
    assert premise.startswith(examples_text(data, task))

    model = _tiny_model(task)
    with torch.no_grad():
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "choice_mask")}
        logits = model(**inputs).logits  # (4, 4): a score per choice
        expected = F.cross_entropy(logits, batch["labels"], reduction="sum")
        assert torch.allclose(task.loss_sum(model, batch), expected)
        out = task.evaluate_batch(model, batch)
    metrics = task.compute_metrics([out])
    right = (logits.argmax(-1) == batch["labels"]).float().mean()
    assert metrics["accuracy"] == pytest.approx(float(right))
    assert metrics["loss"] == pytest.approx(float(expected) / 4, rel=1e-5)


def test_missing_choices_are_masked_out_of_the_softmax(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir, task={"pad_choices": True},
                 data={"train": "x", "columns": {"endings": "endings", "ending_start": None}})  # fmt: skip
    raw = splits(
        train=[
            {"sent1": "the king rides", "endings": ["a horse", "the moon", "a fish"], "label": 0},
            {"sent1": "the queen sings", "endings": ["a song", "a rock"], "label": 1},
        ]
    )
    rows = task.tokenize_splits(raw)["train"]
    batch = task.collate([rows[0], rows[1]])
    assert batch["input_ids"].shape[:2] == (2, 3)
    assert batch["choice_mask"].tolist() == [[True, True, True], [True, True, False]]
    model = _tiny_model(task)
    with torch.no_grad():
        out = task.evaluate_batch(model, batch)
        logits = task._logits(model, batch)
        # the two-choice row alone, unpadded: the same loss as inside the padded batch
        alone = task.collate([rows[1]])
        inputs = {k: v for k, v in alone.items() if k not in ("labels", "choice_mask")}
        alone_logits = model(**inputs).logits
    assert logits[1, 2] == float("-inf")
    assert torch.allclose(logits[1, :2], alone_logits[0], atol=1e-5)
    expected = F.cross_entropy(alone_logits, torch.tensor([1]))
    assert torch.allclose(out["loss"][1], expected, atol=1e-5)
    assert torch.isfinite(out["loss"]).all()
    # a padded choice is never predicted, whatever the model would have scored it
    masked = {**batch, "choice_mask": torch.tensor([[True, False, False], [True, True, False]])}
    with torch.no_grad():
        assert task.evaluate_batch(model, masked)["predictions"][0] == 0


def _write_config(tmp_path, tokenizer, data, task=None, **extra):
    cfg = {
        "stage": "finetune",
        "output_dir": str(tmp_path / "out"),
        "tokenizer": str(tokenizer),
        "model": TINY_ENCODER,
        "task": {"type": "multiple-choice", **(task or {})},
        "data": data,
        "max_length": 48,
        "train": {"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 3e-3},
                  "eval": {"every_steps": 4}, **QUIET_TRAIN},
        **extra,
    }  # fmt: skip
    path = tmp_path / "mc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _swag_with_row(tmp_path, row_no: int, **changes) -> str:
    """The shipped validation file with data row `row_no` (1-based) changed."""
    lines = open(fixture("swag_validation.csv")).read().splitlines()
    header = lines[0].split(",")
    cells = lines[row_no].split(",")
    for column, value in changes.items():
        cells[header.index(column)] = value
    lines[row_no] = ",".join(cells)
    path = tmp_path / "val.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_label_out_of_range_exits_2_naming_file_and_row(cli, tmp_path, masked_tokenizer_dir):
    bad = _swag_with_row(tmp_path, 3, label="4")
    path = _write_config(tmp_path, masked_tokenizer_dir, {**SWAG, "validation": bad})
    result = cli("finetune", path)
    assert result.exit_code == 2
    [message] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert f"data.validation ({bad}): row 3: label 4 is out of range" in message
    assert "endings 0–3" in message and "task.bad_rows: skip" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_rows_skip_counts_the_row_and_goes_on(cli, tmp_path, masked_tokenizer_dir):
    bad = _swag_with_row(tmp_path, 3, label="-1")
    data = {**SWAG, "validation": bad}
    path = _write_config(tmp_path, masked_tokenizer_dir, data, task={"bad_rows": "skip"})
    result = cli("finetune", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "finetune data validation: skipped_bad_label 1, rows 7" in result.output
    assert "finetune data train: rows 32" in result.output


def test_a_varying_number_of_endings_exits_2_unless_choices_are_padded(
    cli, tmp_path, masked_tokenizer_dir
):
    rows = [
        {"ctx": "the king rides", "endings": ["a horse", "the moon", "a fish"], "label": 0},
        {"ctx": "the queen sings", "endings": ["a song", "a rock", "a tree"], "label": 0},
        {"ctx": "the fool laughs", "endings": ["loudly", "a stone"], "label": 0},
    ] * 4
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = {"premise": "ctx", "ending_start": None, "endings": "endings"}
    data = {"train": str(train), "validation": str(train), "columns": columns}
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, data), "--dry-run")
    assert result.exit_code == 2
    assert f"data.train ({train}): row 3 has 2 endings where the rows before it have 3" in (
        result.output
    )
    assert "task.pad_choices: true" in result.output
    padded = _write_config(tmp_path, masked_tokenizer_dir, data, task={"pad_choices": True})
    result = cli("finetune", padded, "--dry-run")
    assert result.exit_code == 0, result.output


def test_finetune_then_eval_scores_accuracy(cli, tmp_path, masked_tokenizer_dir, one_thread):
    path = _write_config(tmp_path, masked_tokenizer_dir, SWAG)
    result = cli("finetune", path)
    assert result.exit_code == 0, result.output
    run = tmp_path / "out"
    validation = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validated = [r for r in validation if r["split"] == "validation"][-1]
    assert set(validated) >= {"loss", "accuracy"}
    scores = tmp_path / "eval"
    result = cli("eval", "--model", run, "--data", fixture("swag_validation.csv"),
                 "--output-dir", scores)  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((scores / "scores.json").read_text())
    assert saved["model"]["task"] == "multiple-choice"  # inferred from the architecture
    # scored exactly as validation scored the same rows
    assert saved["metrics"]["accuracy"] == pytest.approx(validated["accuracy"])
    assert saved["metrics"]["loss"] == pytest.approx(validated["loss"], rel=1e-4)
    predictions = (scores / "predictions.jsonl").read_text().splitlines()
    first = json.loads(predictions[0])
    assert len(predictions) == 8 and first["input"].startswith("A rider swings")
    assert first["prediction"] in range(4) and first["reference"] == 1


def test_export_keeps_the_multiple_choice_head(cli, tmp_path, masked_tokenizer_dir, one_thread):
    from transformers import AutoModelForMultipleChoice

    path = _write_config(
        tmp_path, masked_tokenizer_dir, SWAG, train={"max_steps": 1, **QUIET_TRAIN}
    )
    assert cli("finetune", path).exit_code == 0
    result = cli("export", tmp_path / "out", "--format", "hf", "--output", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    exported = AutoModelForMultipleChoice.from_pretrained(tmp_path / "hf")
    trained = AutoModelForMultipleChoice.from_pretrained(tmp_path / "out")
    assert torch.equal(exported.classifier.weight, trained.classifier.weight)
    assert "pipeline_tag: multiple-choice" in (tmp_path / "hf" / "README.md").read_text()


def test_a_decoder_family_for_multiple_choice_is_a_config_error(tmp_path, masked_tokenizer_dir):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple-choice needs an encoder"):
        make_config(tmp_path, masked_tokenizer_dir, model={"family": "gpt2"},
                    task={"type": "multiple-choice"}, data=SWAG)  # fmt: skip


def test_group_split_holds_out_the_named_groups(cli, tmp_path, masked_tokenizer_dir):
    """data.group_split was ignored by multiple choice: the rows were split by
    split.validation_ratio instead, so validation held other rows than the groups named."""
    held_out = ["fixture-000", "fixture-001", "fixture-002", "fixture-003"]
    data = {"train": SWAG["train"], "group_split": {"column": "video-id", "validation": held_out}}
    result = cli("finetune", _write_config(tmp_path, masked_tokenizer_dir, data), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "finetune data train: rows 28" in result.output
    assert "finetune data validation: rows 4" in result.output
