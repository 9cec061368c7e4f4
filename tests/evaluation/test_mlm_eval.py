"""`llmkit eval` of a plain masked LM (…ForMaskedLM, `llmkit pretrain` with task.type mlm): MLM
loss and perplexity on held-out text, packed and masked as the run's validation was."""

import json

import pytest
import yaml

QUIET = {"logging": {"every_steps": 2, "live": False, "trackers": []}}


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, pretrain_bert, corpus_lines):
    """A few steps of masked LM pretraining (whole words, p 0.2, seed 7), validated on
    held_out.txt; (run, held-out file)."""
    root = tmp_path_factory.mktemp("mlm_eval")
    (root / "train.txt").write_text("\n".join(corpus_lines[:300]) + "\n", encoding="utf-8")
    held_out = root / "held_out.txt"
    # blank lines are documents preprocess drops (min_chars): eval must skip them too
    held_out.write_text("\n\n".join(corpus_lines[300:360]) + "\n", encoding="utf-8")
    task = {"type": "mlm", "mlm_probability": 0.2, "whole_word_mask": True}
    return pretrain_bert(root, task, {"block_size": 40}, {"batch_size": 3}), held_out


def test_held_out_scores_equal_the_runs_validation(cli, mlm_run, tmp_path):
    run, held_out = mlm_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in rows if r["split"] == "validation"][-1]
    out = tmp_path / "eval"
    # the run's validation batch size (train.eval.batch_size): masks are drawn per batch
    result = cli("eval", "--model", run, "--data", held_out, "--set", "batch_size=3",
                 "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"]["task"] == "mlm"  # inferred from BertForMaskedLM
    assert scores["model"]["pretrain_settings"] == {
        "text_unit": "line", "block_size": 40,
        "mlm_probability": 0.2, "whole_word_mask": True, "seed": 7,  # the run's masking
    }  # fmt: skip
    packed = json.loads((run.parent / "preprocessed" / "manifest.json").read_text())
    assert scores["model"]["blocks"] == packed["splits"]["validation"]["rows"]
    for name in ("loss", "perplexity"):
        assert scores["metrics"][name] == pytest.approx(validation[name], rel=1e-5), name
    # another batch size masks other tokens: the scores move, so the match above is no accident
    result = cli("eval", "--model", run, "--data", held_out, "--output", tmp_path / "b8.json")
    assert result.exit_code == 0, result.output
    other = json.loads((tmp_path / "b8.json").read_text())["metrics"]
    assert other["loss"] != pytest.approx(validation["loss"], rel=1e-5)


def test_overrides_gates_and_models_llmkit_did_not_pretrain(
    cli, mlm_run, tiny_model, masked_tokenizer_dir, tmp_path
):
    run, held_out = mlm_run
    result = cli("eval", "--model", run, "--data", held_out, "--set", "max_length=16",
                 "--output", tmp_path / "s.json", "--fail-under", "perplexity=1.0")  # fmt: skip
    assert result.exit_code == 1  # perplexity: lower is better, so 1.0 is out of reach
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["model"]["pretrain_settings"]["block_size"] == 16
    # a masked LM without a run's config: default masking (p 0.15, seed 0), its own positions
    masked = tiny_model("roberta", "AutoModelForMaskedLM", masked_tokenizer_dir, tmp_path / "rb")
    result = cli("eval", "--model", masked, "--data", held_out, "--output", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "r.json").read_text())
    assert scores["model"]["task"] == "mlm"
    assert scores["model"]["pretrain_settings"] == {
        "text_unit": "line", "block_size": 64,
        "mlm_probability": 0.15, "whole_word_mask": False, "seed": 0,  # README: BERT's
    }  # fmt: skip
    assert scores["metrics"]["perplexity"] > 1.0


def test_other_models_and_pair_options_are_refused(cli, mlm_run, tiny_gpt2_dir):
    run, held_out = mlm_run
    result = cli("eval", "--model", tiny_gpt2_dir, "--data", held_out, "--task", "mlm")
    assert result.exit_code == 2
    assert "task mlm needs a model with a masked LM head" in result.output
    result = cli("eval", "--model", run, "--data", held_out, "--task", "mlm-nsp")
    assert result.exit_code == 2 and "leave task unset to score it as mlm" in result.output
    result = cli("eval", "--model", run, "--data", held_out, "--set", "masked_lm.segments=line")
    assert result.exit_code == 2 and "masked_lm.segments" in result.output
    # a causal-LM task names the masked LM's own
    result = cli("eval", "--model", run, "--data", held_out, "--task", "perplexity")
    assert result.exit_code == 2 and "task mlm" in result.output


