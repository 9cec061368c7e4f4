"""Model mode on tiny saved models: predictions → metrics, predictions.jsonl, bad model dirs."""

import json

import pytest
import transformers
from two_processes import launch_two_processes

from llmkit.config.generate import GenerationSettings
from llmkit.generation import generate_texts

PAIRS = [
    {"translation": {"en": "the king is dead", "ro": "regele a murit"}},
    {"translation": {"en": "long live the king", "ro": "trăiască regele"}},
    {"translation": {"en": "what light through yonder window breaks", "ro": "ce lumină"}},
]


def test_seq2seq_writes_predictions_in_input_order(cli, tiny_t5_dir, jsonl, tmp_path):
    data = jsonl("test.jsonl", PAIRS)
    out = tmp_path / "eval"
    result = cli("eval", "--model", tiny_t5_dir, "--data", data, "--output-dir", out,
                 "--set", "columns.source=translation.en", "--set", "columns.target=translation.ro",
                 "--set", "generation.max_new_tokens=6", "--set", 'source_prefix="tr: "')  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["task"] == "seq2seq"  # inferred from the architecture
    assert {"bleu", "chrf", "rouge1"} <= set(scores["metrics"])
    assert "nrefs:1" in scores["signatures"]["bleu"]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["reference"] for r in rows] == [p["translation"]["ro"] for p in PAIRS]
    assert rows[0]["input"] == "tr: the king is dead"
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_t5_dir)
    expected = generate_texts(
        model, tokenizer, [r["input"] for r in rows], GenerationSettings(max_new_tokens=6)
    )
    assert [r["prediction"] for r in rows] == expected


def test_perplexity_of_two_models_side_by_side(cli, tiny_gpt2_dir, tmp_path, corpus_lines):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_gpt2_dir, other)
    data = tmp_path / "heldout.txt"
    data.write_text("\n".join(corpus_lines[:10]) + "\n", encoding="utf-8")
    out = tmp_path / "s.json"
    result = cli("eval", "--model", tiny_gpt2_dir, "--model", other, "--data", data,
                 "--output", out, "--set", "perplexity.stride=16")  # fmt: skip
    assert result.exit_code == 0, result.output
    systems = json.loads(out.read_text())["systems"]
    assert [s["model"]["task"] for s in systems] == ["perplexity", "perplexity"]
    assert systems[0]["metrics"] == systems[1]["metrics"]  # same weights, same score
    assert systems[0]["metrics"]["perplexity"] > 1.0
    # a random 300-token model is near uniform: gate on it the way CI would
    gated = cli("eval", "--model", tiny_gpt2_dir, "--data", data, "--fail-under", "perplexity=5")
    assert gated.exit_code == 1 and "above the gate 5" in gated.output


def test_causal_generation_task_scores_prompt_response(cli, tiny_gpt2_dir, jsonl, tmp_path):
    data = jsonl("sft.jsonl", [{"prompt": "ROMEO:", "response": "JULIET"}] * 2)
    out = tmp_path / "s.json"
    result = cli("eval", "--model", tiny_gpt2_dir, "--data", data, "--task", "sft",
                 "-m", "exact_match", "--output", out, "--set", "generation.max_new_tokens=3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"] == {"exact_match": 0.0}


@pytest.mark.parametrize("make_dir", ["missing", "empty", "tokenizer_only"])
def test_a_directory_that_is_not_a_model_exits_2(cli, tmp_path, causal_tokenizer_dir, make_dir):
    data = tmp_path / "d.txt"
    data.write_text("some text\n")
    model_dir = {
        "missing": tmp_path / "nope",
        "empty": tmp_path,
        "tokenizer_only": causal_tokenizer_dir,
    }[make_dir]
    result = cli("eval", "--model", model_dir, "--data", data)
    assert result.exit_code == 2
    assert "not a model directory" in result.output


def test_perplexity_of_a_model_directory_without_its_tokenizer_names_it(
    cli, tiny_gpt2_dir, tmp_path
):
    # AutoTokenizer builds an empty vocabulary from config.json alone: the error said no text
    # had two tokens
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((tiny_gpt2_dir / name).read_bytes())
    data = tmp_path / "d.txt"
    data.write_text("some text to score\n")
    result = cli("eval", "--model", bare, "--data", data)
    assert result.exit_code == 2
    assert f"models: {bare} holds no tokenizer files" in result.output


def test_perplexity_of_an_encoder_decoder_is_refused(cli, tiny_t5_dir, tmp_path):
    data = tmp_path / "d.txt"
    data.write_text("some text\n")
    result = cli("eval", "--model", tiny_t5_dir, "--data", data, "--task", "perplexity")
    assert result.exit_code == 2 and "needs a causal LM" in result.output


def test_missing_column_names_the_columns_present(cli, tiny_t5_dir, jsonl):
    data = jsonl("t.jsonl", [{"en": "a", "ro": "b"}])
    result = cli("eval", "--model", tiny_t5_dir, "--data", data)
    assert result.exit_code == 2
    assert "no column 'source' (columns: en, ro)" in result.output


LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    return tiny_model(
        "bert", "AutoModelForSequenceClassification", masked_tokenizer_dir,
        tmp_path_factory.mktemp("cls"), num_labels=2, id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )  # fmt: skip


