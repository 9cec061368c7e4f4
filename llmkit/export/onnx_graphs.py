"""The graphs exported to ONNX: a plain-tensor module around the transformers model per kind,
its input/output names, example inputs and the dynamic axes.

- encoder (classifiers, taggers, masked LMs): input_ids, attention_mask[, token_type_ids] → logits;
  extractive QA the same inputs → start_logits, end_logits
- multiple-choice: the same inputs shaped (batch, choices, tokens) → logits (batch, choices)
- causal: input_ids, attention_mask, position_ids, past.{i}.key/value → logits, present.{i}.…;
  transformers 5 keeps the cache in a DynamicCache object, which torch.export cannot take as an
  input, so the module rebuilds one from the flat past tensors and flattens the new cache back.
  A past of length 0 is the first step (the prompt).
- seq2seq: encoder.onnx (input_ids, attention_mask → encoder_hidden_states) and decoder.onnx
  (decoder_input_ids, encoder_hidden_states, encoder_attention_mask → logits), the decoder
  without a cache (it recomputes the prefix at each step).
"""

import inspect
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.modeling_outputs import BaseModelOutput

BATCH, SEQ = torch.export.Dim("batch"), torch.export.Dim("sequence")
CHOICES = torch.export.Dim("choices")


@dataclass
class Graph:
    name: str
    """File stem: model, encoder or decoder."""
    module: torch.nn.Module
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: dict
    example: tuple
    """Example inputs, in input order (export shape: batch 2, sequence 8)."""
    meta: dict = field(default_factory=dict)


class EncoderLogits(torch.nn.Module):
    """The model's `outputs` (attributes of its output: logits, or start_logits + end_logits)."""

    def __init__(self, model, with_token_types: bool, outputs: tuple[str, ...]):
        super().__init__()
        self.model, self.with_token_types, self.outputs = model, with_token_types, outputs

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {"token_type_ids": token_type_ids} if self.with_token_types else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        logits = tuple(getattr(out, name) for name in self.outputs)
        return logits if len(logits) > 1 else logits[0]


class CausalWithCache(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        # transformers 5.25 renamed `past_key_values` to `cache` (the old name warns until 5.40)
        parameters = inspect.signature(model.forward).parameters
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"

    def forward(self, input_ids, attention_mask, position_ids, past):
        cache = DynamicCache(config=self.model.config)
        for layer, (key, value) in enumerate(past):
            cache.update(key, value, layer)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self.cache_argument: cache},
        )
        present = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
        return (out.logits, *present)


class Seq2SeqEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.get_encoder()

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class Seq2SeqDecoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask):
        out = self.model(
            encoder_outputs=BaseModelOutput(last_hidden_state=encoder_hidden_states),
            attention_mask=encoder_attention_mask,
            decoder_input_ids=decoder_input_ids,
            use_cache=False,
        )
        return out.logits


def _ids(vocab: int, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (batch, length), generator=generator)


def encoder_graph(
    model, with_token_types: bool, outputs: tuple[str, ...] = ("logits",), choices: bool = False
) -> Graph:
    """An encoder's graph; with `choices`, inputs are (batch, choices, tokens), as
    AutoModelForMultipleChoice takes them (exported with 3 choices)."""
    ids = _ids(model.config.vocab_size, 2, 3 * 8 if choices else 8)
    ids = ids.view(2, 3, 8) if choices else ids
    inputs = [ids, torch.ones_like(ids)]
    names = ["input_ids", "attention_mask"]
    if with_token_types:
        inputs.append(torch.zeros_like(ids))
        names.append("token_type_ids")
    axes = {0: BATCH, 1: CHOICES, 2: SEQ} if choices else {0: BATCH, 1: SEQ}
    shapes = {name: axes for name in names}
    module = EncoderLogits(model, with_token_types, outputs)
    return Graph("model", module, names, list(outputs), shapes, tuple(inputs))


def cache_layout(model) -> tuple[int, int, int]:
    """(layers, key/value heads, head dim), read off a real forward pass, so that every family
    (GPT-2's fused attention, LLaMA's grouped-query attention) is covered alike."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[3, 4]]), use_cache=True)
    layers = out.past_key_values.layers
    _, heads, _, head_dim = layers[0].keys.shape
    return len(layers), heads, head_dim


def causal_graph(model) -> Graph:
    layers, heads, head_dim = cache_layout(model)
    past_len, batch, length = 4, 2, 8
    ids = _ids(model.config.vocab_size, batch, length)
    mask = torch.ones(batch, past_len + length, dtype=torch.long)
    positions = torch.arange(past_len, past_len + length).expand(batch, -1)
    generator = torch.Generator().manual_seed(1)
    past = [
        tuple(torch.randn(batch, heads, past_len, head_dim, generator=generator) for _ in "kv")
        for _ in range(layers)
    ]
    past_names = [f"past.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present_names = [n.replace("past.", "present.") for n in past_names]
    past_dim, total = torch.export.Dim("past_sequence"), torch.export.Dim("total_sequence")
    shapes = {
        "input_ids": {0: BATCH, 1: SEQ},
        "attention_mask": {0: BATCH, 1: total},
        "position_ids": {0: BATCH, 1: SEQ},
        "past": [({0: BATCH, 2: past_dim}, {0: BATCH, 2: past_dim}) for _ in range(layers)],
    }
    return Graph(
        "model",
        CausalWithCache(model),
        ["input_ids", "attention_mask", "position_ids", *past_names],
        ["logits", *present_names],
        shapes,
        (ids, mask, positions, past),
        meta={"layers": layers, "kv_heads": heads, "head_dim": head_dim},
    )


def seq2seq_graphs(model) -> list[Graph]:
    vocab = model.config.vocab_size
    ids = _ids(vocab, 2, 8)
    encoder = Graph(
        "encoder",
        Seq2SeqEncoder(model),
        ["input_ids", "attention_mask"],
        ["encoder_hidden_states"],
        {"input_ids": {0: BATCH, 1: SEQ}, "attention_mask": {0: BATCH, 1: SEQ}},
        (ids, torch.ones_like(ids)),
    )
    target = torch.export.Dim("target_sequence")
    hidden = torch.randn(2, 8, model.config.d_model, generator=torch.Generator().manual_seed(2))
    decoder = Graph(
        "decoder",
        Seq2SeqDecoder(model),
        ["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask"],
        ["logits"],
        {
            "decoder_input_ids": {0: BATCH, 1: target},
            "encoder_hidden_states": {0: BATCH, 1: SEQ},
            "encoder_attention_mask": {0: BATCH, 1: SEQ},
        },
        (_ids(vocab, 2, 5, seed=3), hidden, torch.ones_like(ids)),
    )
    return [encoder, decoder]


def flat_inputs(graph: Graph, example: tuple) -> dict:
    """Example inputs (the module's argument structure) → {onnx input name: tensor}."""
    flat = []
    for value in example:
        if isinstance(value, list | tuple):
            flat += [t for pair in value for t in pair]
        else:
            flat.append(value)
    return dict(zip(graph.input_names, flat, strict=True))
