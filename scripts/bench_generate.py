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

The two sides of each comparison run interleaved, the whole set of sentences each time (llmkit,
reference, reference, llmkit, … for --repeats repetitions; see benchlib), and each speedup is the
median of the per-repetition ratios, printed with their min and max and the load average at the
start and end. Outputs must be identical in every repetition.

    python scripts/bench_generate.py [--repeats 5] [--max-new-tokens 48] [--batch-size 32]
        [--threads N] [--only loop|pipeline]

Ends with: RESULT generate_speedup=<median vs per-example loop> generate_speedup_min=…
generate_speedup_max=… pipeline_speedup=<median vs pipeline> pipeline_speedup_min=…
pipeline_speedup_max=… identical=<true|false> load_start=… load_end=…
"""

import argparse
import json
import re
import sys
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread, shared_data, timed  # noqa: E402

from llmkit.config.generate import GenerationSettings  # noqa: E402
from llmkit.config.model import ModelConfig  # noqa: E402
from llmkit.generation import generate_texts, generation_config  # noqa: E402
from llmkit.models.build import load_or_build  # noqa: E402

DATA = shared_data() / "wmt_en_ro"


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


def compare(label: str, sides: dict, prompts: list[str], repeats: int) -> tuple[float, bool]:
    """Run llmkit and the reference interleaved; print each side's median rate, the speedup
    (median of per-repetition ratios, with min and max) and whether every output matched."""
    n = len(prompts)

    def run_side(name: str, fn) -> tuple[list[str], float]:
        outputs, seconds = timed(fn)
        print(f"  {label} {name}: {seconds:.1f} s", flush=True)
        return outputs, seconds

    runs = interleave({name: lambda _, name=name, fn=fn: run_side(name, fn)
                       for name, fn in sides.items()}, repeats)  # fmt: skip
    (ours_name, ours), (ref_name, ref) = runs.items()
    for name, side in runs.items():
        rates = sorted(n / seconds for _, seconds in side)
        print(f"{label} {name:<40} {rates[len(rates) // 2]:8.2f} sentences/s (median; "
              f"{rates[0]:.2f}–{rates[-1]:.2f})")  # fmt: skip
    speedup = ratio_spread([s for _, s in ref], [s for _, s in ours])
    same = [
        sum(a == b for a, b in zip(o, r, strict=True))
        for (o, _), (r, _) in zip(ours, ref, strict=True)
    ]
    print(f"{label} speedup {ours_name} / {ref_name}: {speedup}; outputs identical per "
          f"repetition: {', '.join(f'{k}/{n}' for k in same)}", flush=True)  # fmt: skip
    return speedup, all(k == n for k in same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs of each side")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch threads (default: torch's choice); 1 keeps timings stable on a busy machine",
    )  # fmt: skip
    parser.add_argument(
        "--only", choices=["loop", "pipeline"],
        help="one comparison: T5 vs the per-example loop, or GPT-2 vs the pipeline (the goal)",
    )  # fmt: skip
    args = parser.parse_args()
    run = Run("bench_generate: llmkit generate_texts vs a model.generate loop and vs pipeline")
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    prompts, corpus = sentences()
    tokenizer = train_tokenizer(corpus)
    n, batch = args.max_new_tokens, args.batch_size
    settings = GenerationSettings(max_new_tokens=n, min_new_tokens=n)
    print(f"{len(prompts)} sentences, greedy, {n} new tokens each, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, {args.repeats} interleaved repetitions")  # fmt: skip

    figures, identical = {}, True
    if args.only != "pipeline":
        t5 = build("t5", tokenizer)
        generate_texts(t5, tokenizer, prompts[:2], settings)  # warm-up, for both sides
        loop_speedup, same = compare("T5", {
            "llmkit generate_texts (sorted batches)":
                lambda: generate_texts(t5, tokenizer, prompts, settings, batch),
            "per-example model.generate loop":
                lambda: per_example_loop(t5, tokenizer, prompts, settings),
        }, prompts, args.repeats)  # fmt: skip
        figures.update(loop_speedup.figures("generate_speedup"))
        identical &= same

    if args.only != "loop":
        gpt2 = build("gpt2", tokenizer)
        generate_texts(gpt2, tokenizer, prompts[:2], settings)
        pipe_speedup, same = compare("GPT-2", {
            "llmkit generate_texts (sorted batches)":
                lambda: generate_texts(gpt2, tokenizer, prompts, settings, batch),
            "pipeline('text-generation', batch_size)":
                lambda: with_pipeline(gpt2, tokenizer, prompts, settings, batch),
        }, prompts, args.repeats)  # fmt: skip
        figures.update(pipe_speedup.figures("pipeline_speedup"))
        identical &= same
    run.finish({**figures, "identical": identical})


if __name__ == "__main__":
    main()
