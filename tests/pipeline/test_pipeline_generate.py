"""A `generate` stage in `llmkit run`: the model of an earlier stage completes the prompts of an
input file into <output_dir>/generations.jsonl, as `llmkit generate` would; the report shows the
first generations; an unchanged stage is skipped, a changed generation setting or prompt file
reruns it; a broken section is refused before anything runs."""

import json
import shlex
from pathlib import Path

import pytest
from pipeline_helpers import record_completed, write_pipeline

from llmkit.config.pipeline import load_pipeline
from llmkit.errors import DataError
from llmkit.pipeline.plan import Selection, build_plan

PROMPTS = ["the king", "my good lady", "night and"]


def _generating(root, pipeline) -> dict:
    """The tiny pipeline up to pretraining, then a generate stage on the pretrained model."""
    with open(root / "prompts.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": p}) + "\n" for p in PROMPTS)
    stages = pipeline["stages"]
    for name in ("sft", "score", "export"):
        del stages[name]
    stages["gen"] = {
        "stage": "generate", "model": "${pretrain}", "input_file": str(root / "prompts.jsonl"),
        "input_field": "text", "batch_size": 2, "device": "cpu",
        "generation": {"max_new_tokens": 4},
    }  # fmt: skip
    return pipeline


def _figures(pipe) -> dict[str, dict]:
    figures = json.loads((pipe / "pipeline.json").read_text())
    return {s["stage"]: s for s in figures["stages"]}


