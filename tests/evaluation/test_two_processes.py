"""`accelerate launch --num_processes 2 -m llmkit eval …` scores as one process does: the
generation batches, perplexity's windows, the sampled programs and masked LM batches are shared
out across the processes and gathered back in order, the duplicates that pad the last share
dropped.

On this machine the two processes run on the CPU over gloo, one thread each."""

import json

import pytest
from code_problems import write_problems
from two_processes import launch_two_processes

PAIRS = [
    {"translation": {"en": "the king is dead", "ro": "regele a murit"}},
    {"translation": {"en": "long live the king", "ro": "trăiască regele"}},
    {"translation": {"en": "what light through yonder window breaks", "ro": "ce lumină"}},
]


def _one_and_two_processes(cli, args: list, tmp_path) -> list[dict]:
    """scores.json of `llmkit eval ARGS` in this process, then under 2 processes."""
    one = cli(*args, "--output-dir", tmp_path / "one")
    assert one.exit_code == 0, one.output
    done = launch_two_processes(*args, "--output-dir", tmp_path / "two")
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((tmp_path / d / "scores.json").read_text()) for d in ("one", "two")]


def _predictions(tmp_path) -> list[str]:
    return [(tmp_path / d / "predictions.jsonl").read_text() for d in ("one", "two")]


def test_seq2seq_scores_and_predictions_of_two_processes_are_those_of_one(
    cli, tiny_t5_dir, jsonl, tmp_path
):
    # 5 rows in batches of 2: 3 generation batches, so the second process repeats one
    rows = [PAIRS[i % 3] for i in range(5)]
    rows[3] = {"translation": {"en": "a much longer source sentence than the others", "ro": "x"}}
    args = ["eval", "--model", tiny_t5_dir, "--data", jsonl("test.jsonl", rows),
            "--set", "columns.source=translation.en", "--set", "columns.target=translation.ro",
            "--set", "generation.max_new_tokens=6", "--set", "batch_size=2"]  # fmt: skip
    scores = _one_and_two_processes(cli, args, tmp_path)
    assert {"bleu", "chrf", "rouge1"} <= set(scores[0]["metrics"])
    assert scores[1]["metrics"] == scores[0]["metrics"]
    assert scores[1]["signatures"] == scores[0]["signatures"]
    one, two = _predictions(tmp_path)
    assert two == one
    predicted = [json.loads(line) for line in one.splitlines()]
    assert [r["reference"] for r in predicted] == [r["translation"]["ro"] for r in rows]


def test_perplexity_of_two_processes_is_the_token_weighted_one(
    cli, tiny_gpt2_dir, tmp_path, corpus_lines
):
    data = tmp_path / "heldout.txt"
    # 7 texts of unequal length in windows of 16 tokens, batches of 3 windows: the processes
    # score unequal numbers of tokens, so a mean of per-process means would differ
    data.write_text("\n".join(corpus_lines[:7]) + "\n", encoding="utf-8")
    args = ["eval", "--model", tiny_gpt2_dir, "--data", data, "--set", "batch_size=3",
            "--set", "perplexity.context_length=16", "--set", "perplexity.stride=8"]  # fmt: skip
    scores = _one_and_two_processes(cli, args, tmp_path)
    assert scores[0]["metrics"]["tokens"] > 16
    assert scores[1]["metrics"] == pytest.approx(scores[0]["metrics"], rel=1e-9)


def test_sampled_programs_of_two_processes_are_those_of_one(cli, tiny_gpt2_dir, tmp_path):
    data = write_problems(tmp_path / "problems.jsonl")
    # 2 problems x 3 samples in batches of 4: 2 sampled batches, one per process
    args = ["eval", "--model", tiny_gpt2_dir, "--data", data, "--task", "code",
            "--allow-code-execution", "--set", "code.task_ids=[1,2]", "--set", "code.samples=3",
            "--set", "code.k=[1,2]", "--set", "code.timeout=5",
            "--set", "generation.do_sample=true", "--set", "generation.max_new_tokens=8",
            "--set", "generation.max_input_tokens=48",
            "--set", "batch_size=4"]  # fmt: skip
    scores = _one_and_two_processes(cli, args, tmp_path)
    assert scores[1]["metrics"] == scores[0]["metrics"]
    assert scores[1]["model"]["verdicts"] == scores[0]["model"]["verdicts"]
    one, two = _predictions(tmp_path)
    assert two == one
    generated = [json.loads(line)["generated"] for line in one.splitlines()]
    assert len(generated) == 6
    assert len(set(generated[:3])) > 1  # one prompt's samples differ: each draws its own


def test_masked_lm_scores_of_two_processes_are_those_of_one(
    cli, tiny_model, masked_tokenizer_dir, tmp_path, corpus_lines
):
    model = tiny_model("bert", "AutoModelForMaskedLM", masked_tokenizer_dir, tmp_path / "mlm")
    data = tmp_path / "heldout.txt"
    data.write_text("\n".join(corpus_lines[:40]) + "\n", encoding="utf-8")
    # masks are drawn per batch, and a batch's shape decides them: a short last batch must
    # stay short under 2 processes (accelerate would complete it with other rows), and the
    # batch that pads the second process's share must be dropped
    args = ["eval", "--model", model, "--data", data, "--set", "batch_size=3",
            "--set", "max_length=24"]  # fmt: skip
    scores = _one_and_two_processes(cli, args, tmp_path)
    blocks = scores[0]["model"]["blocks"]
    assert scores[0]["model"]["task"] == "mlm" and blocks > 6 and blocks % 3 != 0
    assert scores[1]["metrics"] == pytest.approx(scores[0]["metrics"], rel=1e-9)
