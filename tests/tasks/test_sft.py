"""Instruction tuning: loss on exactly the response tokens, chat turns, packing, learning."""

import pytest
import torch
from tasks.finetune_helpers import TINY_DECODER, fixture, make_config, metric_rows, rows, splits
from transformers import AutoTokenizer

from llmkit.errors import DataError
from llmkit.tasks.sft import IGNORE, SFTTask, pack_examples
from llmkit.train.finetune import run_finetune

SFT = {"type": "causal"}


def _task(tmp_path, tok, max_length=None, **options):
    extra = {"max_length": max_length} if max_length else {}
    return SFTTask(make_config(tmp_path, tok, model=TINY_DECODER, task=SFT | options, **extra))


def _loss_text(task, row) -> str:
    return task.tokenizer.decode([t for t in row["labels"] if t != IGNORE])


def test_loss_is_on_exactly_the_response_tokens(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir)
    raw = splits(train=[{"prompt": "What color is the sky?", "response": "Blue, my lord."}])
    row = task.tokenize_splits(raw)["train"][0]
    eos = task.tokenizer.eos_token
    assert _loss_text(task, row) == f"Blue, my lord.{eos}"
    first = row["labels"].index(next(t for t in row["labels"] if t != IGNORE))
    prompt = task.tokenizer.decode(row["input_ids"][:first])
    assert prompt == f"<|user|>\nWhat color is the sky?{eos}\n<|assistant|>\n"
    # every position after the prompt carries loss, none before
    assert all(lab == IGNORE for lab in row["labels"][:first])
    assert row["labels"][first:] == row["input_ids"][first:]
    batch = task.collate([row])
    assert int(task.count_loss_items(batch)) == len(row["input_ids"]) - first


def test_every_assistant_turn_of_a_chat_carries_loss(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir)
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Farewell."},
    ]
    row = task.tokenize_splits(splits(train=[{"messages": chat}]))["train"][0]
    eos = task.tokenizer.eos_token
    assert _loss_text(task, row) == f"Hello.{eos}Farewell.{eos}"


def test_loss_on_prompt_trains_on_every_token(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir, loss_on_prompt=True)
    row = task.tokenize_splits(splits(train=[{"prompt": "a", "response": "b"}]))["train"][0]
    assert row["labels"] == row["input_ids"]


def test_config_chat_template_is_used_and_saved(tmp_path, causal_tokenizer_dir):
    template = (
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{{ eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    task = _task(tmp_path, causal_tokenizer_dir, chat_template=template)
    row = task.tokenize_splits(splits(train=[{"prompt": "a", "response": "b"}]))["train"][0]
    eos = task.tokenizer.eos_token
    assert task.tokenizer.decode(row["input_ids"]) == f"[user] a{eos}[assistant] b{eos}"
    assert _loss_text(task, row) == f" b{eos}"  # the token " b" straddles the turn header
    task.save_artifacts(torch.nn.Linear(1, 1), str(tmp_path))
    saved = AutoTokenizer.from_pretrained(tmp_path)
    assert saved.chat_template == template


def test_packing_joins_whole_examples_within_max_length(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir, max_length=128)
    ds = task.tokenize_splits(splits(train=rows("sft_train.jsonl")))["train"]
    packed = pack_examples(ds, 128)
    assert len(packed) < len(ds)
    assert max(packed["length"]) <= 128
    assert sum(packed["length"]) == sum(ds["length"])
    joined = [t for r in packed["labels"] for t in r]
    assert joined == [t for r in ds["labels"] for t in r]


def test_prompts_that_fill_max_length_are_dropped_and_counted(tmp_path, causal_tokenizer_dir):
    task = _task(tmp_path, causal_tokenizer_dir, max_length=32)
    data = [{"prompt": "the king " * 20, "response": "yes"}, {"prompt": "a", "response": "b"}]
    ds = task.tokenize_splits(splits(train=data))["train"]
    assert len(ds) == 1
    assert task.report.splits["train"]["dropped_no_response_tokens"] == 1
    assert task.report.splits["train"]["truncated"] == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "a", "response": " "}, "empty response"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ],
)
def test_unusable_examples_are_named(tmp_path, causal_tokenizer_dir, row, message):
    task = _task(tmp_path, causal_tokenizer_dir)
    with pytest.raises(DataError, match=f"row 1.*{message}"):
        task.tokenize_splits(splits(train=[row]))


