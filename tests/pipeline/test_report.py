"""What `llmkit run` reports for each stage, read back from the stage's output."""

import json

from pipeline_helpers import write_pipeline
from tokenizers import Tokenizer


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
