"""`accelerate launch` of `llmkit run` on 2 CPU processes: the training stage runs on both, the
tokenizer, preprocessing and export on the first while the other waits, and nothing deadlocks;
a failing stage on the first process stops both."""

import json

import transformers
from pipeline_helpers import write_pipeline
from two_processes import launch_two_processes


def _launch(path, *args):
    return launch_two_processes("run", path, *args)


def test_two_processes_run_a_pipeline(tiny):
    root, pipeline = tiny
    for name in ("sft", "score"):
        del pipeline["stages"][name]
    pipeline["stages"]["export"]["source"] = "${pretrain}"
    done = _launch(write_pipeline(root, pipeline))
    assert done.returncode == 0, done.stderr[-3000:]
    pipe = root / "pipe"
    model = transformers.AutoModelForCausalLM.from_pretrained(pipe / "export")
    assert model.config.n_layer == 2
    figures = json.loads((pipe / "pipeline.json").read_text())
    assert [s["status"] for s in figures["stages"]] == ["ran"] * 4
    assert done.stdout.count("llmkit run · plan") == 1  # one process reports


def test_a_stage_failing_on_the_first_process_stops_both(tiny):
    root, pipeline = tiny
    pipeline["stages"] = {"tok": pipeline["stages"]["tok"]}
    (root / "empty.txt").write_text("")
    pipeline["stages"]["tok"]["data"]["train"] = str(root / "empty.txt")
    done = _launch(write_pipeline(root, pipeline))
    assert done.returncode != 0
    assert "the corpus has no text" in done.stderr
    assert "stage 'tok' failed on the first process" in done.stderr  # the other process