def test_a_model_directory_without_its_tokenizer_is_one_line(cli, mlm_run, tmp_path):
    # from config.json alone AutoTokenizer builds an empty vocabulary: every token [UNK]
    run, held_out = mlm_run
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((run / name).read_bytes())
    result = cli("eval", "--model", bare, "--data", held_out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"models: {bare} holds no tokenizer files" in result.output.strip().splitlines()[-1]


def test_data_without_the_text_column_names_the_key_to_map(cli, mlm_run, jsonl):
    run, _ = mlm_run
    data = jsonl("rows.jsonl", [{"body": "the cat sat on the mat"}])
    result = cli("eval", "--model", run, "--data", data)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "for columns.text" in result.output and "--set columns.text=body" in result.output


def test_text_where_no_token_is_masked_is_refused_not_scored_perfect(cli, mlm_run, jsonl):
    # special tokens are never masked: a loss over no token would read 0, perplexity 1
    run, _ = mlm_run
    data = jsonl("specials.jsonl", [{"text": "[CLS] [SEP] [PAD] [MASK] [UNK]"}])
    result = cli("eval", "--model", run, "--data", data, "--set", "max_length=4")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "masking chose none of its tokens" in result.output


def test_a_model_that_does_not_bound_its_positions_asks_for_max_length(cli, mlm_run, tmp_path):
    # relative positions (no position table) and no run config: no block length to take
    run, held_out = mlm_run
    model = tmp_path / "relative"
    model.mkdir()
    for file in run.iterdir():
        if file.is_file() and file.name != "llmkit_config.yaml":
            (model / file.name).write_bytes(file.read_bytes())
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"relative_attention_num_buckets": 32}))
    result = cli("eval", "--model", model, "--data", held_out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "max_length: the model does not say" in result.output
    result = cli("eval", "--model", model, "--data", held_out, "--set", "max_length=40",
                 "--output", tmp_path / "scores.json")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_run_on_a_separate_preprocess_output_reuses_its_settings(
    cli, masked_tokenizer_dir, corpus_lines, tmp_path
):
    # data.dataset_dir: text_unit and block_size come from the preprocess output's own config
    train, held_out = tmp_path / "train.txt", tmp_path / "held_out.txt"
    train.write_text("\n\n".join(corpus_lines[:200]) + "\n", encoding="utf-8")
    held_out.write_text("\n".join(corpus_lines[200:260]) + "\n", encoding="utf-8")
    preprocess = {
        "stage": "preprocess", "output_dir": str(tmp_path / "packed"),
        "data": {"train": str(train), "text_unit": "paragraph"},
        "cleaning": {"deduplicate": False}, "tokenizer": str(masked_tokenizer_dir),
        "block_size": 24,
    }  # fmt: skip
    pretrain = {
        "stage": "pretrain", "output_dir": str(tmp_path / "run"),
        "model": {"family": "bert", "n_layers": 2, "hidden_size": 32, "n_heads": 2,
                  "context_length": 64},
        "task": {"type": "mlm"}, "data": {"dataset_dir": str(tmp_path / "packed")},
        "train": {"batch_size": 4, "max_steps": 1, **QUIET},
    }  # fmt: skip
    for stage, config in (("preprocess", preprocess), ("pretrain", pretrain)):
        path = tmp_path / f"{stage}.yaml"
        path.write_text(yaml.safe_dump(config))
        result = cli(stage, path)
        assert result.exit_code == 0, result.output
    out = tmp_path / "scores.json"
    result = cli("eval", "--model", tmp_path / "run", "--data", held_out, "--output", out)
    assert result.exit_code == 0, result.output
    settings = json.loads(out.read_text())["model"]["pretrain_settings"]
    assert (settings["text_unit"], settings["block_size"]) == ("paragraph", 24)
