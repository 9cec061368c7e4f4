"""Seq2seq: EOS-terminated targets, ignored label padding, prefixes, learning a tiny dictionary,
lengths the decoder cannot hold, empty targets, BART and Marian from a local directory."""

import json

import pytest
from tasks.finetune_helpers import TINY_SEQ2SEQ, fixture, make_config, metric_rows, rows, splits

from llmkit.errors import ConfigError, DataError
from llmkit.models.loss import IGNORE_INDEX as IGNORE
from llmkit.tasks.seq2seq import Seq2SeqTask
from llmkit.tasks.spec import task_spec
from llmkit.train.stage import run_training

SEQ2SEQ = {"type": "seq2seq", "max_target_length": 16, "generation": {"max_new_tokens": 12}}
TRANSLATION = {
    "train": fixture("translation_train.jsonl"),
    "validation": fixture("translation_validation.jsonl"),
    "columns": {"source": "translation.en", "target": "translation.fr"},
}
TINY_BART_32 = {"family": "bart", "n_layers": 1, "hidden_size": 32, "context_length": 32}


def _task(tmp_path, tok, **options):
    cfg = make_config(tmp_path, tok, model=TINY_SEQ2SEQ, task=SEQ2SEQ | options)
    return Seq2SeqTask(task_spec(cfg))


def test_targets_end_with_eos_and_padding_carries_no_loss(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir, source_prefix="translate: ")
    raw = splits(train=[{"source": "one", "target": "un"}, {"source": "two red", "target": "x"}])
    ds = task.tokenize_splits(raw)["train"]
    eos = task.tokenizer.eos_token_id
    assert all(labels[-1] == eos for labels in ds["labels"])
    assert task.tokenizer.decode(ds[0]["input_ids"]).startswith("translate: one")
    batch = task.collate([ds[0], ds[1]])
    widths = [len(x) for x in ds["labels"]]
    short = widths.index(min(widths))
    assert (batch["labels"][short, min(widths) :] == IGNORE).all()
    assert int(task.count_loss_items(batch)) == sum(widths)


def test_long_targets_are_truncated_keeping_eos(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir, max_target_length=4)
    raw = splits(train=[{"source": "a", "target": "the king and the queen of the night"}])
    labels = task.tokenize_splits(raw)["train"][0]["labels"]
    assert len(labels) == 4 and labels[-1] == task.tokenizer.eos_token_id
    assert task.report.splits["train"]["targets_truncated"] == 1


def test_decoder_only_family_is_refused(tmp_path, causal_tokenizer_dir):
    with pytest.raises(ValueError, match="encoder-decoder"):
        make_config(tmp_path, causal_tokenizer_dir, task=SEQ2SEQ, model={"family": "gpt2"})


def test_learns_a_word_dictionary_from_nested_columns(tmp_path, causal_tokenizer_dir):
    cfg = make_config(
        tmp_path,
        causal_tokenizer_dir,
        model=TINY_SEQ2SEQ,
        task=SEQ2SEQ | {"metric": "rouge"},
        data=TRANSLATION,
        train={"batch_size": 8, "epochs": 10, "optimizer": {"lr": 5e-3}, "eval": {}},
    )
    out = run_training(cfg)
    train_loss = [r["loss"] for r in metric_rows(out, "train")]
    final = metric_rows(out, "validation")[-1]
    assert train_loss[-1] < train_loss[0] * 0.3
    assert final["rouge1"] > 0.3  # an untrained model's outputs share no word with the targets
    assert (out / "generation_config.json").is_file()


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    """family → a tiny encoder–decoder (64 positions) saved with its tokenizer, as
    `llmkit pretrain` or save_pretrained would leave it."""
    root = tmp_path_factory.mktemp("seq2seq_models")
    return {
        family: tiny_model(family, "AutoModelForSeq2SeqLM", causal_tokenizer_dir, root / family)
        for family in ("bart", "marian")
    }


