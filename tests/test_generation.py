"""Batched generation: same outputs as one by one, input order kept, seeded, RNG untouched."""

import pytest
import torch
import transformers

from llmkit.config.generate import GenerationSettings
from llmkit.config.model import ModelConfig
from llmkit.errors import ConfigError, DataError
from llmkit.generation import generate_texts, generation_config, length_batches, stream_text
from llmkit.models.build import load_or_build

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["gpt2", "t5"])
def model_and_tokenizer(request, causal_tokenizer_dir):
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    auto = (
        transformers.AutoModelForSeq2SeqLM
        if request.param == "t5"
        else transformers.AutoModelForCausalLM
    )
    cfg = ModelConfig(family=request.param, n_layers=2, hidden_size=32, context_length=64,
                      tie_embeddings=False)  # fmt: skip
    model = load_or_build(cfg, auto, tokenizer)
    with torch.no_grad():  # a random T5 head predicts <pad> forever; give it varied outputs
        model.get_output_embeddings().weight.normal_(0.0, 1.0)
    return model, tokenizer


@pytest.fixture(scope="module")
def prompts(corpus_lines):
    # different lengths, so batches need padding (left for decoders, right for T5)
    return [corpus_lines[i] for i in (3, 10, 0, 7, 21, 5, 12)]


def test_batched_greedy_equals_one_by_one_in_input_order(model_and_tokenizer, prompts):
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=8)
    batched = generate_texts(model, tokenizer, prompts, settings, batch_size=3)
    single = [generate_texts(model, tokenizer, [p], settings)[0] for p in prompts]
    assert batched == single
    assert len(set(batched)) > 1  # outputs depend on the prompt, so order is really checked


def test_length_batches_pad_less_with_as_many_batches_as_plain_chunking():
    lengths = [30, 5, 12, 100, 7, 8, 9, 11, 6, 10]
    batches = length_batches(lengths, batch_size=4)
    assert len(batches) == 3 and max(map(len, batches)) <= 4
    assert sorted(i for batch in batches for i in batch) == list(range(10))
    # the short remainder batch takes the longest prompts, so 100 pads only 30, not 5 and 11
    assert batches[0] == [3, 0]
    assert [[lengths[i] for i in batch] for batch in batches[1:]] == [[12, 11, 10, 9], [8, 7, 6, 5]]
    assert length_batches([3, 1, 2], batch_size=3) == [[0, 2, 1]]
    assert length_batches([], batch_size=3) == []


def test_beam_search_equals_one_by_one(model_and_tokenizer, prompts):
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=5, min_new_tokens=3, num_beams=3)
    batched = generate_texts(model, tokenizer, prompts[:4], settings, batch_size=4)
    assert batched == [generate_texts(model, tokenizer, [p], settings)[0] for p in prompts[:4]]


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(model_and_tokenizer, prompts):
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=8, min_new_tokens=8, do_sample=True,
                                  temperature=1.5, top_k=0, top_p=0.95, seed=7)  # fmt: skip
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = generate_texts(model, tokenizer, prompts, settings)
    assert torch.rand(1) == expected_next  # training RNG undisturbed
    assert generate_texts(model, tokenizer, prompts, settings) == first
    other = generate_texts(model, tokenizer, prompts, settings.model_copy(update={"seed": 8}))
    assert other != first


def test_settings_reach_the_generation_config(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    no_eos = GenerationSettings(max_new_tokens=6, min_new_tokens=6, stop_at_eos=False)
    config = generation_config(model, tokenizer, no_eos)
    assert (config.eos_token_id, config.min_new_tokens, config.max_new_tokens) == (None, 6, 6)
    # greedy runs never inherit sampling values, even from a model saved with sampling on
    model.generation_config.temperature = 0.3
    greedy = generation_config(model, tokenizer, GenerationSettings(temperature=2.0))
    assert (greedy.do_sample, greedy.temperature) == (False, 1.0)
    sampled = generation_config(model, tokenizer, GenerationSettings(do_sample=True, top_p=0.5))
    assert (sampled.do_sample, sampled.top_p, sampled.eos_token_id) == (True, 0.5, 0)
    model.generation_config.temperature = 1.0


def test_model_train_mode_is_restored(model_and_tokenizer, prompts):
    model, tokenizer = model_and_tokenizer
    model.train()
    generate_texts(model, tokenizer, prompts[:1], GenerationSettings(max_new_tokens=2))
    assert model.training
    model.eval()


def test_streaming_yields_the_same_text_as_greedy(model_and_tokenizer, prompts):
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=8, min_new_tokens=4)
    streamed = "".join(stream_text(model, tokenizer, prompts[0], settings))
    assert streamed.strip() == generate_texts(model, tokenizer, prompts[:1], settings)[0].strip()


def test_a_prompt_that_tokenizes_to_nothing_is_a_data_error(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(DataError, match="prompt 2 is empty"):
        generate_texts(model, tokenizer, ["hello", ""], GenerationSettings(max_new_tokens=2))


def test_a_generation_past_a_decoders_positions_is_a_config_error(model_and_tokenizer):
    """GPT-2 has 64 learned positions here: asking for more must name the setting to change."""
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=200)
    if model.config.is_encoder_decoder:  # T5's relative positions have no such limit
        assert generate_texts(model, tokenizer, ["hello"], GenerationSettings(max_new_tokens=70))
        return
    with pytest.raises(ConfigError, match="generation.max_new_tokens 200 .* context of 64"):
        generate_texts(model, tokenizer, ["hello"], settings)
    with pytest.raises(ConfigError, match="context of 64"):
        list(stream_text(model, tokenizer, "hello", settings))