def _generations(directory) -> list[dict]:
    lines = (directory / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_generate_stage_runs_skips_and_reruns_on_a_changed_setting(cli, tiny, one_thread):
    root, pipeline = tiny
    path, pipe = write_pipeline(root, _generating(root, pipeline)), root / "pipe"
    planned = cli("run", path, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "gen: output writable; its inputs come from pretrain, which runs first" in planned.output

    result = cli("run", path)
    assert result.exit_code == 0, result.output
    rows = _generations(pipe / "gen")
    assert [r["prompt"] for r in rows] == PROMPTS  # input order, as `llmkit generate` writes
    assert all(isinstance(r["output"], str) for r in rows)
    gen = _figures(pipe)["gen"]
    assert gen["status"] == "ran" and gen["generations"] == 3
    assert [g["prompt"] for g in gen["first_generations"]] == PROMPTS
    report = (pipe / "report.md").read_text()
    assert "| prompt | output |" in report and "| the king |" in report

    # the report's command repeats the stage alone, as `llmkit generate` on its resolved config
    command = shlex.split(gen["command"])
    assert command[:3] == ["llmkit", "generate", "--config"]
    alone = cli(*command[1:])
    assert alone.exit_code == 0, alone.output
    assert _generations(root / "pipe" / "gen-again") == rows

    again = cli("run", path)
    assert again.exit_code == 0, again.output
    assert {s["status"] for s in _figures(pipe).values()} == {"skipped"}

    longer = cli("run", path, "--set", "stages.gen.generation.max_new_tokens=6")
    assert longer.exit_code == 0, longer.output
    statuses = {name: s["status"] for name, s in _figures(pipe).items()}
    assert statuses == {"tok": "skipped", "prep": "skipped", "pretrain": "skipped", "gen": "ran"}
    assert _figures(pipe)["gen"]["reason"] == "config changed: generation.max_new_tokens"
    saved = (pipe / "gen" / "llmkit_config.yaml").read_text()
    assert "max_new_tokens: 6" in saved

    with open(root / "prompts.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"text": "a lord"}) + "\n")
    edited = cli("run", path, "--set", "stages.gen.generation.max_new_tokens=6")
    assert edited.exit_code == 0, edited.output
    assert _figures(pipe)["gen"]["status"] == "ran"
    assert [r["prompt"] for r in _generations(pipe / "gen")] == [*PROMPTS, "a lord"]

    # the dry run loads the model and fits every prompt plus its new tokens into its context
    before = (pipe / "gen" / "generations.jsonl").read_text()
    too_long = cli("run", path, "--dry-run", "--set", "stages.gen.generation.max_new_tokens=100")
    assert too_long.exit_code == 2, too_long.output
    line = too_long.output.strip().splitlines()[-1]
    assert "stages.gen: prompt " in line and "beyond the model's context of 64" in line
    assert (pipe / "gen" / "generations.jsonl").read_text() == before


def _refused(cli, root, pipeline, *args) -> str:
    result = cli("run", write_pipeline(root, pipeline), *args)
    assert result.exit_code == 2, result.output
    assert not (root / "pipe").exists()  # nothing ran, nothing was written
    out = result.output.strip()
    assert len(out.splitlines()) == 1, out
    return out


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("generation", {"max_new_tokenz": 4}, "unknown key 'stages.gen.generation.max_new_tokenz'"),
        ("generation", {"max_new_tokens": 0}, "stages.gen.generation.max_new_tokens: "),
        ("batch_size", "many", "stages.gen.batch_size: "),
        ("model", None, "stages.gen.model: required in a pipeline"),
        ("input_file", None, "stages.gen: no prompts"),
        ("input_file", "missing.jsonl", "stages.gen.input_file: missing.jsonl does not exist"),
    ],
)
def test_a_broken_generate_section_is_refused_before_any_stage_runs(cli, tiny, key, value, shown):
    root, pipeline = tiny
    pipeline = _generating(root, pipeline)
    pipeline["stages"]["gen"][key] = value
    assert shown in _refused(cli, root, pipeline)


def test_a_bad_generate_override_is_refused_before_any_stage_runs(cli, tiny):
    root, pipeline = tiny
    out = _refused(cli, root, _generating(root, pipeline), "--set", "stages.gen.generation.top_p=2")
    assert out.startswith("error: --set: stages.gen.generation.top_p: ")


def test_a_generate_stage_on_a_model_directory_reruns_when_the_model_changes(tiny):
    """The model may be any directory, not only an earlier stage's output; prompts given in the
    section are text, even one that names a file."""
    root, _ = tiny
    (root / "model").mkdir()
    (root / "model" / "config.json").write_text("{}")
    (root / "the king").write_text("a file named like a prompt")
    pipeline = {
        "stage": "pipeline", "output_dir": str(root / "pipe"),
        "stages": {"gen": {"stage": "generate", "model": str(root / "model"),
                           "prompts": [str(root / "the king")]}},
    }  # fmt: skip
    path = write_pipeline(root, pipeline)
    state = record_completed(load_pipeline(path)[1], {})
    assert list(state["gen"]["inputs"]) == [str(root / "model")]

    (root / "the king").write_text("changed")
    assert build_plan(load_pipeline(path)[1], state, Selection())[0].action == "skip"
    (root / "model" / "model.safetensors").write_text("retrained")
    plan = build_plan(load_pipeline(path)[1], state, Selection())[0]
    assert plan.action == "run" and plan.reason == f"input changed: {root / 'model'}"


@pytest.mark.parametrize("text", ["", "\n  \n\n"], ids=["empty", "blank lines"])
@pytest.mark.parametrize("args", [(), ("--dry-run",)], ids=["run", "dry run"])
def test_a_prompt_file_without_prompts_is_refused_before_any_stage_runs(cli, tiny, text, args):
    root, pipeline = tiny
    pipeline = _generating(root, pipeline)
    (root / "prompts.txt").write_text(text, encoding="utf-8")
    pipeline["stages"]["gen"]["input_file"] = str(root / "prompts.txt")
    out = _refused(cli, root, pipeline, *args)
    assert f"stages.gen.input_file: {root / 'prompts.txt'} holds no prompts" in out
    assert "--prompt" not in out  # `llmkit generate`'s flags mean nothing in a pipeline


def test_a_directory_as_the_prompt_file_is_refused_before_any_stage_runs(cli, tiny):
    root, pipeline = tiny
    pipeline = _generating(root, pipeline)
    (root / "prompts").mkdir()
    pipeline["stages"]["gen"]["input_file"] = str(root / "prompts")
    out = _refused(cli, root, pipeline)
    assert f"stages.gen.input_file: {root / 'prompts'} is a directory, not a file" in out


def test_a_bad_line_in_the_prompt_file_is_refused_before_any_stage_runs(cli, tiny):
    root, pipeline = tiny
    pipeline = _generating(root, pipeline)
    with open(root / "prompts.jsonl", "a", encoding="utf-8") as f:
        f.write('{"prompt": "no text field"}\n')
    out = _refused(cli, root, pipeline)
    assert out.startswith(f"error: stages.gen: {root / 'prompts.jsonl'}:4: no field 'text'")


def _prompts_from_tokenizer_stage(root, pipeline) -> dict:
    """A tokenizer stage, then a generate stage whose prompt file lies in its output."""
    pipeline["stages"] = {
        "tok": pipeline["stages"]["tok"],
        "gen": {"stage": "generate", "model": "${tok}", "input_file": "${tok}/prompts.txt"},
    }
    return pipeline


def _refused_when_gen_runs(cli, root, pipeline):
    """Run the tokenizer-then-generate pipeline, refused (exit 2): the result and its last line."""
    result = cli("run", write_pipeline(root, _prompts_from_tokenizer_stage(root, pipeline)))
    assert result.exit_code == 2, result.output
    return result, result.output.strip().splitlines()[-1]


def test_a_prompt_file_an_earlier_stage_should_write_is_checked_when_its_turn_comes(cli, tiny):
    root, pipeline = tiny
    _, line = _refused_when_gen_runs(cli, root, pipeline)
    prompts = root / "pipe" / "tok" / "prompts.txt"
    assert line.startswith(f"error: stages.gen.input_file: {prompts} does not exist"), line
    assert (root / "pipe" / "tok" / "tokenizer.json").is_file()  # the stage before it ran


def test_an_empty_prompt_file_written_by_an_earlier_stage_names_the_stage(cli, tiny, monkeypatch):
    """A stage whose output holds the prompt file, stood in for by the tokenizer stage writing
    blank lines next to its tokenizer."""
    import llmkit.tokenizer

    train_tokenizer = llmkit.tokenizer.train_tokenizer

    def writing_blank_prompts(cfg, **kwargs):
        result = train_tokenizer(cfg, **kwargs)
        (Path(cfg.output_dir) / "prompts.txt").write_text("\n \n", encoding="utf-8")
        return result

    monkeypatch.setattr(llmkit.tokenizer, "train_tokenizer", writing_blank_prompts)
    root, pipeline = tiny
    result, line = _refused_when_gen_runs(cli, root, pipeline)
    prompts = root / "pipe" / "tok" / "prompts.txt"
    assert line.startswith(f"error: stages.gen.input_file: {prompts} holds no prompts"), line
    assert "--prompt" not in result.output


def test_an_empty_prompt_file_in_a_skipped_stage_output_is_refused_before_any_stage_runs(tiny):
    """The stage that wrote the file completed before and does not run again: the file is as
    the generate stage will read it, so it is checked up front."""
    root, pipeline = tiny
    _, stages = load_pipeline(write_pipeline(root, _prompts_from_tokenizer_stage(root, pipeline)))
    state = record_completed(stages, {})
    (root / "pipe" / "tok" / "prompts.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"stages\.gen\.input_file: .* holds no prompts"):
        build_plan(stages, state, Selection(only="gen"))
