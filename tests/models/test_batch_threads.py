"""Two greedy batches in flight on a multi-threaded CPU: same texts as one batch at a time, the
caller's thread count kept, sampling left on the calling thread."""

import threading

import pytest
import torch
import transformers

from llmkit.config.generate import GenerationSettings
from llmkit.config.model import ModelConfig
from llmkit.generation import generate_texts
from llmkit.models.batch_threads import map_in_flight
from llmkit.models.build import load_or_build


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=["gpt2", "t5"])
def model_and_tokenizer(request, causal_tokenizer_dir):
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(causal_tokenizer_dir)
    auto = {"gpt2": transformers.AutoModelForCausalLM, "t5": transformers.AutoModelForSeq2SeqLM}
    cfg = ModelConfig(family=request.param, n_layers=2, hidden_size=32, context_length=64,
                      tie_embeddings=False)  # fmt: skip
    model = load_or_build(cfg, auto[request.param], tokenizer)
    with torch.no_grad():  # a random head repeats one token; make outputs prompt-dependent
        model.get_output_embeddings().weight.normal_(0.0, 1.0)
    return model, tokenizer


def forward_threads(model) -> tuple[set[int], object]:
    """The ids of the threads that run `model`'s forward, and the hook handle."""
    seen: set[int] = set()
    handle = model.register_forward_pre_hook(lambda *_: seen.add(threading.get_ident()))
    return seen, handle


def test_greedy_batches_run_two_at_once_with_the_texts_of_one_at_a_time(
    model_and_tokenizer, corpus_lines, two_threads
):
    model, tokenizer = model_and_tokenizer
    prompts = corpus_lines[:9]
    settings = GenerationSettings(max_new_tokens=8, min_new_tokens=8)
    seen, handle = forward_threads(model)
    try:
        in_flight = generate_texts(model, tokenizer, prompts, settings, batch_size=3)
    finally:
        handle.remove()
    assert len(seen) == 2 and threading.get_ident() not in seen
    assert torch.get_num_threads() == 2  # the caller keeps its threads

    torch.set_num_threads(1)  # one thread: one batch at a time, on the calling thread
    seen, handle = forward_threads(model)
    try:
        one_at_a_time = generate_texts(model, tokenizer, prompts, settings, batch_size=3)
    finally:
        handle.remove()
    assert seen == {threading.get_ident()}
    assert in_flight == one_at_a_time
    assert len(set(in_flight)) > 1


def test_sampled_batches_stay_on_the_calling_thread_and_repeat(
    model_and_tokenizer, corpus_lines, two_threads
):
    model, tokenizer = model_and_tokenizer
    settings = GenerationSettings(max_new_tokens=6, do_sample=True, top_k=0, seed=3)
    seen, handle = forward_threads(model)
    try:
        first = generate_texts(model, tokenizer, corpus_lines[:6], settings, batch_size=2)
    finally:
        handle.remove()
    assert seen == {threading.get_ident()}
    assert generate_texts(model, tokenizer, corpus_lines[:6], settings, batch_size=2) == first


def test_an_error_in_a_batch_reaches_the_caller_and_the_thread_count_is_restored(two_threads):
    def run(item: int) -> int:
        if item == 1:
            raise ValueError("batch 1 failed")
        return item

    with pytest.raises(ValueError, match="batch 1 failed"):
        map_in_flight(run, [0, 1, 2, 3], workers=2)
    assert torch.get_num_threads() == 2
    assert map_in_flight(lambda item: item * 2, [1, 2, 3], workers=2) == [2, 4, 6]