def test_validation_loss_falls_with_packing(tmp_path, causal_tokenizer_dir):
    cfg = make_config(
        tmp_path,
        causal_tokenizer_dir,
        model=TINY_DECODER,
        task=SFT | {"packing": True},
        max_length=128,
        data={"train": fixture("sft_train.jsonl"), "validation": fixture("sft_validation.jsonl")},
        train={
            "batch_size": 4,
            "max_steps": 24,
            "optimizer": {"lr": 3e-3},
            "eval": {"every_steps": 12},
        },
    )
    out = run_finetune(cfg)
    evals = metric_rows(out, "validation")
    assert evals[-1]["loss"] < evals[0]["loss"] < 6.0
    assert evals[-1]["perplexity"] < 60  # a uniform guess over the 300-token vocabulary: 300
    assert (out / "generation_config.json").is_file()


def test_the_tokenizers_own_chat_template_is_used(tmp_path, causal_tokenizer_dir):
    """With no task.chat_template, a tokenizer that brings a template formats the chats."""
    tokenizer = AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    tokenizer.save_pretrained(tmp_path / "tok")
    task = _task(tmp_path, tmp_path / "tok")
    row = task.tokenize_splits(splits(train=[{"prompt": "a", "response": "b"}]))["train"][0]
    eos = task.tokenizer.eos_token
    assert task.tokenizer.decode(row["input_ids"]) == f"<user>a{eos}<assistant>b{eos}"


def test_chat_file_is_detected_and_trained_on_assistant_turns(tmp_path, causal_tokenizer_dir):
    """format: auto reads a `messages` column as chats; the run learns from it."""
    cfg = make_config(
        tmp_path,
        causal_tokenizer_dir,
        model=TINY_DECODER,
        task=SFT,
        data={"train": fixture("chat_train.jsonl")},
        split={"validation_ratio": 0.25},
        train={
            "batch_size": 4,
            "max_steps": 16,
            "optimizer": {"lr": 3e-3},
            "eval": {"every_steps": 8},
        },
    )
    task = SFTTask(cfg)
    first = task.prepare_datasets()["train"][0]
    eos = task.tokenizer.eos_token
    assert _loss_text(task, first).startswith("The ") and _loss_text(task, first).endswith(eos)
    evals = metric_rows(run_finetune(cfg), "validation")
    assert evals[-1]["loss"] < evals[0]["loss"]


def _sft_run(tmp_path, tokenizer, rows: list[dict]):
    """`llmkit finetune --dry-run` of a tiny GPT (context 64) on prompt/response rows."""
    import json

    import yaml
    from typer.testing import CliRunner

    from llmkit.cli.app import app

    tmp_path.mkdir()
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = {
        "stage": "finetune",
        "output_dir": str(tmp_path / "run"),
        "tokenizer": str(tokenizer),
        "model": TINY_DECODER | {"context_length": 64},
        "task": SFT,
        "data": {"train": str(data)},
        "split": {"validation_ratio": 0.0},
        "train": {"batch_size": 2, "logging": {"live": False, "trackers": []}},
    }
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(app, ["finetune", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    return result.output


def test_markers_the_tokenizer_cannot_spell_and_length_drops_warn_loudly(
    tmp_path, corpus_lines, causal_tokenizer_dir
):
    """The shipped tiny GPT's setup: a character tokenizer (no '<' or '|'), context 64."""
    from llmkit.config.tokenizer import TokenizerTrainConfig
    from llmkit.tokenizer import train_tokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines[:300]) + "\n", encoding="utf-8")
    char_dir = tmp_path / "char"
    train_tokenizer(
        TokenizerTrainConfig.model_validate(
            {"data": {"train": str(corpus)}, "output_dir": str(char_dir),
             "tokenizer": {"type": "char", "family": "causal"}}
        )
    )  # fmt: skip
    long_prompt = "What says the king of France to the Duke of Burgundy? " * 2
    examples = [{"prompt": f"Who? {i}", "response": "The king."} for i in range(10)] + [
        {"prompt": f"{long_prompt}{i}", "response": "Nothing."} for i in range(5)
    ]
    output = _sft_run(tmp_path / "a", char_dir, examples)
    warning = next(line for line in output.splitlines() if "markers do not survive" in line)
    assert "'<|user|>\\n' becomes '<unk><unk>user<unk><unk>\\n'" in warning
    length = next(line for line in output.splitlines() if "are dropped because" in line)
    assert "5 of 15 examples (33%) are truncated" in length
    assert "5 (33%) are dropped" in length and "max_length 64" in length

    # a byte-level BPE spells every marker and the short examples fit: no warning
    quiet = _sft_run(tmp_path / "b", causal_tokenizer_dir, examples[:10])
    assert "warning" not in quiet