def test_classification_through_the_finetune_task(cli, classifier_dir, jsonl, tmp_path):
    rows = [{"sentence": f"line {i} of text", "label": LABELS[i % 2]} for i in range(6)]
    out = tmp_path / "eval"
    result = cli("eval", "--model", classifier_dir, "--data", jsonl("dev.jsonl", rows),
                 "--set", "columns.text=sentence", "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["task"] == "classification"
    assert {"accuracy", "f1", "mcc", "loss"} <= set(scores["metrics"])
    predictions = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["reference"] for p in predictions] == [r["label"] for r in rows]
    assert {p["prediction"] for p in predictions} <= set(LABELS)
    hits = sum(p["prediction"] == p["reference"] for p in predictions)
    assert scores["metrics"]["accuracy"] == pytest.approx(hits / len(rows))


@pytest.mark.parametrize(
    ("task", "data", "columns"),
    [
        ("multiple-choice", "swag_validation.csv", []),
        ("token-classification", "ner_validation.jsonl", ["--set", "columns.label=ner"]),
        ("sft", "sft_validation.jsonl", []),
        ("code", "sft_validation.jsonl", ["--allow-code-execution"]),
    ],
)
def test_a_task_the_model_has_no_head_for_is_refused(
    cli, classifier_dir, task, data, columns, tmp_path
):
    """A sequence classifier scored as another task: multiple choice ended in transformers'
    size-mismatch traceback, token classification scored a randomly initialised head."""
    from tasks.finetune_helpers import fixture

    out = tmp_path / "eval"
    result = cli("eval", "--model", classifier_dir, "--task", task, "--data", fixture(data),
                 *columns, "--output-dir", out)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"task: {task} scores" in result.output
    assert "BertForSequenceClassification" in result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("task", ["classification", "question-answering"])
def test_a_base_model_without_a_task_head_is_refused(
    cli, masked_tokenizer_dir, tiny_model, jsonl, task, tmp_path
):
    """A BertModel (no head) scored as a task was scored with a freshly initialised head, exit
    0: the accuracy of a random classifier read as the model's."""
    from tasks.finetune_helpers import fixture

    base = tiny_model("bert", "AutoModel", masked_tokenizer_dir, tmp_path / "base")
    rows = [{"text": f"line {i}", "label": i % 2} for i in range(6)]
    data = {
        "classification": jsonl("dev.jsonl", rows),
        "question-answering": fixture("squad_tiny.json"),
    }
    windows = {  # windows that fit the model's 64 positions
        "classification": [],
        "question-answering": ["--set", "question_answering.doc_stride=8",
                               "--set", "question_answering.max_question_length=16"],
    }  # fmt: skip
    out = tmp_path / "eval"
    result = cli("eval", "--model", base, "--task", task, "--data", data[task], *windows[task],
                 "--output-dir", out)  # fmt: skip
    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]
    assert f"task: {task} scores" in error and "BertModel, which has no task head" in error
    assert "Traceback" not in result.output and not out.exists()


def test_token_classification_through_the_finetune_task(
    cli, masked_tokenizer_dir, tiny_model, jsonl, tmp_path
):
    tags = ["B-PER", "I-PER", "O"]
    model_dir = tiny_model(
        "bert", "AutoModelForTokenClassification", masked_tokenizer_dir, tmp_path / "ner",
        num_labels=3, id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
    )  # fmt: skip
    rows = [{"words": ["First", "Citizen", "speaks"], "label": ["B-PER", "I-PER", "O"]}] * 3
    out = tmp_path / "eval"
    result = cli(
        "eval", "--model", model_dir, "--data", jsonl("ner.jsonl", rows), "--output-dir", out
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["task"] == "token-classification"
    assert {"precision", "recall", "f1", "accuracy"} <= set(scores["metrics"])
    predictions = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(len(p["prediction"]) == 3 and set(p["prediction"]) <= set(tags) for p in predictions)


def test_two_process_eval_gives_the_scores_and_predictions_of_one(
    cli, classifier_dir, jsonl, tmp_path
):
    # 7 rows in batches of 2: 4 batches, so the second process's last shard is padded
    rows = [{"sentence": f"line {i} of some text", "label": LABELS[i % 3 % 2]} for i in range(7)]
    data = jsonl("dev.jsonl", rows)
    args = ["eval", "--model", str(classifier_dir), "--data", str(data),
            "--set", "columns.text=sentence", "--set", "batch_size=2"]  # fmt: skip
    one = cli(*args, "--output-dir", tmp_path / "one")
    assert one.exit_code == 0, one.output
    done = launch_two_processes(*args, "--output-dir", tmp_path / "two")
    assert done.returncode == 0, done.stderr[-3000:]

    scores = [json.loads((tmp_path / d / "scores.json").read_text()) for d in ("one", "two")]
    assert scores[1]["metrics"] == pytest.approx(scores[0]["metrics"], abs=1e-6)
    predictions = [(tmp_path / d / "predictions.jsonl").read_text() for d in ("one", "two")]
    assert predictions[1] == predictions[0]
    assert len(predictions[0].splitlines()) == len(rows)  # every row once, in order
