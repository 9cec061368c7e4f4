"""Seq2seq: EOS-terminated targets, ignored label padding, prefixes, learning a tiny dictionary."""

import pytest
from tasks.finetune_helpers import TINY_SEQ2SEQ, fixture, make_config, metric_rows, splits

from llmkit.tasks.seq2seq import IGNORE, Seq2SeqTask
from llmkit.train.finetune import run_finetune

SEQ2SEQ = {"type": "seq2seq", "max_target_length": 16, "generation": {"max_new_tokens": 12}}


def _task(tmp_path, tok, **options):
    cfg = make_config(tmp_path, tok, model=TINY_SEQ2SEQ, task=SEQ2SEQ | options)
    return Seq2SeqTask(cfg)


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
        data={
            "train": fixture("translation_train.jsonl"),
            "validation": fixture("translation_validation.jsonl"),
            "columns": {"source": "translation.en", "target": "translation.fr"},
        },
        train={"batch_size": 8, "epochs": 10, "optimizer": {"lr": 5e-3}, "eval": {}},
    )
    out = run_finetune(cfg)
    train_loss = [r["loss"] for r in metric_rows(out, "train")]
    final = metric_rows(out, "validation")[-1]
    assert train_loss[-1] < train_loss[0] * 0.3
    assert final["rouge1"] > 0.3  # an untrained model's outputs share no word with the targets
    assert (out / "generation_config.json").is_file()
