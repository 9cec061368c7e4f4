"""Code generation end to end: SFT on MBPP-style problems with a prompt template and an id
split, then `llmkit eval` task code samples programs from that model and scores them by running
them. A tiny random model's programs fail; the pipeline and the verdict accounting are what is
checked."""

import json

import yaml
from code_problems import write_problems
from tasks.finetune_helpers import QUIET_TRAIN, TINY_DECODER

from llmkit.config.code_eval import CodeEvalOptions
from llmkit.evaluation.code_generation import clean_completion

TEMPLATE = "{text}\nYour code should pass these tests:\n{test_list}\n"


def _finetune_config(tmp_path, tokenizer, data, **data_overrides):
    cfg = {
        "stage": "finetune",
        "output_dir": str(tmp_path / "sft"),
        "tokenizer": str(tokenizer),
        "model": TINY_DECODER | {"context_length": 256},
        "task": {"type": "sft", "format": "prompt-response"},
        "max_length": 256,
        "data": {
            "train": str(data),
            "prompt_template": TEMPLATE,
            "columns": {"response": "code"},
            "id_split": {"column": "task_id", "train": [3, 6], "validation": [2, 2]},
            **data_overrides,
        },  # fmt: skip
        "train": QUIET_TRAIN | {"batch_size": 2, "max_steps": 2, "optimizer": {"lr": 3e-3}},
    }
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_finetune_on_code_then_pass_at_k_of_sampled_programs(cli, tmp_path, causal_tokenizer_dir):
    data = write_problems(tmp_path / "problems.jsonl")
    result = cli("finetune", _finetune_config(tmp_path, causal_tokenizer_dir, data))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "sft" / "finetune_data.json").read_text())
    assert report["train"]["rows"] == 4 and report["validation"]["rows"] == 1  # ids 3-6 and 2

    out = tmp_path / "eval"
    result = cli("eval", "--model", tmp_path / "sft", "--data", data, "--task", "code",
                 "--allow-code-execution", "--output-dir", out,
                 "--set", "code.task_ids=[1,2]", "--set", "code.samples=3",
                 "--set", "code.k=[1,2,10]", "--set", "code.timeout=5",
                 "--set", "generation.do_sample=true", "--set", "generation.max_new_tokens=12",
                 "--set", "batch_size=4")  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["metrics"]) == {"pass@1", "pass@2", "problems", "samples"}  # 10 > n
    assert scores["metrics"]["problems"] == 2 and scores["metrics"]["samples"] == 6
    # asked as it was taught: the template comes from the model's saved finetune config
    assert scores["model"]["finetune_settings"] == {"code.prompt_template": TEMPLATE}
    verdicts = scores["model"]["verdicts"]
    assert sum(verdicts.values()) == 6 and scores["model"]["reference_style"] == "mbpp"
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(r["task_id"], r["sample"]) for r in rows] == [(t, s) for t in (1, 2) for s in range(3)]
    assert sum(r["verdict"] == "passed" for r in rows) == verdicts["passed"]
    assert scores["metrics"]["pass@1"] == verdicts["passed"] / 6
    options = CodeEvalOptions()
    for row in rows:
        assert row["completion"] == clean_completion(row["generated"], options)
        assert row["verdict"] == "passed" or row["error"]


def test_a_template_naming_a_missing_column_stops_before_training(
    cli, tmp_path, causal_tokenizer_dir
):
    data = write_problems(tmp_path / "problems.jsonl")
    config = _finetune_config(tmp_path, causal_tokenizer_dir, data, prompt_template="{prompt}")
    result = cli("finetune", config)
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]  # above it: datasets' progress bars
    assert line.startswith("error: data.prompt_template: ") and "column 'prompt'" in line
    assert not (tmp_path / "sft").exists()


def test_completion_cleaning_extracts_fenced_code_and_stops():
    options = CodeEvalOptions()
    chat = "Sure! Here it is:\n```python\ndef add(a, b):\n    return a + b\n```\nHope it helps."
    assert clean_completion(chat, options) == "def add(a, b):\n    return a + b\n"
    raw = "def add(a, b):\n    return a + b\n\ndef other():\n    pass\nprint(add(1, 2))"
    assert clean_completion(raw, options) == "def add(a, b):\n    return a + b\n"
    keep_helpers = options.model_copy(update={"stop": ["\nprint("]})
    assert "def other" in clean_completion(raw, keep_helpers)
    always = options.model_copy(update={"extract_code_block": "always"})
    assert clean_completion(raw, always) == ""
    never = options.model_copy(update={"extract_code_block": "never"})
    assert clean_completion(chat, never).startswith("Sure!")
