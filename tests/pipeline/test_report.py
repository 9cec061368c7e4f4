"""What `llmkit run` reports for each stage, read back from the stage's output."""

import io
import json

from pipeline_helpers import write_pipeline
from rich.console import Console
from tokenizers import Tokenizer

from llmkit.config.pipeline import load_pipeline
from llmkit.pipeline.plan import Selection, build_plan
from llmkit.pipeline.report import stage_summary, write_report


def test_the_report_gives_the_vocabulary_size_of_every_kind_of_tokenizer(cli, tiny):
    root, pipeline = tiny
    corpus = str(root / "corpus.txt")
    pipeline["stages"] = {
        kind: {"stage": "tokenizer", "data": {"train": corpus},
               "tokenizer": {"type": kind, "family": "causal", "vocab_size": 60}}
        for kind in ("unigram", "wordpiece", "char")
    }  # fmt: skip
    result = cli("run", write_pipeline(root, pipeline))
    assert result.exit_code == 0, result.output
    pipe = root / "pipe"
    figures = {s["stage"]: s for s in json.loads((pipe / "pipeline.json").read_text())["stages"]}
    for kind in pipeline["stages"]:
        saved = Tokenizer.from_file(str(pipe / kind / "tokenizer.json"))
        assert figures[kind]["vocab_size"] == saved.get_vocab_size(with_added_tokens=True)
    assert f"vocabulary {figures['unigram']['vocab_size']:,}" in (pipe / "report.md").read_text()


def test_the_report_shows_the_first_generations_shortened_on_one_table_row_each(tmp_path):
    """generations.jsonl holds every generation; report.md shows the first three, each on one
    row: newlines as ⏎, a '|' escaped, a long output cut with …, an empty one named so."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    pipeline = {
        "stage": "pipeline", "output_dir": str(tmp_path / "pipe"),
        "stages": {"gen": {"stage": "generate", "model": str(tmp_path / "model"),
                           "prompts": ["a", "b", "c", "d"]}},
    }  # fmt: skip
    cfg, stages = load_pipeline(write_pipeline(tmp_path, pipeline))
    rows = [
        {"prompt": "Say\nhi.", "output": "left | right"},
        {"prompt": "Long.", "output": "word " * 100},
        {"prompt": "Nothing.", "output": " "},
        {"prompt": "Fourth.", "output": "not shown"},
    ]
    out = tmp_path / "pipe" / "gen"
    out.mkdir(parents=True)
    (out / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plans = build_plan(stages, {}, Selection())
    summary = stage_summary(plans[0], {"seconds": 1.0}, tmp_path / "pipe")
    write_report(cfg, plans, [summary], Console(file=io.StringIO()))

    report = (tmp_path / "pipe" / "report.md").read_text(encoding="utf-8")
    assert "The first 3 of 4 generations" in report
    assert "| Say⏎hi. | left \\| right |" in report
    long_row = next(line for line in report.splitlines() if line.startswith("| Long. |"))
    assert long_row.endswith(" … |") and len(long_row) < 230
    assert "| Nothing. | *(empty)* |" in report
    assert "Fourth." not in report
    assert summary["generations"] == 4
