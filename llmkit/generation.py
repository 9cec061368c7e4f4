"""Batched text generation shared by `llmkit generate`, `llmkit eval` and finetune validation.

Why it is fast: prompts are tokenized once, sorted by length and generated in batches, so each
batch pads only to its own longest prompt (see `length_batches`); `model.generate` keeps the KV
cache, written in place (llmkit.models.kv_cache), and GPT-2's GELU runs in place
(llmkit.models.activations); on a multi-core CPU two greedy batches are in flight at once
(llmkit.models.batch_threads). All compute exactly what the model computes, so outputs do not
change. Decoder-only models are padded on the left so every prompt ends where generation starts.
Outputs come back in input order. Sampling is seeded inside a forked RNG, so calling this in the middle of training neither
depends on nor disturbs the training RNG.
"""

import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import transformers
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TextIteratorStreamer
from transformers.utils import logging as hf_logging

from llmkit.config.generate import GenerateConfig, GenerationSettings
from llmkit.config.load import save_resolved_config
from llmkit.errors import CheckpointError, ConfigError, DataError
from llmkit.models.activations import in_place_activations
from llmkit.models.batch_threads import map_in_flight, worker_count
from llmkit.models.build import from_pretrained
from llmkit.models.decoding import generation_config
from llmkit.models.kv_cache import CACHE_ARGUMENT, preallocated_cache
from llmkit.models.properties import is_encoder_decoder, max_positions
from llmkit.outputs import check_output_dir, staged_output_dir
from llmkit.tasks.models import load_trained_model, task_of_model
from llmkit.writable import require_writable_dir


def _encode(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], settings: GenerationSettings, left
) -> list[list[int]]:
    ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    limit = settings.max_input_tokens
    if limit is not None:
        # A decoder-only model continues the end of its prompt, so that is the part to keep.
        ids = [seq[-limit:] if left else seq[:limit] for seq in ids]
    for i, seq in enumerate(ids):
        if not seq:
            raise DataError(f"prompt {i + 1} is empty after tokenization; give it some text")
    return ids


def _check_context(model: PreTrainedModel, ids: list[list[int]], settings: GenerationSettings):
    """A decoder with learned positions (GPT-2) cannot go past its last position: say so before
    generating instead of failing deep inside the embedding lookup."""
    context = max_positions(model.config)
    longest = max(range(len(ids)), key=lambda i: len(ids[i]))
    needed = len(ids[longest]) + settings.max_new_tokens
    if context and needed > context:
        raise ConfigError(
            f"prompt {longest + 1} has {len(ids[longest])} tokens; with generation.max_new_tokens "
            f"{settings.max_new_tokens} that is {needed} positions, beyond the model's context "
            f"of {context}",
            "lower generation.max_new_tokens or set generation.max_input_tokens",
        )


@contextmanager
def _inference(model: torch.nn.Module, seed: int):
    """Eval mode, no autograd (so activations may run in place), seeded forked RNG; restores the
    model's train/eval mode."""
    was_training = model.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with (
            torch.random.fork_rng(devices=devices),
            torch.inference_mode(),
            in_place_activations(model),
        ):
            torch.manual_seed(seed)
            model.eval()
            yield
    finally:
        model.train(was_training)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of `lengths` grouped into batches of at most `batch_size`, longest first, as many
    batches as plain chunking would make.

    Every batch pads to its longest prompt, and the KV cache carries that padding through every
    generated token. Sorting by length keeps neighbours alike; the one short batch (the remainder)
    goes to the long end, where lengths are sparse and a full batch would pad most. The longest
    prompts still come first, so a batch too big for memory fails at once.
    """
    if not lengths:
        return []
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    first = len(order) % batch_size or batch_size
    starts = [0, *range(first, len(order), batch_size)]
    return [order[a:b] for a, b in zip(starts, [*starts[1:], len(order)], strict=True)]


def prompt_batches(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    settings: GenerationSettings,
    batch_size: int,
) -> list[list[int]]:
    """The batches (indices of `prompts`) that generate_texts would run, after checking that
    every prompt fits the model's context: `llmkit eval` shares them out across processes."""
    left = not is_encoder_decoder(model.config)
    ids = _encode(tokenizer, prompts, settings, left)
    if left:
        _check_context(model, ids, settings)
    return length_batches([len(seq) for seq in ids], batch_size)


