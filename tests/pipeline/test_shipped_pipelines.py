"""Every pipeline that ships in configs/pipelines/ resolves: each section validates against its
stage's schema, every reference names an earlier stage, every data file it reads ships too."""

from pathlib import Path

import pytest

from llmkit.config.pipeline import load_pipeline
from llmkit.pipeline.plan import Selection, build_plan

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted((REPO / "configs" / "pipelines").glob("*.yaml"))


def test_the_three_example_pipelines_ship():
    assert {p.stem for p in PIPELINES} >= {"tiny-gpt", "tiny-bert", "tiny-translation"}


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_shipped_pipeline_resolves_and_plans(path, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # data paths in configs/ are relative to the repository root
    out = tmp_path / "pipe"
    cfg, stages = load_pipeline(path, [f"output_dir={out}"])
    assert cfg.output_dir == str(out)
    plans = build_plan(stages, {}, Selection())
    assert all(p.action == "run" for p in plans)
    for stage in stages:
        data = getattr(stage.config, "data", None)
        files = [getattr(data, split, None) for split in ("train", "validation")]
        files += [stage.config.data] if isinstance(data, str) else []
        files += [getattr(stage.config, "input_file", None)]  # a generate stage's prompts
        for name in [f for f in files if isinstance(f, str)]:
            assert (REPO / name).is_file() or name.startswith(str(out)), f"{stage.name}: {name}"


def test_the_main_pipeline_answers_shipped_prompts_and_ends_in_hf_and_gguf_exports():
    _, stages = load_pipeline(REPO / "configs" / "pipelines" / "tiny-gpt.yaml")
    kinds = [s.kind for s in stages]
    assert kinds == ["tokenizer", "preprocess", "pretrain", "finetune", "eval", "generate",
                     "export", "export"]  # fmt: skip
    assert {s.config.format for s in stages if s.kind == "export"} == {"hf", "gguf"}
    generate = next(s for s in stages if s.kind == "generate")
    assert generate.references == ("sft",)
    prompts = (REPO / generate.config.input_file).read_text(encoding="utf-8").splitlines()
    assert 0 < len(prompts) <= 8  # a handful: the main job stays a few minutes
