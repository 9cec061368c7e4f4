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

    python scripts/bench_preprocess.py            # full size (200 MB); ~10 min on 2 cores
    python scripts/bench_preprocess.py --mb 20    # quick look
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ../shared/data from the repository root; from a worktree under /work/wt, the nearest ancestor's
SHARED = next(
    (
        p / "shared" / "data"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "data").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
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
    """Run one side in a fresh process and datasets cache; time it and sample its tree's RSS."""
    import psutil

    cache = Path(tempfile.mkdtemp(dir=work, prefix=f"cache-{side}-"))
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}
    cmd = [sys.executable, __file__, "--side", side, "--corpus", str(corpus)]
    cmd += ["--tokenizer", str(tokenizer_dir), "--out", str(work / f"out-{side}")]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = 0
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        peak = max(peak, _tree_memory(parent))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{side} side failed ({proc.returncode}):\n{out}")
    result = json.loads(out.strip().splitlines()[-1])
    mb = corpus.stat().st_size / 1e6
    return {**result, "seconds": seconds, "mb_per_s": mb / seconds, "peak_rss_mb": peak / 1e6}


def compare(name: str, corpus: Path, tokenizer_dir: Path, work: Path) -> tuple[dict, dict]:
    mb = corpus.stat().st_size / 1e6
    print(f"\n== {name}: {mb:.1f} MB ==", flush=True)
    results = {}
    for side in ("reference", "llmkit"):
        r = run_side(side, corpus, tokenizer_dir, work)
        results[side] = r
        print(
            f"{side:>9}: {r['seconds']:7.1f} s  {r['mb_per_s']:5.2f} MB/s  "
            f"blocks {r['blocks']:>8,}  peak RSS {r['peak_rss_mb']:7.0f} MB",
            flush=True,
        )
    ratio = results["llmkit"]["mb_per_s"] / results["reference"]["mb_per_s"]
    print(f"  speedup llmkit / run_clm way: {ratio:.2f}x", flush=True)
    return results["reference"], results["llmkit"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the big corpus in MB")
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

    with tempfile.TemporaryDirectory(prefix="bench_preprocess-") as tmp:
        work = Path(tmp)
        tokenizer_dir = train_tokenizer(work / "tokenizer")
        compare("tinyshakespeare", SHAKESPEARE, tokenizer_dir, work)
        big = build_big_corpus(work / "big.txt", args.mb)
        reference, llmkit = compare(f"repeated real text ({args.mb} MB)", big, tokenizer_dir, work)
    speedup = llmkit["mb_per_s"] / reference["mb_per_s"]
    print(
        f"RESULT preprocess_speedup={speedup:.2f} peak_rss_mb={llmkit['peak_rss_mb']:.0f} "
        f"llmkit_mb_per_s={llmkit['mb_per_s']:.2f} reference_mb_per_s={reference['mb_per_s']:.2f} "
        f"reference_peak_rss_mb={reference['peak_rss_mb']:.0f} corpus_mb={args.mb}"
    )


if __name__ == "__main__":
    main()
