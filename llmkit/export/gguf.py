"""gguf format (llama.cpp's): LLaMA- and GPT-2-family causal LMs as one file, written with the
`gguf` package the llama.cpp project maintains, laid out as llama.cpp's own converter lays
them out (tensor names from gguf's name map, LLaMA q/k rows permuted for its rotary layout,
GPT-2's Conv1D weights transposed, norms and biases in f32, the byte-level BPE vocabulary and
merges).

The file is checked by loading it back with transformers (`from_pretrained(dir,
gguf_file=…)`, which dequantizes) and comparing with the PyTorch model on sample inputs: f32
must match within gguf.tolerance; f16 and q8_0 must pick the same next token at
>= NEXT_TOKEN_AGREEMENT of the positions.
"""

import json
from pathlib import Path

import gguf
import numpy as np
import torch
import transformers

from llmkit.config.export import ExportConfig
from llmkit.errors import UserError
from llmkit.export.loading import load_model, load_tokenizer
from llmkit.export.onnx import VerificationFailed
from llmkit.export.source import ExportSource

ARCHITECTURES = {"llama": "LLAMA", "gpt2": "GPT2"}
NEXT_TOKEN_AGREEMENT = 0.95
# GPT-2 keeps these as transformers Conv1D (in, out); GGUF stores (out, in) like a Linear
_GPT2_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def export_gguf(source: ExportSource, cfg: ExportConfig, out: Path, say=print) -> str:
    if source.model_type not in ARCHITECTURES or source.is_encoder_decoder:
        raise UserError(
            f"format: gguf takes LLaMA- and GPT-2-family causal LMs; {source.model_dir} is a "
            f"{source.model_type} ({source.architecture})",
            "export it as hf or onnx instead",
        )
    model = load_model(source, cfg.trust_remote_code)
    tokenizer = load_tokenizer(source, cfg.trust_remote_code)
    arch = getattr(gguf.MODEL_ARCH, ARCHITECTURES[source.model_type])
    path = out / f"model.{cfg.gguf.type}.gguf"
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(source.model_dir.name or "model")
    writer.add_file_type(_file_type(cfg.gguf.type))
    _hyperparameters(writer, model.config, source.model_type)
    _vocabulary(writer, tokenizer)
    _tensors(writer, model, arch, source.model_type, cfg.gguf.type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    summary = _check_loads_back(model, tokenizer, path, cfg.gguf, say)
    return f"{path.name} ({path.stat().st_size / 1e6:.1f} MB), {summary}"


def _file_type(kind: str):
    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[kind]  # fmt: skip


def _hyperparameters(writer, config, model_type: str) -> None:
    writer.add_block_count(config.num_hidden_layers)
    writer.add_embedding_length(config.hidden_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_context_length(config.max_position_embeddings)
    if model_type == "gpt2":
        ffn = config.n_inner or 4 * config.n_embd
        if ffn != 4 * config.n_embd:  # readers of GPT-2 GGUF assume 4 x n_embd
            raise UserError(
                f"format: gguf readers assume GPT-2's feed-forward width is 4 x n_embd "
                f"({4 * config.n_embd}); this model's is {ffn}"
            )
        writer.add_feed_forward_length(ffn)
        writer.add_layer_norm_eps(config.layer_norm_epsilon)
        return
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_vocab_size(config.vocab_size)


def _vocabulary(writer, tokenizer) -> None:
    """The vocabulary as llama.cpp's 'gpt2' (byte-level BPE) tokenizer: tokens, types, merges."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    pre = json.dumps(spec.get("pre_tokenizer") or {})
    if spec["model"]["type"] != "BPE" or "ByteLevel" not in pre:
        raise UserError(
            f"format: gguf export writes byte-level BPE vocabularies (llama.cpp's 'gpt2' "
            f"tokenizer); this tokenizer is {spec['model']['type']}"
        )
    special = set(tokenizer.all_special_ids)
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in
         range(len(tokens))]
    )  # fmt: skip
    merges = spec["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for name in ("bos", "eos", "pad", "unk"):
        token_id = getattr(tokenizer, f"{name}_token_id")
        if token_id is not None:
            getattr(writer, f"add_{name}_token_id")(token_id)


def _tensors(writer, model, arch, model_type: str, kind: str) -> None:
    config = model.config
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name.endswith((".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")):
            continue  # buffers, not weights
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"format: gguf has no place for this model's tensor {hf_name}")
        data = tensor.detach().float().numpy()
        if model_type == "gpt2" and hf_name.endswith(_GPT2_CONV1D):
            data = data.T
        if model_type == "llama" and hf_name.endswith("q_proj.weight"):
            data = _permute(data, config.num_attention_heads, config.num_attention_heads)
        if model_type == "llama" and hf_name.endswith("k_proj.weight"):
            data = _permute(data, config.num_attention_heads, config.num_key_value_heads)
        _add(writer, name, np.ascontiguousarray(data), kind)


def _permute(weights: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """transformers' rotary layout (halves) → llama.cpp's (interleaved pairs), per head."""
    heads = kv_heads if kv_heads != heads else heads
    rows = weights.shape[0] // heads // 2
    return weights.reshape(heads, 2, rows, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _add(writer, name: str, data: np.ndarray, kind: str) -> None:
    """Matrices in the chosen type; vectors (norms, biases) and rows q8_0 cannot block in f32/f16
    as llama.cpp's converter does."""
    if data.ndim == 1 or kind == "f32":
        writer.add_tensor(name, data.astype(np.float32))
    elif kind == "f16" or data.shape[-1] % 32:
        writer.add_tensor(name, data.astype(np.float16))
    else:
        qtype = gguf.GGMLQuantizationType.Q8_0
        writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def _check_loads_back(model, tokenizer, path: Path, options, say) -> str:
    # transformers' GGUF reader maps GPT-2's context_length to n_ctx, not n_positions (which sizes
    # the position table), so a GPT-2 of any context but 1024 needs its config handed over
    config = model.config if model.config.model_type == "gpt2" else None
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, config=config
    ).eval()
    texts = ["To be, or not to be, that is the question", "All the world's a stage", "Now"]
    # one text at a time: no padding, so a tokenizer without a pad token (the Hub's gpt2) works
    expected, got = [], []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            expected.append(model(input_ids=ids).logits[0])
            got.append(loaded(input_ids=ids).logits[0])
    expected, got = torch.cat(expected), torch.cat(got)
    diff = float((expected - got).abs().max())
    agreement = float((expected.argmax(-1) == got.argmax(-1)).float().mean())
    say(f"{path.name} loaded back by transformers: largest |logit difference| {diff:.2e}, "
        f"next-token agreement {agreement:.1%} with PyTorch")  # fmt: skip
    if options.type == "f32" and diff > options.tolerance:
        raise VerificationFailed(
            f"gguf: {path.name} differs from PyTorch by {diff:.2e} > tolerance "
            f"{options.tolerance:g}; the export was removed"
        )
    if agreement < NEXT_TOKEN_AGREEMENT:
        raise VerificationFailed(
            f"gguf: {path.name} picks PyTorch's next token at only {agreement:.1%} of positions "
            f"(< {NEXT_TOKEN_AGREEMENT:.0%}); the export was removed"
        )
    return f"max_abs_diff {diff:.2e}, next-token agreement {agreement:.1%}"
