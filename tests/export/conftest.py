"""Tiny saved models of each family the exporters take (2 layers, hidden 32), built from config,
and a short LoRA finetuning run on a saved base; one torch thread."""

import pytest

from tests.tasks.finetune_helpers import TINY_ENCODER, fixture, make_config


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


LABELS = {"id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="session")
def bert_classifier_dir(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("bert_cls")
    return tiny_model(
        "bert", "AutoModelForSequenceClassification", masked_tokenizer_dir, out, num_labels=2,
        **LABELS,
    )  # fmt: skip


@pytest.fixture(scope="session")
def bert_tagger_dir(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("bert_tag")
    return tiny_model(
        "bert", "AutoModelForTokenClassification", masked_tokenizer_dir, out,
        num_labels=len(TAGS), id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)},
    )  # fmt: skip


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    return tiny_model(
        "gpt2", "AutoModelForCausalLM", causal_tokenizer_dir, tmp_path_factory.mktemp("gpt2")
    )


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    return tiny_model(
        "llama", "AutoModelForCausalLM", causal_tokenizer_dir, tmp_path_factory.mktemp("llama")
    )


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    return tiny_model(
        "t5", "AutoModelForSeq2SeqLM", causal_tokenizer_dir, tmp_path_factory.mktemp("t5")
    )


@pytest.fixture(scope="session")
def lora_run_dir(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    """A finished LoRA classification run on a saved base, validated every 2 steps, keeping the
    best model (by loss)."""
    from llmkit.train.stage import run_training

    # a classifier base: its pooler is saved, so the adapter on it reproduces the run
    base = tiny_model(
        "bert", "AutoModelForSequenceClassification", masked_tokenizer_dir,
        tmp_path_factory.mktemp("base"), num_labels=2, **LABELS,
    )  # fmt: skip
    cfg = make_config(
        tmp_path_factory.mktemp("lora_run"),
        None,
        model={"pretrained": str(base)},
        task={"type": "classification"},
        data={
            "train": fixture("sentiment_train.jsonl"),
            "validation": fixture("sentiment_validation.jsonl"),
        },
        lora={"enabled": True, "r": 4, "alpha": 8, "target_modules": ["query", "value"]},
        train={"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 5e-2},
               "eval": {"every_steps": 2, "best_metric": "loss"},
               "checkpoint": {"keep_best": True}},
    )  # fmt: skip
    return run_training(cfg)


@pytest.fixture(scope="session")
def qa_run_dir(tmp_path_factory, masked_tokenizer_dir):
    """A few steps of extractive QA finetuning on the tiny SQuAD fixture (article Corla_Hills
    held out), in windows of 96 tokens sharing 16."""
    from llmkit.train.stage import run_training

    cfg = make_config(
        tmp_path_factory.mktemp("qa_run"), masked_tokenizer_dir,
        model={**TINY_ENCODER, "context_length": 96}, max_length=96,
        task={"type": "question-answering", "doc_stride": 16},
        data={"train": fixture("squad_tiny.json"),
              "group_split": {"column": "title", "validation": ["Corla_Hills"]}},
        train={"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 5e-3}},
    )  # fmt: skip
    return run_training(cfg)


@pytest.fixture(scope="session")
def choice_run_dir(tmp_path_factory, masked_tokenizer_dir):
    """A few steps of multiple-choice finetuning on the tiny SWAG fixture."""
    from llmkit.train.stage import run_training

    cfg = make_config(
        tmp_path_factory.mktemp("choice_run"), masked_tokenizer_dir, model=TINY_ENCODER,
        max_length=48, task={"type": "multiple-choice"},
        data={"train": fixture("swag_train.csv"), "validation": fixture("swag_validation.csv")},
        train={"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 3e-3}},
    )  # fmt: skip
    return run_training(cfg)


@pytest.fixture(scope="session")
def exported(tmp_path_factory, request):
    """exported(model_fixture_name, format, *flags) → the output directory of
    `llmkit export` (the real CLI), exported once per session per arguments."""
    from typer.testing import CliRunner

    from llmkit.cli.app import app

    cache: dict[tuple, object] = {}

    def export(model_fixture: str, fmt: str, *flags: str):
        key = (model_fixture, fmt, *flags)
        if key not in cache:
            out = tmp_path_factory.mktemp("export") / fmt
            source = request.getfixturevalue(model_fixture)
            args = ["export", str(source), "--format", fmt, "--output", str(out), *flags]
            result = CliRunner().invoke(app, args, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            cache[key] = (out, result.output)
        return cache[key]

    return export
