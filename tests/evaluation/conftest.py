"""Tiny saved models (2 layers, hidden 32) for model-mode tests, built from config."""

import json

import pytest


def save_tiny(family: str, auto_name: str, tokenizer_dir, out_dir, **kwargs):
    import torch
    import transformers

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import load_or_build

    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = ModelConfig(
        family=family, n_layers=2, hidden_size=32, context_length=64, tie_embeddings=False
    )
    model = load_or_build(cfg, getattr(transformers, auto_name), tokenizer, **kwargs)
    output = model.get_output_embeddings()
    if output is not None:
        with torch.no_grad():  # a random T5 head predicts <pad> forever; vary the outputs
            output.weight.normal_(0.0, 1.0)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, above all on a loaded 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model():
    """save_tiny(family, AutoModelFor… name, tokenizer_dir, out_dir, **model_kwargs) → out_dir."""
    return save_tiny


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, causal_tokenizer_dir):
    out = tmp_path_factory.mktemp("gpt2")
    return save_tiny("gpt2", "AutoModelForCausalLM", causal_tokenizer_dir, out)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, causal_tokenizer_dir):
    out = tmp_path_factory.mktemp("t5")
    return save_tiny("t5", "AutoModelForSeq2SeqLM", causal_tokenizer_dir, out)


@pytest.fixture
def jsonl(tmp_path):
    def write(name: str, rows: list[dict]):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