def test_targets_longer_than_the_decoder_are_refused_before_training(
    tmp_path, causal_tokenizer_dir
):
    cfg = make_config(
        tmp_path,
        causal_tokenizer_dir,
        model=TINY_BART_32,
        task={"type": "seq2seq"},  # max_target_length defaults to 128
        data=TRANSLATION,
    )
    with pytest.raises(ConfigError, match=r"task.max_target_length \(128\) exceeds the 32 pos"):
        run_training(cfg)
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_generation_longer_than_the_decoder_is_refused_only_when_validating(
    tmp_path, causal_tokenizer_dir
):
    def task(max_new_tokens: int, **sections):
        options = {"max_target_length": 32, "generation": {"max_new_tokens": max_new_tokens}}
        cfg = make_config(
            tmp_path,
            causal_tokenizer_dir,
            model=TINY_BART_32,
            task={"type": "seq2seq", **options},
            **sections,
        )
        return Seq2SeqTask(task_spec(cfg))

    with pytest.raises(ConfigError, match=r"task.generation.max_new_tokens \(33\) .* 32 pos"):
        task(33, data=TRANSLATION)
    task(32, data=TRANSLATION)  # the decoder reads the start token + 31 generated ones
    train_only = {"train": TRANSLATION["train"], "columns": TRANSLATION["columns"]}
    task(33, data=train_only, split={"validation_ratio": 0.0})  # no validation, no generation


def test_position_limits_come_from_the_saved_model_and_t5_has_none(
    tmp_path, causal_tokenizer_dir, saved_models
):
    long_targets = {"type": "seq2seq", "max_target_length": 100}
    pretrained = make_config(
        tmp_path, None, model={"pretrained": str(saved_models["bart"])}, task=long_targets
    )
    with pytest.raises(ConfigError, match=r"max_target_length \(100\) exceeds the 64 pos"):
        Seq2SeqTask(task_spec(pretrained))
    # T5's relative positions hold targets of any length
    t5 = TINY_SEQ2SEQ | {"context_length": 32}
    Seq2SeqTask(task_spec(make_config(tmp_path, causal_tokenizer_dir, model=t5, task=long_targets)))


def _with_empty_target(tmp_path):
    data = rows("translation_train.jsonl")[:8]
    data.insert(3, {"translation": {"en": "house blue", "fr": "   "}})
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


@pytest.mark.parametrize("min_chars", [1, 0])
def test_empty_targets_are_dropped_and_counted_in_the_data_report(
    tmp_path, causal_tokenizer_dir, min_chars
):
    cfg = make_config(
        tmp_path,
        causal_tokenizer_dir,
        model=TINY_SEQ2SEQ,
        task=SEQ2SEQ,
        data=TRANSLATION | {"train": str(_with_empty_target(tmp_path)), "validation": None},
        cleaning={"min_chars": min_chars},  # blank text is "empty" whatever min_chars says
        split={"validation_ratio": 0.0},
        train={"batch_size": 4, "max_steps": 1},
    )
    out = run_training(cfg)
    report = json.loads((out / "finetune_data.json").read_text())
    assert report["train"]["dropped_empty"] == 1
    assert report["train"]["rows"] == 8


def test_an_empty_target_that_skipped_cleaning_names_the_split_and_row(
    tmp_path, causal_tokenizer_dir
):
    task = _task(tmp_path, causal_tokenizer_dir)
    raw = splits(validation=[{"source": "one", "target": "un"}, {"source": "two", "target": ""}])
    with pytest.raises(DataError, match=r"data.validation: row 2 has an empty 'target'"):
        task.tokenize_splits(raw)


@pytest.mark.parametrize("family", ["bart", "marian"])
def test_finetunes_a_saved_model_directory_with_bleu_validation(tmp_path, family, saved_models):
    from transformers import AutoModelForSeq2SeqLM

    cfg = make_config(
        tmp_path,
        None,  # the tokenizer saved next to the model
        model={"pretrained": str(saved_models[family])},
        task=SEQ2SEQ,  # metric: bleu by default
        data=TRANSLATION,
        train={"batch_size": 8, "max_steps": 3, "optimizer": {"lr": 5e-3}, "eval": {}},
    )
    out = run_training(cfg)
    validation = metric_rows(out, "validation")
    assert validation and 0.0 <= validation[-1]["bleu"] <= 100.0
    assert validation[-1]["step"] == 3
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert model.config.model_type == family
