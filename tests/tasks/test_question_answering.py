"""Extractive question answering: windows and their labels, the best span over windows (never in
the question), answers whose answer_start is wrong, bad rows, and finetune + eval by the CLI."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from tasks.finetune_helpers import QUIET_TRAIN, TINY_ENCODER, fixture, make_config, splits

from llmkit.errors import DataError
from llmkit.tasks.batching import LengthGroupedSampler
from llmkit.tasks.qa_spans import WindowSpans, answers_over_windows, best_window_spans
from llmkit.tasks.question_answering import QuestionAnsweringTask
from llmkit.tasks.spec import task_spec

REPO = Path(__file__).resolve().parents[2]
QA = {"type": "question-answering", "doc_stride": 4, "max_question_length": 8}
# the answer, "Juliet", sits at the end of a context far longer than one 32-token window
CONTEXT = " ".join(["the king and the queen went home"] * 6) + " and found Juliet there"
ANSWER_START = CONTEXT.index("Juliet")


def _row(qid="q1", context=CONTEXT, text="Juliet", start=ANSWER_START, question="Who was there?"):
    answers = (
        {"text": [text], "answer_start": [start]} if text else {"text": [], "answer_start": []}
    )
    return {"id": qid, "question": question, "context": context, "answers": answers}


def _task(tmp_path, tok, max_length=32, **options):
    cfg = make_config(
        tmp_path, tok, model=TINY_ENCODER, task=QA | options, max_length=max_length,
        data={"train": "x"},
    )  # fmt: skip
    return QuestionAnsweringTask(task_spec(cfg))


def _windows(task, row):
    """The validation windows of one row, collated into one batch."""
    data = task.tokenize_splits(splits(validation=[row]))["validation"]
    return task.collate([data[i] for i in range(len(data))])


def test_answer_only_in_a_later_window_labels_the_others_with_cls(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    batch = _windows(task, _row())
    starts, ends = batch["start_positions"].tolist(), batch["end_positions"].tolist()
    assert len(starts) >= 3  # the context needs several windows
    labelled = [w for w, s in enumerate(starts) if s != 0]
    assert labelled and 0 not in labelled  # the first windows do not hold the answer: CLS
    for w in labelled:
        first, last = batch["offset_start"][w, starts[w]], batch["offset_end"][w, ends[w]]
        assert CONTEXT[first:last] == "Juliet"
    for w in set(range(len(starts))) - set(labelled):
        assert starts[w] == ends[w] == batch["cls_index"][w] == 0


def test_training_windows_are_length_grouped_unless_turned_off(tmp_path, masked_tokenizer_dir):
    """A long context's full windows and the short ones would share nearly every random batch,
    padding it to ~max_length: QA groups windows by length unless the config says false."""
    short = {"context": "the king went home", "text": "", "start": 0}
    rows = [_row(f"q{i}", **({} if i % 2 else short)) for i in range(6)]

    def sampler(**batching):
        cfg = make_config(
            tmp_path, masked_tokenizer_dir, model=TINY_ENCODER, task=QA, max_length=32,
            data={"train": "x"}, batching=batching,
        )  # fmt: skip
        task = QuestionAnsweringTask(task_spec(cfg))
        train = task.tokenize_splits(splits(train=rows))["train"]
        return task.train_sampler(train, batch_size=4, seed=0)

    grouped = sampler()
    assert isinstance(grouped, LengthGroupedSampler) and grouped.window == 4
    assert sampler(group_by_length=False) is None


def _spans(batch, start_logits, end_logits, n_best=20, max_answer_length=30):
    return best_window_spans(
        start_logits, end_logits, batch["offset_start"], batch["offset_end"],
        batch["attention_mask"], batch["cls_index"], n_best, max_answer_length,
    )  # fmt: skip


def _logits(batch, marks):
    """Start and end logits of zero, but `marks` {(window, position, "start"/"end"): value}."""
    start = torch.zeros(batch["input_ids"].shape)
    end = torch.zeros(batch["input_ids"].shape)
    for (window, position, side), value in marks.items():
        (start if side == "start" else end)[window, position] = value
    return start, end


def test_the_answer_is_the_best_span_over_all_windows(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    batch = _windows(task, _row())
    last = len(batch["input_ids"]) - 1
    answer_start, answer_end = batch["start_positions"][last], batch["end_positions"][last]
    context_token = int((batch["offset_start"][0] >= 0).nonzero()[0])
    start, end = _logits(batch, {
        (0, context_token, "start"): 3.0, (0, context_token, "end"): 3.0,  # a weaker span
        (last, int(answer_start), "start"): 5.0, (last, int(answer_end), "end"): 5.0,
    })  # fmt: skip
    spans = _spans(batch, start, end)
    examples = batch["example"].tolist()
    answers = answers_over_windows(examples, spans, {0: CONTEXT}, False, 0.0)
    assert answers == {0: "Juliet"}


def test_a_span_reaching_into_the_question_is_never_predicted(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    batch = _windows(task, _row())
    first_sep = batch["input_ids"][0].tolist().index(task.tokenizer.sep_token_id)
    question = list(range(1, first_sep))  # [CLS] question [SEP] context …
    context = (batch["offset_start"][0] >= 0).nonzero().flatten().tolist()
    # the top start is a question token and the top end its context neighbour; the best span
    # that stays inside the context scores far less
    start, end = _logits(batch, {
        (0, question[-1], "start"): 50.0, (0, context[0], "end"): 50.0,
        (0, context[2], "start"): 1.0, (0, context[3], "end"): 1.0,
    })  # fmt: skip
    one = {key: value[:1] for key, value in batch.items()}
    spans = _spans(one, start[:1], end[:1])
    assert spans.span_score.item() == pytest.approx(2.0)
    assert spans.start_char.item() == one["offset_start"][0, context[2]]
    assert spans.end_char.item() == one["offset_end"][0, context[3]]


def test_end_before_start_and_overlong_spans_are_not_valid():
    offsets = torch.tensor([[-1, 0, 4, 8, 12, -1]])
    ends = offsets + 3
    mask, cls = torch.ones(1, 6, dtype=torch.long), torch.zeros(1, dtype=torch.long)
    start = torch.tensor([[0.0, 0.0, 0.0, 9.0, 0.0, 0.0]])
    end = torch.tensor([[0.0, 8.0, 0.0, 0.0, 1.0, 0.0]])  # best end (token 1) is before start
    spans = best_window_spans(start, end, offsets, ends, mask, cls, 20, 30)
    assert (spans.start_char.item(), spans.end_char.item()) == (8, 15)  # tokens 3..4
    spans = best_window_spans(start, end, offsets, ends, mask, cls, 20, 1)  # one token at most
    assert (spans.start_char.item(), spans.end_char.item()) == (8, 11)


def test_null_answer_against_its_threshold():
    spans = WindowSpans(
        span_score=torch.tensor([4.0, 6.0]), start_char=torch.tensor([0, 4]),
        end_char=torch.tensor([3, 9]), null_score=torch.tensor([7.0, 9.0]),
    )  # fmt: skip
    contexts = {0: "one four"}
    # best span 6.0 (window 1); lowest null score 7.0: 7 - 6 = 1 above the threshold 0 → no answer
    assert answers_over_windows([0, 0], spans, contexts, True, 0.0) == {0: ""}
    assert answers_over_windows([0, 0], spans, contexts, True, 1.5) == {0: "four"}
    assert answers_over_windows([0, 0], spans, contexts, False, 0.0) == {0: "four"}


def test_answer_start_mismatch_is_counted_reported_and_not_trained_on(
    tmp_path, masked_tokenizer_dir, capsys
):
    task = _task(tmp_path, masked_tokenizer_dir, max_length=64)
    rows = [_row("good"), _row("shifted", start=ANSWER_START + 1), _row("none", text="")]
    data = task.tokenize_splits(splits(train=rows))
    assert task.report.splits["train"]["answer_start_mismatch"] == 1
    assert task.report.splits["train"]["questions"] == 2  # the shifted row is left out
    out = capsys.readouterr().out
    assert "1 answers' answer_start does not point at the answer text" in out
    assert "first: row 2 (id shifted)" in out
    assert len(data["train"]) > 0


def test_bad_rows_stop_or_are_skipped_when_configured(tmp_path, masked_tokenizer_dir):
    task = _task(tmp_path, masked_tokenizer_dir)
    rows = [_row(), _row("empty", context=" "), _row("outside", start=len(CONTEXT) - 2)]
    with pytest.raises(DataError, match=r"row 2 \(id empty\): no context"):
        task.tokenize_splits(splits(train=rows))
    with pytest.raises(DataError, match=r"row 2 \(id outside\): answer 'Juliet' at answer_start"):
        task.tokenize_splits(splits(train=[rows[0], rows[2]]))
    task = _task(tmp_path, masked_tokenizer_dir, bad_rows="skip")
    task.tokenize_splits(splits(train=rows))
    assert task.report.splits["train"]["skipped_bad_rows"] == 2
    assert task.report.splits["train"]["questions"] == 1


def _squad_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_bad_row_exits_2_naming_file_and_row_via_the_cli(cli, tmp_path, masked_tokenizer_dir):
    data = _squad_jsonl(tmp_path / "qa.jsonl", [_row(), _row("q2", start=len(CONTEXT))])
    cfg = {
        "stage": "finetune", "output_dir": str(tmp_path / "out"),
        "tokenizer": str(masked_tokenizer_dir), "model": TINY_ENCODER, "task": QA,
        "max_length": 32, "data": {"train": str(data), "validation": str(data)},
        "train": QUIET_TRAIN | {"batch_size": 2},
    }  # fmt: skip
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = cli("finetune", path, "--dry-run")
    assert result.exit_code == 2
    assert f"data.train ({data}): row 2 (id q2): answer 'Juliet' at answer_start" in result.output
    assert "Traceback" not in result.output


def test_finetune_then_eval_scores_the_same_via_the_cli(
    cli, tmp_path, masked_tokenizer_dir, one_thread, monkeypatch
):
    """The tiny SQuAD-layout fixture split by article; eval of the model on the held-out
    article (model mode) reproduces finetuning's validation, and its predictions scored as a
    predictions JSON (file mode) give the same exact match and F1."""
    out = tmp_path / "run"
    monkeypatch.chdir(REPO)
    result = cli(
        "finetune", "configs/finetune-squad.yaml",
        "--set", f"tokenizer={masked_tokenizer_dir}", "--set", f"output_dir={out}",
        "--set", f"data.train={fixture('squad_tiny.json')}",
        "--set", "data.group_split.validation=[Corla_Hills]",
        "--set", "model.n_layers=2", "--set", "model.hidden_size=32", "--set", "model.n_heads=2",
        "--set", "max_length=96", "--set", "task.doc_stride=16", "--set", "train.epochs=1",
        "--set", "train.schedule.warmup_steps=0",
        "--set", "train.logging.trackers=[]", "--set", "train.logging.live=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = (out / "metrics.jsonl").read_text().splitlines()
    validation = [r for r in map(json.loads, lines) if r["split"] == "validation"][-1]
    assert validation["total"] == 36 and validation["NoAns_total"] == 4

    squad = json.loads(open(fixture("squad_tiny.json"), encoding="utf-8").read())
    squad["data"] = [a for a in squad["data"] if a["title"] == "Corla_Hills"]
    held_out = tmp_path / "corla.json"
    held_out.write_text(json.dumps(squad))
    result = cli("eval", "--model", out, "--data", held_out, "--output-dir", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "scores.json").read_text())["metrics"]
    for name in ("exact", "f1", "HasAns_f1", "NoAns_f1", "total", "NoAns_total"):
        assert metrics[name] == pytest.approx(validation[name]), name

    predicted = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").open()]
    answers = {row["id"]: row["prediction"] for row in predicted}
    assert len(answers) == 36
    as_file = _score_file(cli, tmp_path / "predictions.json", answers, held_out)
    assert as_file["exact"] == pytest.approx(metrics["exact"])
    assert as_file["f1"] == pytest.approx(metrics["f1"])
    gold = {row["id"]: (row["reference"] or [""])[0] for row in predicted}
    assert _score_file(cli, tmp_path / "gold.json", gold, held_out)["exact"] == 100.0

    # shorter windows than the run's: its doc_stride (16) is reused, and what does not fit in
    # them is named by the keys eval takes
    short = ("eval", "--model", out, "--data", held_out, "--set", "max_length=48")
    result = cli(*short)
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert "question_answering.doc_stride (16) must be below" in error
    assert "lower question_answering.doc_stride or question_answering.max_question_length" in error
    fits = cli(*short, "--set", "question_answering.max_question_length=16", "-o", tmp_path / "s")
    assert fits.exit_code == 0, fits.output
    assert json.loads((tmp_path / "s").read_text())["metrics"]["total"] == 36


def _score_file(cli, path, answers, references):
    path.write_text(json.dumps(answers))
    scores = path.with_suffix(".scores.json")
    result = cli("eval", "-p", path, "-r", references, "-m", "squad", "-o", scores)
    assert result.exit_code == 0, result.output
    return json.loads(scores.read_text())["metrics"]
