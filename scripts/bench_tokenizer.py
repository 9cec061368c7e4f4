"""Benchmark: `llmkit tokenizer train` against the `tokenizers` library's own file trainer.

Both train the same byte-level BPE (vocab 8000, min_frequency 2) on the same corpus, built by
repeating the shipped tinyshakespeare text to --mb megabytes. llmkit reads the corpus through
`datasets` (text → Arrow, then streamed in batches, so any source format works and memory stays
flat); the reference is the tokenizers quicktour's `Tokenizer.train(files)`, whose Rust reader is
the fastest path the library offers for plain text. Each side runs in a fresh process so its peak
RSS is its own; llmkit's time includes the text → Arrow conversion (the cache starts cold).

The sides run interleaved (llmkit, reference, reference, llmkit, … for --repeats repetitions, see
benchlib); the speed ratio is the median of the per-repetition ratios, printed with its min and
max and the load average at the start and end.

    python scripts/bench_tokenizer.py --mb 200 [--repeats 3]

Ends with: RESULT tokenizer_speed_ratio=<median reference time / llmkit time> …_min=… …_max=…
llmkit_mb_per_s=<median> llmkit_peak_rss_mb=<max> reference_peak_rss_mb=<max> load_start=…
load_end=…
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "llmkit" / "corpus" / "tinyshakespeare.txt"

LLMKIT = """
import json, os, resource, sys, time
os.environ["HF_DATASETS_CACHE"] = sys.argv[4]  # cold cache: conversion to Arrow is timed
from llmkit.config.load import load_config
from llmkit.config.tokenizer import TokenizerTrainConfig
from llmkit.tokenizer import train_tokenizer
corpus, out, vocab = sys.argv[1:4]
cfg = load_config(TokenizerTrainConfig, None, [
    f"data.train={corpus}", f"output_dir={out}", "tokenizer.type=bpe",
    f"tokenizer.vocab_size={vocab}", "tokenizer.min_frequency=2",
])
start = time.perf_counter()
train_tokenizer(cfg)
seconds = time.perf_counter() - start
from tokenizers import Tokenizer
size = Tokenizer.from_file(f"{out}/tokenizer.json").get_vocab_size()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss, "vocab": size}))
"""

REFERENCE = """
import json, resource, sys, time
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
corpus, out, vocab = sys.argv[1:4]
start = time.perf_counter()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=int(vocab), min_frequency=2, special_tokens=["<pad>", "<|endoftext|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
)
tok.train([corpus], trainer)
tok.save(f"{out}.json")
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss, "vocab": tok.get_vocab_size()}))
"""


def build_corpus(path: Path, megabytes: int) -> None:
    text = CORPUS.read_text(encoding="utf-8")
    with path.open("w", encoding="utf-8") as f:
        for _ in range(max(1, megabytes * 1_000_000 // len(text))):
            f.write(text)


def run(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="corpus size in megabytes")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side")
    args = parser.parse_args()
    run = Run("bench_tokenizer: llmkit tokenizer train vs tokenizers' Tokenizer.train(files)")
    vocab = str(args.vocab)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        build_corpus(corpus, args.mb)
        mb = corpus.stat().st_size / 1e6
        print(f"corpus {mb:.0f} MB, byte-level BPE vocab {args.vocab}", flush=True)
        sides = {  # a fresh output and a cold datasets cache for every llmkit run
            "llmkit": lambda rep: run_side(LLMKIT, corpus, f"{tmp}/llmkit{rep}", vocab,
                                           f"{tmp}/hf_cache{rep}"),
            "tokenizers train(files)": lambda rep: run_side(REFERENCE, corpus,
                                                            f"{tmp}/reference{rep}", vocab),
        }  # fmt: skip
        runs = interleave(sides, args.repeats)
    ours, ref = runs["llmkit"], runs["tokenizers train(files)"]
    ratio = ratio_spread([r["seconds"] for r in ref], [o["seconds"] for o in ours])
    print(f"speed ratio llmkit / reference: {ratio}")
    run.finish({
        **ratio.figures("tokenizer_speed_ratio"),
        "llmkit_mb_per_s": statistics.median(mb / o["seconds"] for o in ours),
        "llmkit_peak_rss_mb": round(max(o["rss_mb"] for o in ours)),
        "reference_peak_rss_mb": round(max(r["rss_mb"] for r in ref)),
    })  # fmt: skip


def run_side(code: str, corpus: Path, *args: str) -> dict:
    result = run(code, str(corpus), *args)
    mb = corpus.stat().st_size / 1e6
    print(f"  {'llmkit' if code is LLMKIT else 'reference':>9}: {result['seconds']:7.1f} s  "
          f"{mb / result['seconds']:5.2f} MB/s  peak RSS {result['rss_mb']:6.0f} MB  "
          f"vocab {result['vocab']}", flush=True)  # fmt: skip
    return result


if __name__ == "__main__":
    main()