def generate_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    settings: GenerationSettings,
    batch_size: int = 32,
) -> list[str]:
    """Generate one completion per prompt, in the order of `prompts`.

    For decoder-only models the result holds only the new text (the prompt is cut off); for
    encoder–decoder models it is the decoder output. Special tokens are removed. Pass the
    unwrapped model (`accelerator.unwrap_model(model)`) when called inside training.
    """
    if not prompts:
        return []
    left = not is_encoder_decoder(model.config)
    ids = _encode(tokenizer, prompts, settings, left)
    if left:
        _check_context(model, ids, settings)
    gen_config = generation_config(model, tokenizer, settings)
    batches = length_batches([len(seq) for seq in ids], batch_size)
    # padded here, decoded below: only this thread touches the tokenizer
    padded = [
        tokenizer.pad(
            {"input_ids": [ids[i] for i in chunk]},
            padding_side="left" if left else "right",
            return_tensors="pt",
        ).to(model.device)
        for chunk in batches
    ]

    def run(batch) -> torch.Tensor:
        return model.generate(
            **batch, generation_config=gen_config, **_cache_argument(model, batch, gen_config)
        )

    workers = worker_count(model.device, not gen_config.do_sample, len(batches))
    with _inference(model, settings.seed):
        generated = map_in_flight(run, padded, workers)
    outputs: list[str] = [""] * len(ids)
    for chunk, batch, tokens in zip(batches, padded, generated, strict=True):
        if left:
            tokens = tokens[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(tokens, skip_special_tokens=True)
        for i, text in zip(chunk, texts, strict=True):
            outputs[i] = text
    return outputs


def _cache_argument(model: PreTrainedModel, batch, gen_config) -> dict:
    """generate's cache argument: one written in place (see llmkit.models.kv_cache) for greedy or
    sampled decoder-only batches, sized for the padded prompts plus every new token. Beam search
    reorders its cache every step, and a cache_implementation in the model's generation config
    (static, offloaded, quantized …) is the user's choice: both keep transformers' own."""
    if gen_config.num_beams > 1 or gen_config.cache_implementation is not None:
        return {}
    capacity = batch["input_ids"].shape[1] + gen_config.max_new_tokens
    cache = preallocated_cache(model, capacity)
    return {} if cache is None else {CACHE_ARGUMENT: cache}


def stream_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    settings: GenerationSettings,
) -> Iterator[str]:
    """Yield the completion of one prompt piece by piece as the model produces it."""
    left = not is_encoder_decoder(model.config)
    ids = _encode(tokenizer, [prompt], settings, left)[0]
    if left:
        _check_context(model, [ids], settings)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=left, skip_special_tokens=True)
    inputs = {"input_ids": torch.tensor([ids], device=model.device)}
    gen_config = generation_config(model, tokenizer, settings)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with _inference(model, settings.seed):
                model.generate(**inputs, generation_config=gen_config, streamer=streamer)
        except BaseException as e:  # re-raised in the caller's thread below
            errors.append(e)
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    yield from streamer
    worker.join()
    if errors:
        raise errors[0]


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_generator(model_dir: str, device: str = "auto"):
    """(model, tokenizer) for generation from a model directory or hub id, in eval mode."""
    path = Path(model_dir)
    if path.exists() and not (path / "config.json").is_file():
        raise CheckpointError(
            f"{path} is not a model directory (no config.json); point at the output_dir of "
            "`llmkit pretrain` or `llmkit finetune`"
        )
    config = from_pretrained(transformers.AutoConfig, model_dir, "model")
    # loaded as the task that generates with it loads it (llmkit.tasks.models)
    task = "seq2seq" if is_encoder_decoder(config) else "clm"
    trained_by = task_of_model(config.architectures, is_encoder_decoder(config))
    architectures = config.architectures or []
    bare = trained_by is None and architectures and all(a.endswith("Model") for a in architectures)
    if trained_by not in (None, "clm", "seq2seq") or bare:
        # Loading it as a causal LM would put a fresh, random LM head on it.
        head = f"{trained_by} head" if trained_by else "no head"
        raise CheckpointError(
            f"{model_dir} is a {', '.join(architectures)} ({head}), which does not generate "
            "text; give a causal LM or an encoder–decoder model"
        )
    try:
        model = load_trained_model(task, model_dir, "model")
    except ValueError as e:
        raise CheckpointError(
            f"{model_dir}: a {config.model_type} model cannot generate text ({e})"
        ) from None
    tokenizer = from_pretrained(transformers.AutoTokenizer, model_dir, "model")
    return model.to(pick_device(device)).eval(), tokenizer


