"""`llmkit eval` of an extractive QA model whose windows the defaults do not fit: a model with
few positions, or a smaller max_length. The window options are eval settings of their own, and
the error that stops a run names them as eval accepts them."""

import json

import pytest
from tasks.finetune_helpers import fixture
from tokenizers import processors
from transformers import AutoTokenizer


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """The tiny SQuAD fixture's Corla_Hills article (36 questions)."""
    squad = json.loads(open(fixture("squad_tiny.json"), encoding="utf-8").read())
    squad["data"] = [a for a in squad["data"] if a["title"] == "Corla_Hills"]
    path = tmp_path_factory.mktemp("squad") / "corla.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def short_qa_model(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    """A BERT QA model of 64 positions made outside llmkit (no llmkit_config.yaml)."""
    out = tmp_path_factory.mktemp("qa64")
    return tiny_model("bert", "AutoModelForQuestionAnswering", masked_tokenizer_dir, out)


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


def test_window_options_the_defaults_do_not_fit_are_set_in_eval(cli, short_qa_model, held_out):
    # the finetune defaults (doc_stride 128, questions of 64 tokens) leave no room in 64
    error = _error(cli("eval", "--model", short_qa_model, "--data", held_out))
    assert "question_answering.doc_stride (128)" in error
    assert "lower question_answering.doc_stride or question_answering.max_question_length" in error
    assert "task.doc_stride" not in error  # finetune's key, which eval does not take

    out = held_out.parent / "scores.json"
    result = cli("eval", "--model", short_qa_model, "--data", held_out, "--output", out,
                 "--set", "question_answering.doc_stride=8",
                 "--set", "question_answering.max_question_length=16")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["total"] == 36


@pytest.fixture(scope="module")
def roberta_style_qa_model(tmp_path_factory, masked_tokenizer_dir, tiny_model):
    """A QA model of 64 positions whose tokenizer puts 4 special tokens around a pair, as
    RoBERTa's does (<s> A </s></s> B </s>)."""
    tokenizer = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer_dir = tmp_path_factory.mktemp("tok4")
    tokenizer.save_pretrained(tokenizer_dir)
    assert AutoTokenizer.from_pretrained(tokenizer_dir).num_special_tokens_to_add(pair=True) == 4
    out = tmp_path_factory.mktemp("qa4")
    return tiny_model("bert", "AutoModelForQuestionAnswering", tokenizer_dir, out)


def test_the_window_check_counts_the_tokenizers_own_special_tokens(
    cli, roberta_style_qa_model, held_out
):
    # questions cut to 4 tokens leave 64 - 4 - 4 = 56 context tokens in a window: a stride of
    # 56 cannot fit, and the tokenizer would stop mid-run
    common = ("eval", "--model", roberta_style_qa_model, "--data", held_out,
              "--set", "question_answering.max_question_length=4")  # fmt: skip
    error = _error(cli(*common, "--set", "question_answering.doc_stride=56"))
    assert "max_length 64 - max_question_length 4 - 4 special tokens = 56" in error
    out = held_out.parent / "four.json"
    result = cli(*common, "--set", "question_answering.doc_stride=55", "--output", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["total"] == 36


def test_a_bad_row_of_the_eval_file_can_be_skipped_with_an_eval_key(
    cli, short_qa_model, held_out, tmp_path
):
    # the error named task.bad_rows, a key eval does not take: the file could not be scored
    squad = json.loads(held_out.read_text(encoding="utf-8"))
    squad["data"][0]["paragraphs"][0]["qas"][0]["question"] = ""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(squad), encoding="utf-8")
    common = ("eval", "--model", short_qa_model, "--data", bad,
              "--set", "question_answering.doc_stride=8",
              "--set", "question_answering.max_question_length=16")  # fmt: skip
    error = _error(cli(*common))
    assert "row 1" in error and "no question" in error
    assert "question_answering.bad_rows: skip" in error and "task.bad_rows" not in error
    out = tmp_path / "skipped.json"
    result = cli(*common, "--set", "question_answering.bad_rows=skip", "--output", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["total"] == 35
