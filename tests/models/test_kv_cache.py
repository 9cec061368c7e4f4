"""The in-place KV cache gives exactly the default cache's tokens, and stays right when
transformers replaces or outgrows its tensors."""

import pytest
import torch
import transformers
from transformers import DynamicCache

from llmkit.config.generate import GenerationSettings
from llmkit.config.model import ModelConfig
from llmkit.generation import generate_texts, generation_config
from llmkit.models.build import load_or_build
from llmkit.models.kv_cache import CACHE_ARGUMENT, PreallocatedLayer, preallocated_cache

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gpt2(causal_tokenizer_dir):
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    cfg = ModelConfig(family="gpt2", n_layers=2, hidden_size=32, context_length=64,
                      tie_embeddings=False)  # fmt: skip
    model = load_or_build(cfg, transformers.AutoModelForCausalLM, tokenizer).eval()
    with torch.no_grad():  # a random head repeats one token; make outputs prompt-dependent
        model.get_output_embeddings().weight.normal_(0.0, 1.0)
    return model, tokenizer


def test_generation_with_the_in_place_cache_equals_the_default_cache(gpt2, corpus_lines):
    model, tokenizer = gpt2
    settings = GenerationSettings(max_new_tokens=12, min_new_tokens=12)
    prompts = [corpus_lines[i] for i in (3, 10, 0, 7, 21)]  # unequal lengths: left padding
    batch = tokenizer(prompts, padding=True, padding_side="left", return_tensors="pt")
    config = generation_config(model, tokenizer, settings)
    capacity = batch["input_ids"].shape[1] + settings.max_new_tokens
    with torch.inference_mode():
        default = model.generate(**batch, generation_config=config)
        cache = preallocated_cache(model, capacity)
        in_place = model.generate(**batch, generation_config=config, **{CACHE_ARGUMENT: cache})
    assert torch.equal(in_place, default)
    assert all(type(layer) is PreallocatedLayer for layer in cache.layers)
    assert cache.get_seq_length() == capacity - 1  # the last token is never fed back
    # and generate_texts (which uses it) decodes the same tokens
    texts = tokenizer.batch_decode(default[:, batch["input_ids"].shape[1] :],
                                   skip_special_tokens=True)  # fmt: skip
    ordered = generate_texts(model, tokenizer, prompts, settings, batch_size=5)
    assert ordered == texts


def test_a_cache_implementation_the_model_asks_for_is_kept(gpt2, corpus_lines):
    model, tokenizer = gpt2
    settings = GenerationSettings(max_new_tokens=6, min_new_tokens=6)
    prompts = [corpus_lines[i] for i in (3, 10, 0)]
    expected = generate_texts(model, tokenizer, prompts, settings)
    model.generation_config.cache_implementation = "static"
    try:  # passing a cache as well would make generate refuse
        assert generate_texts(model, tokenizer, prompts, settings) == expected
    finally:
        model.generation_config.cache_implementation = None


def test_the_layer_outgrows_its_capacity_and_survives_replaced_tensors():
    layer = PreallocatedLayer(capacity=3)
    steps = [torch.randn(2, 1, n, 4) for n in (2, 1, 1, 1)]
    with torch.inference_mode():
        for step in steps:  # 5 positions in a buffer of 3: it moves to a bigger one
            keys, values = layer.update(step, -step)
        assert torch.equal(keys, torch.cat(steps, dim=-2)) and torch.equal(values, -keys)
        layer.batch_select_indices(torch.tensor([1]))  # replaces keys with a copy of row 1
        new = torch.randn(1, 1, 1, 4)
        keys, _ = layer.update(new, new)
        assert torch.equal(keys, torch.cat([*steps, new.expand(2, -1, -1, -1)], dim=-2)[1:])
        layer.crop(-2)  # crop keeps a view of the buffer: the next token lands after it
        keys, _ = layer.update(new, new)
        assert keys.shape[-2] == 5 and torch.equal(keys[..., -1:, :], new)


def test_models_with_another_cache_keep_their_own():
    t5 = transformers.T5ForConditionalGeneration(
        transformers.T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, vocab_size=50)
    )
    assert preallocated_cache(t5, 10) is None
    sliding = transformers.MistralConfig(hidden_size=16, intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, vocab_size=50,
        sliding_window=4)  # fmt: skip
    assert any(
        type(layer).__name__ != "DynamicLayer" for layer in DynamicCache(config=sliding).layers
    )
    assert preallocated_cache(transformers.MistralForCausalLM(sliding), 10) is None
