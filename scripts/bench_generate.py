"""Generation speed: llmkit.generation.generate_texts against a per-example `model.generate` loop
and against `transformers.pipeline`, same model, data and decoding settings, in one run.

Data: the English sentences of ../shared/data/wmt_en_ro/{test,val}.json (records split into
sentences). Model: a random T5 (4 layers, d_model 256) built from config with a byte-level BPE
tokenizer trained here on the same corpus. Greedy decoding with min_new_tokens = max_new_tokens,
so every system generates exactly the same number of tokens whatever the random model predicts.

transformers 5.x removed the text2text-generation/translation pipelines (their REMOVED_TASKS
points to "text-generation"), so the pipeline comparison runs the same sentences as prompts
through a decoder-only GPT-2 of the same size (4 layers, d 256): llmkit against
`pipeline("text-generation", batch_size=…)`, both batched, same settings.

    python scripts/bench_generate.py [--max-new-tokens 48] [--batch-size 32] [--threads N]

Ends with: RESULT generate_speedup=<vs per-example loop> pipeline_speedup=<vs pipeline>
identical=<true|false>
"""

import argparse
import json
import re
import time
from pathlib import Path

import torch
import transformers

from llmkit.config.generate import GenerationSettings
from llmkit.config.model import ModelConfig
from llmkit.generation import generate_texts, generation_config
from llmkit.models.build import load_or_build

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wmt_en_ro"


def sentences() -> tuple[list[str], list[str]]:
    """(English sentences to translate, all text for the tokenizer)."""
    english, corpus = [], []
    for name in ("test.json", "val.json"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                pair = json.loads(line)["translation"]
                corpus += [pair["en"], pair["ro"]]
                english += [s for s in re.split(r"(?<=[.!?])\s+", pair["en"].strip()) if s]
    return english, corpus


def train_tokenizer(corpus: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build(family: str, tokenizer):
    torch.manual_seed(0)
    auto = (
        transformers.AutoModelForSeq2SeqLM if family == "t5" else transformers.AutoModelForCausalLM
    )
    cfg = ModelConfig(
        family=family, n_layers=4, hidden_size=256, n_heads=4, context_length=512,
        tie_embeddings=False,
    )  # fmt: skip
    model = load_or_build(cfg, auto, tokenizer).eval()
    with torch.no_grad():  # a random head predicts <pad> forever; make outputs prompt-dependent
        model.get_output_embeddings().weight.normal_(0.0, 1.0)
    return model


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def per_example_loop(model, tokenizer, prompts, settings) -> list[str]:
    """What a plain script does: one `model.generate` call per sentence."""
    config = generation_config(model, tokenizer, settings)
    outputs = []
    with torch.inference_mode():
        for prompt in prompts:
            enc = tokenizer(prompt, return_tensors="pt")
            ids = model.generate(**enc, generation_config=config)
            if not model.config.is_encoder_decoder:
                ids = ids[:, enc["input_ids"].shape[1] :]
            outputs.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return outputs


def with_pipeline(model, tokenizer, prompts, settings, batch_size) -> list[str]:
    tokenizer.padding_side = "left"
    pipe = transformers.pipeline("text-generation", model=model, tokenizer=tokenizer)
    config = generation_config(model, tokenizer, settings)
    results = pipe(prompts, generation_config=config, batch_size=batch_size, return_full_text=False)
    return [r[0]["generated_text"] for r in results]


def report(name: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"{name:<44} {seconds:8.1f} s {rate:8.2f} sentences/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch threads (default: torch's choice); 1 keeps timings stable on a busy machine",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    prompts, corpus = sentences()
    tokenizer = train_tokenizer(corpus)
    n = args.max_new_tokens
    settings = GenerationSettings(max_new_tokens=n, min_new_tokens=n)
    print(f"{len(prompts)} sentences, greedy, {n} new tokens each, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip

    t5 = build("t5", tokenizer)
    generate_texts(t5, tokenizer, prompts[:2], settings)  # warm-up, for both sides
    ours, t_ours = timed(lambda: generate_texts(t5, tokenizer, prompts, settings, args.batch_size))
    loop, t_loop = timed(lambda: per_example_loop(t5, tokenizer, prompts, settings))
    seq2seq_same = sum(a == b for a, b in zip(ours, loop, strict=True))
    r_ours = report("T5 llmkit generate_texts (sorted batches)", len(prompts), t_ours)
    r_loop = report("T5 per-example model.generate loop", len(prompts), t_loop)
    print(f"T5 outputs identical: {seq2seq_same}/{len(prompts)}")

    gpt2 = build("gpt2", tokenizer)
    generate_texts(gpt2, tokenizer, prompts[:2], settings)
    ours_c, t_ours_c = timed(
        lambda: generate_texts(gpt2, tokenizer, prompts, settings, args.batch_size)
    )
    pipe, t_pipe = timed(lambda: with_pipeline(gpt2, tokenizer, prompts, settings, args.batch_size))
    causal_same = sum(a == b for a, b in zip(ours_c, pipe, strict=True))
    r_ours_c = report("GPT-2 llmkit generate_texts (sorted batches)", len(prompts), t_ours_c)
    r_pipe = report("GPT-2 pipeline('text-generation', batch_size)", len(prompts), t_pipe)
    print(f"GPT-2 outputs identical: {causal_same}/{len(prompts)}")

    identical = seq2seq_same == len(prompts) and causal_same == len(prompts)
    print(
        f"RESULT generate_speedup={r_ours / r_loop:.2f} pipeline_speedup={r_ours_c / r_pipe:.2f} "
        f"identical={str(identical).lower()}"
    )


if __name__ == "__main__":
    main()