def read_prompts(cfg: GenerateConfig) -> list[str]:
    prompts = list(cfg.prompts)
    if cfg.input_file is not None:
        path = Path(cfg.input_file)
        if not path.is_file():
            raise DataError(f"input_file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".jsonl":
            prompts += [_field(line, n, path, cfg.input_field) for n, line in _numbered(lines)]
        else:
            prompts += [line for line in lines if line.strip()]
    return prompts


def _numbered(lines: list[str]):
    return [(n, line) for n, line in enumerate(lines, 1) if line.strip()]


def _field(line: str, number: int, path: Path, field: str) -> str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{number}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(row, dict) or field not in row:
        keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
        raise DataError(f"{path}:{number}: no field '{field}' (present: {keys}); set input_field")
    return str(row[field])


def run_generate(cfg: GenerateConfig, interactive: bool = False, force: bool = False) -> list[str]:
    """The `llmkit generate` stage: print (and optionally save) completions, or chat. An earlier
    generate output in output_dir is replaced only with `force`."""
    if cfg.model is None:
        raise ConfigError("model: give a model directory (the MODEL_DIR argument)")
    if cfg.output_dir is not None and not interactive:
        check_output_dir(Path(cfg.output_dir), "generate", force)
        require_writable_dir(cfg.output_dir, "output_dir", swapped_in=True)
    hf_logging.disable_progress_bar()  # a "Loading weights" bar would interleave with outputs
    prompts = read_prompts(cfg)
    if not prompts and not interactive:
        raise ConfigError("no prompts: pass --prompt TEXT, --input-file FILE or --interactive")
    model, tokenizer = load_generator(cfg.model, cfg.device)
    if interactive:
        _interactive(model, tokenizer, cfg.generation)
        return []
    outputs = generate_texts(model, tokenizer, prompts, cfg.generation, cfg.batch_size)
    for prompt, output in zip(prompts, outputs, strict=True):
        sys.stdout.write(json.dumps({"prompt": prompt, "output": output}, ensure_ascii=False))
        sys.stdout.write("\n")
    if cfg.output_dir is not None:
        _save_generations(cfg, prompts, outputs, force)
    return outputs


def _save_generations(
    cfg: GenerateConfig, prompts: list[str], outputs: list[str], force: bool
) -> Path:
    final = Path(cfg.output_dir)
    with staged_output_dir(final, "generate", force) as tmp:
        with open(tmp / "generations.jsonl", "w", encoding="utf-8") as f:
            for prompt, output in zip(prompts, outputs, strict=True):
                row = {"prompt": prompt, "output": output}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        save_resolved_config(cfg, tmp)
    return final


def _interactive(model, tokenizer, settings: GenerationSettings) -> None:
    """Read a prompt per line from stdin, stream each completion; an empty line or EOF ends."""
    while True:
        sys.stdout.write("> ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line.strip():
            return
        for piece in stream_text(model, tokenizer, line.rstrip("\n"), settings):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
