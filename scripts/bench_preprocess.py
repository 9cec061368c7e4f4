"""Preprocessing speed and memory: `llmkit preprocess` against run_clm.py's way and against the
tokenizer's own ceiling, interleaved (ceiling, llmkit, run_clm; repeated) on the same corpus.

- ceiling: `tokenizers`' `encode_batch_fast` over the same non-empty lines, joined with the
  separator into groups of ~16k characters as llmkit's packer does, 250 groups per call; only
  the encode calls are timed (no process start, import, reading or grouping): the strictest
  ceiling.
- llmkit: its whole stage in a fresh process (import, read, clean, split, tokenize, pack, write
  the Arrow shards + manifest); timed from process start to exit.
- run_clm way: what transformers' examples/pytorch/language-modeling/run_clm.py does:
  `load_dataset("text")` → `map(tokenize, batched=True, num_proc=2)` → `map(group_texts, …)`,
  timed the same way as llmkit.

Same tokenizer for all: a byte-level BPE with 8k tokens trained here with `tokenizers`. Each
side runs in its own subprocess with a fresh datasets cache; peak memory is the largest sum of
PSS over its process tree (RSS with pages shared after fork counted once), sampled every 0.2 s.
Corpora of --small-mb and --mb MB are built in a temp dir by repeating real text from
../shared/data (tinyshakespeare and the Wikipedia extract). Cleaning keeps its defaults (NFC,
control characters) except de-duplication, which would drop the repeats. Last, llmkit alone on
--rss-mb MB for its peak memory (rss_growth = that peak / the peak at --small-mb).

The sides run interleaved (benchlib: the order flips each repetition); the ratios are medians
of the per-repetition ratios, printed with min and max, with the load average at start and end.

    python scripts/bench_preprocess.py                       # 50 + 200 MB x3, 1 GB; long
    python scripts/bench_preprocess.py --small-mb 10 --mb 20 --rss-mb 40 --repeats 1  # quick

Ends with: RESULT preprocess_speedup=<vs run_clm, --mb> ceiling_fraction=<llmkit/ceiling, --mb>
peak_rss_mb=<llmkit, --mb> rss_growth=<llmkit peak at --rss-mb / at --small-mb> (+ spreads,
MB/s of each side, load_start, load_end)
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
SIDES = ("ceiling", "llmkit", "reference")


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


def side_ceiling(corpus: str, tokenizer_dir: str) -> dict:
    """encode_batch_fast on the joined groups llmkit's packer makes; only the encoding is timed."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    sep = "<|endoftext|>"
    groups, current, size = [], [], 0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue  # llmkit drops empty documents
            current.append(line)
            size += len(line)
            if size >= 16_000:
                groups.append(sep.join(current) + sep)
                current, size = [], 0
    if current:
        groups.append(sep.join(current) + sep)
    tokens, seconds = 0, 0.0
    for start in range(0, len(groups), 250):
        batch = groups[start : start + 250]
        started = time.perf_counter()
        encodings = tokenizer.encode_batch_fast(batch, add_special_tokens=False)
        seconds += time.perf_counter() - started
        tokens += sum(len(e) for e in encodings)
    return {"blocks": tokens // BLOCK_SIZE, "tokens": tokens, "timed_seconds": seconds}


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
    train = manifest["splits"]["train"]
    return {
        "blocks": train["rows"],
        "tokens": train["tokens"] + train["tokens_dropped"],
        "phases": manifest["seconds_by_phase"],
    }


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
    seconds = result.get("timed_seconds", seconds)  # the ceiling times its encode calls only
    mb = corpus.stat().st_size / 1e6
    r = {**result, "seconds": seconds, "mb_per_s": mb / seconds, "peak_rss_mb": peak / 1e6}
    print(f"  {side:>9}: {r['seconds']:7.1f} s  {r['mb_per_s']:5.2f} MB/s  "
          f"blocks {r['blocks']:>9,}  peak {r['peak_rss_mb']:6.0f} MB  "
          f"load {os.getloadavg()[0]:.1f}  {r.get('phases', '')}", flush=True)  # fmt: skip
    return r


def compare(corpus: Path, tokenizer_dir: Path, work: Path, repeats: int) -> dict:
    """The three sides interleaved `repeats` times: per-repetition ratios and median figures."""
    mb = corpus.stat().st_size / 1e6
    print(f"\n== {mb:.0f} MB, {repeats} x (ceiling, llmkit, run_clm way) ==", flush=True)
    runs = interleave(
        {side: lambda _rep, side=side: run_side(side, corpus, tokenizer_dir, work)
         for side in SIDES}, repeats,
    )  # fmt: skip
    corpus.unlink()
    seconds = {side: [r["seconds"] for r in side_runs] for side, side_runs in runs.items()}
    speedup = ratio_spread(seconds["reference"], seconds["llmkit"])
    fraction = ratio_spread(seconds["ceiling"], seconds["llmkit"])
    print(f"  llmkit / run_clm way: {speedup}")
    print(f"  llmkit / ceiling:     {fraction}", flush=True)
    median = {
        side: {k: statistics.median(r[k] for r in side_runs) for k in ("mb_per_s", "peak_rss_mb")}
        for side, side_runs in runs.items()
    }
    return {"speedup": speedup, "fraction": fraction, "median": median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="the big corpus, MB (RESULT figures)")
    parser.add_argument("--small-mb", type=int, default=50, help="the small corpus, MB")
    parser.add_argument(
        "--rss-mb", type=int, default=1000, help="llmkit alone, for peak memory (0: skip)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument(
        "--rss-only", action="store_true", help="llmkit alone at --small-mb and --rss-mb only"
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side is not None:
        run = {"reference": lambda: side_reference(args.corpus, args.tokenizer),
               "ceiling": lambda: side_ceiling(args.corpus, args.tokenizer),
               "llmkit": lambda: side_llmkit(args.corpus, args.tokenizer, args.out)}  # fmt: skip
        print(json.dumps(run[args.side]()))
        return

    run = Run("bench_preprocess: llmkit preprocess vs the tokenizer's ceiling and run_clm.py's way")
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench_preprocess-") as tmp:
        work = Path(tmp)
        tokenizer_dir = train_tokenizer(work / "tokenizer")
        if args.rss_only:
            small_peak = llmkit_alone(args.small_mb, tokenizer_dir, work)["peak_rss_mb"]
        else:
            small = compare(_corpus(work, args.small_mb), tokenizer_dir, work, args.repeats)
            big = compare(_corpus(work, args.mb), tokenizer_dir, work, args.repeats)
            small_peak = small["median"]["llmkit"]["peak_rss_mb"]
            figures.update(big["speedup"].figures("preprocess_speedup"))
            figures.update(big["fraction"].figures("ceiling_fraction"))
            figures["peak_rss_mb"] = round(big["median"]["llmkit"]["peak_rss_mb"])
        if args.rss_mb:
            huge = llmkit_alone(args.rss_mb, tokenizer_dir, work)["peak_rss_mb"]
            figures["rss_growth"] = huge / small_peak
            figures[f"peak_rss_mb_at_{args.rss_mb}mb"] = round(huge)
    figures[f"peak_rss_mb_at_{args.small_mb}mb"] = round(small_peak)
    if not args.rss_only:
        for side in SIDES:
            figures[f"{side}_mb_per_s"] = big["median"][side]["mb_per_s"]
        figures["corpus_mb"] = args.mb
    run.finish(figures)


def _corpus(work: Path, megabytes: int) -> Path:
    return build_big_corpus(work / f"corpus-{megabytes}mb.txt", megabytes)


def llmkit_alone(megabytes: int, tokenizer_dir: Path, work: Path) -> dict:
    """llmkit's stage alone on a corpus of `megabytes` MB (for its peak memory)."""
    print(f"\n== llmkit alone, {megabytes} MB ==", flush=True)
    corpus = _corpus(work, megabytes)
    result = run_side("llmkit", corpus, tokenizer_dir, work)
    corpus.unlink()
    return result


if __name__ == "__main__":
    main()
