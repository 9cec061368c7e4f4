"""Preprocessing speed and memory: `llmkit preprocess` against run_clm.py's way, side by side.

The reference does what transformers' examples/pytorch/language-modeling/run_clm.py does:
`load_dataset("text")` → `map(tokenize, batched=True, num_proc=2)` → `map(group_texts,
batched=True, num_proc=2)`. llmkit runs its whole stage (read, clean, tokenize, pack, write the
Arrow directory + manifest). Same tokenizer for both: a byte-level BPE with 8k tokens trained here
with the `tokenizers` library. Each side runs in its own subprocess with a fresh datasets cache;
its peak memory is the largest sum of PSS over its process tree (RSS with pages shared after
fork counted once), sampled every 0.2 s.

Corpora: ../shared/data/tinyshakespeare/input.txt, and a ≥200 MB file built in a temp dir by
repeating real text from ../shared/data (tinyshakespeare and the Wikipedia extract). Cleaning keeps
its defaults (NFC, control characters) except de-duplication, which would drop the repeats.

The sides run interleaved on each corpus (reference, llmkit, llmkit, reference, … for --repeats
repetitions, see benchlib); the speedup is the median of the per-repetition ratios, printed with
its min and max and the load average at the start and end.

    python scripts/bench_preprocess.py            # full size (200 MB), 3 repetitions
    python scripts/bench_preprocess.py --mb 20 --repeats 2   # quick look

Ends with: RESULT preprocess_speedup=<median, big corpus> preprocess_speedup_min=… …_max=…
peak_rss_mb=<llmkit, max> llmkit_mb_per_s=<median> reference_mb_per_s=<median>
reference_peak_rss_mb=<max> corpus_mb=… load_start=… load_end=…
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread, shared_data  # noqa: E402

SHARED = shared_data()
SHAKESPEARE = SHARED / "tinyshakespeare" / "input.txt"
WIKI = SHARED / "wiki_text" / "wiki_00"
BLOCK_SIZE = 1024
NUM_PROC = 2


def train_tokenizer(out_dir: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = SHAKESPEARE.read_text(encoding="utf-8").splitlines()
    texts += WIKI.read_text(encoding="utf-8").splitlines()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    fast.model_max_length = BLOCK_SIZE
    fast.save_pretrained(out_dir)
    return out_dir


def build_big_corpus(path: Path, megabytes: int) -> Path:
    piece = SHAKESPEARE.read_bytes() + b"\n" + WIKI.read_bytes() + b"\n"
    with path.open("wb") as f:
        while f.tell() < megabytes * 1_000_000:
            f.write(piece)
    return path


# ---- the two sides, each run in a child process ------------------------------------------------


def side_reference(corpus: str, tokenizer_dir: str) -> dict:
    from itertools import chain

    from datasets import load_dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    raw = load_dataset("text", data_files={"train": corpus}, split="train", keep_linebreaks=True)

    def tokenize_function(examples):
        return tokenizer(examples["text"])

    tokenized = raw.map(tokenize_function, batched=True, num_proc=NUM_PROC, remove_columns=["text"])

    def group_texts(examples):  # run_clm.py's, verbatim in substance
        concatenated = {k: list(chain(*examples[k])) for k in examples}
        total_length = len(concatenated[next(iter(examples))])
        total_length = (total_length // BLOCK_SIZE) * BLOCK_SIZE
        result = {
            k: [t[i : i + BLOCK_SIZE] for i in range(0, total_length, BLOCK_SIZE)]
            for k, t in concatenated.items()
        }
        result["labels"] = result["input_ids"].copy()
        return result

    grouped = tokenized.map(group_texts, batched=True, num_proc=NUM_PROC)
    return {"blocks": len(grouped)}


def side_llmkit(corpus: str, tokenizer_dir: str, out_dir: str) -> dict:
    from llmkit.config.preprocess import PreprocessConfig
    from llmkit.data.preprocess import run_preprocess

    cfg = PreprocessConfig(
        data={"train": corpus},
        cleaning={"deduplicate": False},
        split={"validation_ratio": 0.0},
        tokenizer=tokenizer_dir,
        block_size=BLOCK_SIZE,
        num_proc=NUM_PROC,
        output_dir=out_dir,
    )
    out = run_preprocess(cfg, force=True)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"blocks": manifest["splits"]["train"]["rows"]}


def _tree_memory(parent) -> int:
    """Memory of a process and its workers: the sum of PSS (RSS with pages shared between them,
    e.g. after fork, counted once); plain RSS where PSS is not available."""
    import psutil

    total = 0
    try:
        for p in [parent, *parent.children(recursive=True)]:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
    except psutil.Error:
        pass  # a worker exited while we looked
    return total


def run_side(side: str, corpus: Path, tokenizer_dir: Path, work: Path) -> dict:
    """Run one side in a fresh process, datasets cache and output directory; time it and sample
    its tree's memory. The cache and output are deleted afterwards (GBs at full size)."""
    import psutil

    cache = Path(tempfile.mkdtemp(dir=work, prefix=f"cache-{side}-"))
    out_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"out-{side}-")) / "out"
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}
    cmd = [sys.executable, __file__, "--side", side, "--corpus", str(corpus)]
    cmd += ["--tokenizer", str(tokenizer_dir), "--out", str(out_dir)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        peak = max(peak, _tree_memory(parent))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode()
    shutil.rmtree(cache)
    shutil.rmtree(out_dir.parent)
    if proc.returncode != 0:
        raise SystemExit(f"{side} side failed ({proc.returncode}):\n{out}")
    result = json.loads(out.strip().splitlines()[-1])
    mb = corpus.stat().st_size / 1e6
    r = {**result, "seconds": seconds, "mb_per_s": mb / seconds, "peak_rss_mb": peak / 1e6}
    print(f"{side:>9}: {r['seconds']:7.1f} s  {r['mb_per_s']:5.2f} MB/s  "
          f"blocks {r['blocks']:>8,}  peak RSS {r['peak_rss_mb']:7.0f} MB", flush=True)  # fmt: skip
    return r


def compare(name: str, corpus: Path, tokenizer_dir: Path, work: Path, repeats: int):
    """Both sides interleaved; returns (speedup spread, reference runs, llmkit runs)."""
    mb = corpus.stat().st_size / 1e6
    print(f"\n== {name}: {mb:.1f} MB ==", flush=True)
    runs = interleave(
        {side: lambda _rep, side=side: run_side(side, corpus, tokenizer_dir, work)
         for side in ("reference", "llmkit")}, repeats,
    )  # fmt: skip
    reference, llmkit = runs["reference"], runs["llmkit"]
    for side, side_runs in runs.items():  # each side packs the same blocks every time
        if len({r["blocks"] for r in side_runs}) != 1:
            print(f"  WARNING: {side}'s block counts differ between repetitions", flush=True)
    speedup = ratio_spread([r["seconds"] for r in reference], [r["seconds"] for r in llmkit])
    print(f"  speedup llmkit / run_clm way: {speedup}", flush=True)
    return speedup, reference, llmkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the big corpus in MB")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--side", choices=["reference", "llmkit"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "reference":
        print(json.dumps(side_reference(args.corpus, args.tokenizer)))
        return
    if args.side == "llmkit":
        print(json.dumps(side_llmkit(args.corpus, args.tokenizer, args.out)))
        return

    run = Run("bench_preprocess: llmkit preprocess vs run_clm.py's load_dataset + map")
    with tempfile.TemporaryDirectory(prefix="bench_preprocess-") as tmp:
        work = Path(tmp)
        tokenizer_dir = train_tokenizer(work / "tokenizer")
        compare("tinyshakespeare", SHAKESPEARE, tokenizer_dir, work, args.repeats)
        big = build_big_corpus(work / "big.txt", args.mb)
        speedup, reference, llmkit = compare(
            f"repeated real text ({args.mb} MB)", big, tokenizer_dir, work, args.repeats
        )
    run.finish({
        **speedup.figures("preprocess_speedup"),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in llmkit)),
        "llmkit_mb_per_s": statistics.median(r["mb_per_s"] for r in llmkit),
        "reference_mb_per_s": statistics.median(r["mb_per_s"] for r in reference),
        "reference_peak_rss_mb": round(max(r["peak_rss_mb"] for r in reference)),
        "corpus_mb": args.mb,
    })  # fmt: skip


if __name__ == "__main__":
    main()
