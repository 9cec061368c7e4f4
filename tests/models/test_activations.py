"""GPT-2's GELU in place is bit for bit the model's own, and only during generation."""

import pytest
import torch
from transformers.activations import NewGELUActivation

from llmkit.models.activations import gelu_new_in_place, in_place_activations


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_in_place_gelu_is_bit_identical_to_transformers(dtype):
    torch.manual_seed(0)
    x = (torch.randn(64, 257) * torch.logspace(-4, 2, 257)).to(dtype)
    original = x.clone()
    with torch.inference_mode():
        assert torch.equal(gelu_new_in_place(x), NewGELUActivation()(x))
    assert torch.equal(x, original)  # the input is left alone


def test_activations_are_patched_only_inside_the_block():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), NewGELUActivation())
    act = model[1]
    with torch.inference_mode(), in_place_activations(model):
        assert act.forward is gelu_new_in_place
        model(torch.randn(2, 4))
    assert "forward" not in vars(act)  # the class's own forward again, autograd works
    model(torch.randn(2, 4)).sum().backward()
