"""Tiny saved models (2 layers, hidden 32) for model-mode tests, built from config; one thread."""

import json

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("gpt2")
    return tiny_model("gpt2", "AutoModelForCausalLM", causal_tokenizer_dir, out)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("t5")
    return tiny_model("t5", "AutoModelForSeq2SeqLM", causal_tokenizer_dir, out)


@pytest.fixture
def jsonl(tmp_path):
    def write(name: str, rows: list[dict]):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
