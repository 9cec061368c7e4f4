"""SST-2 finetuning speed and accuracy: llmkit against a run_glue.py-style transformers.Trainer.

Both sides train the same 4-layer, hidden-256 BERT (built from the same config, same seed) with
the same WordPiece tokenizer (trained here with `tokenizers` on the training rows), the same rows,
epochs, batch size, learning rate and linear schedule. The Trainer is set up as
examples/pytorch/text-classification/run_glue.py does by default: every example padded to
max_seq_length 128, the default data collator and the default random sampler. llmkit pads each
batch to its own longest example (its default batches are random, as the Trainer's are).

One run's dev accuracy moves by several points with the seed alone (872 dev sentences: one
standard error is ~1.6 points, and the seed changes the initial weights, dropout and batch order on
top of that), so `--seeds` trains each side once per seed; both sides draw their initial weights
from the same seed and get identical ones. The accuracies reported are means over the seeds.
scripts/compare_finetune_same_draws.py takes the draws out (same batch order, no dropout) and
shows both sides then train identically.

The seeds are also the repetitions of the speed measurement: per seed the sides run back to back,
in alternating order (Trainer, llmkit, then llmkit, Trainer, … see benchlib), and the speedup is
the median of the per-seed ratios, printed with its min and max and the load average at the
start and end.

A second comparison runs llmkit with LoRA (r=8 on query/key/value, the classifier trained)
against llmkit full finetuning, interleaved with the same seeds: speed (median per-seed ratio),
peak memory (max RSS of the process) and accuracy. Each run is its own process so that peak
memory and thread pools are not shared.

    python scripts/bench_finetune.py                    # 8k rows, 2 epochs, batch 32, 3 seeds
    python scripts/bench_finetune.py --seeds 42         # one run per side (no spread)
    python scripts/bench_finetune.py --rows 2000 --epochs 1
    python scripts/bench_finetune.py --seeds 51,52,53 --reference-padding longest \
        --llmkit-set batching.window=32             # the batching study in BENCHMARKS.md

Ends with: RESULT finetune_speedup=<median> finetune_speedup_min=… finetune_speedup_max=…
accuracy=<llmkit mean> accuracy_ref=<Trainer mean> lora_speedup=<median> (and _min, _max)
lora_peak_mb=… full_peak_mb=… lora_accuracy=<mean> load_start=… load_end=…
"""

import argparse
import csv
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread, run_worker, shared_data  # noqa: E402

DATA = shared_data() / "sst2"
MODEL = {"family": "bert", "n_layers": 4, "hidden_size": 256, "n_heads": 4,
         "context_length": 128, "dropout": 0.1}  # fmt: skip
LR = 5e-5  # TrainingArguments' default, which run_glue.py keeps


def read_tsv(path: Path, text_column: str) -> list[tuple[int, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(int(r["label"]), r[text_column].strip()) for r in reader]


def prepare(work: Path, rows: int) -> None:
    """Training subset and dev set as label/sentence TSVs, and a WordPiece tokenizer."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    train = read_tsv(DATA / "train.tsv", "sentence")
    random.Random(0).shuffle(train)
    train = train[:rows]
    dev = read_tsv(DATA / "dev.tsv", "content")  # dev.tsv names its text column `content`
    for name, data in (("train.tsv", train), ("dev.tsv", dev)):
        with (work / name).open("w", encoding="utf-8", newline="") as f:
            f.write("label\tsentence\n")
            f.writelines(f"{label}\t{text}\n" for label, text in data)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        [t for _, t in train], trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )  # fmt: skip
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
    ).save_pretrained(work / "tokenizer")  # fmt: skip


def llmkit_config(work: Path, args, out: Path, lora: bool = False):
    """llmkit's side of the comparison, with `--llmkit-set` overrides applied."""
    from llmkit.config.finetune import FinetuneConfig
    from llmkit.config.load import apply_overrides

    return FinetuneConfig.model_validate(apply_overrides({
        "output_dir": str(out), "tokenizer": str(work / "tokenizer"), "model": MODEL,
        "task": {"type": "classification", "labels": ["negative", "positive"]},
        "data": {"train": str(work / "train.tsv"), "validation": str(work / "dev.tsv"),
                 "columns": {"text": "sentence", "label": "label"}},
        "cleaning": {"deduplicate": False}, "max_length": 128,
        "lora": {"enabled": lora, "r": 8, "alpha": 16, "target_modules": ["query", "key", "value"]},
        "train": {"batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed,
                  "optimizer": {"lr": args.lora_lr if lora else LR, "weight_decay": 0.0},
                  "schedule": {"kind": "linear", "warmup_steps": 0},
                  "logging": {"every_steps": 50, "live": False, "trackers": []}},
    }, args.llmkit_set))  # fmt: skip


def run_llmkit(work: Path, args, lora: bool) -> dict:
    from llmkit.train.stage import run_training

    run_name = f"llmkit-lora-seed{args.seed}" if lora else f"llmkit-seed{args.seed}"
    out = work / run_name  # one output_dir per run: llmkit refuses to train into a used one
    cfg = llmkit_config(work, args, out, lora)
    start = time.perf_counter()
    run_training(cfg)  # tokenization, training, the final validation and saving all count
    seconds = time.perf_counter() - start
    lines = (out / "metrics.jsonl").read_text().splitlines()
    final = [r for r in map(json.loads, lines) if r["split"] == "validation"][-1]
    return {"seconds": seconds, "accuracy": final["accuracy"]}


def reference_data_and_model(work: Path, seed: int, padding, model: dict):
    """The Trainer's side as run_glue.py prepares it: tokenized splits (padding="max_length",
    max_seq_length=128, or False for per-batch padding) and the model, whose initial weights
    come from `seed` as llmkit's do. Returns (tokenizer, data, model)."""
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import architecture_config

    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    files = {"train": str(work / "train.tsv"), "validation": str(work / "dev.tsv")}
    raw = load_dataset("csv", data_files=files, delimiter="\t", quoting=3)

    def preprocess(batch):
        enc = tokenizer(batch["sentence"], padding=padding, max_length=128, truncation=True)
        enc["labels"] = batch["label"]
        return enc

    data = raw.map(preprocess, batched=True, remove_columns=raw["train"].column_names)
    config = architecture_config(ModelConfig(**model), tokenizer)
    config.num_labels = 2
    return tokenizer, data, AutoModelForSequenceClassification.from_config(config)


def dev_accuracy(trainer, dev) -> float:
    import numpy as np

    predictions = trainer.predict(dev)
    return float(np.mean(predictions.predictions.argmax(-1) == predictions.label_ids))


def run_trainer(work: Path, args) -> dict:
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    padding = "max_length" if args.reference_padding == "max_length" else False
    tokenizer, data, model = reference_data_and_model(work, args.seed, padding, MODEL)
    training_args = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, num_train_epochs=args.epochs,
        learning_rate=LR, lr_scheduler_type="linear", seed=args.seed, use_cpu=True, report_to=[],
        save_strategy="no", eval_strategy="no", logging_steps=50, disable_tqdm=True,
    )  # fmt: skip
    collator = default_data_collator if padding else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(model=model, args=training_args, train_dataset=data["train"],
                      data_collator=collator)  # fmt: skip
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "accuracy": dev_accuracy(trainer, data["validation"])}


def worker(kind: str, work: Path, args) -> None:
    result = (
        run_trainer(work, args) if kind == "trainer" else run_llmkit(work, args, kind == "lora")
    )
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("WORKER " + json.dumps(result), flush=True)


def spawn(kind: str, work: Path, argv: list[str]) -> dict:
    result = run_worker(__file__, kind, work, argv)
    print(f"  {kind:<7} {' '.join(argv[-2:])}: {result['seconds']:7.1f} s, dev accuracy "
          f"{result['accuracy']:.4f}", flush=True)  # fmt: skip
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lora-lr", type=float, default=5e-4)
    parser.add_argument(
        "--seeds", default="42,43,44",
        help="comma-separated; each side trains once per seed, interleaved",
    )  # fmt: skip
    parser.add_argument("--skip-lora", action="store_true")
    parser.add_argument(
        "--llmkit-set", action="append", default=[], metavar="KEY=VALUE",
        help="override llmkit's config, as `llmkit finetune --set` (e.g. batching.window=32)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-padding", choices=["max_length", "longest"], default="max_length",
        help="longest: the Trainer pads per batch (same model and loss, ~3.6x faster; for "
        "many-seed accuracy studies, not for the speed ratio)",
    )  # fmt: skip
    parser.add_argument("--worker", choices=["trainer", "llmkit", "lora"])
    parser.add_argument("--seed", type=int, default=42, help="a worker's seed")
    parser.add_argument("--work", type=Path)
    return parser.parse_args()


def mean_and_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f} (sd over {len(values)} seeds)"


def report_accuracy(seeds: list[int], ref: list[dict], ours: list[dict], examples: float) -> None:
    print(f"{'seed':>6s}  {'Trainer acc':>11s}  {'llmkit acc':>10s}  {'Trainer ex/s':>12s}  "
          f"{'llmkit ex/s':>11s}")  # fmt: skip
    for seed, r, o in zip(seeds, ref, ours, strict=True):
        print(f"{seed:6d}  {r['accuracy']:11.4f}  {o['accuracy']:10.4f}  "
              f"{examples / r['seconds']:12.1f}  {examples / o['seconds']:11.1f}")  # fmt: skip
    print(f"Trainer (run_glue.py style) dev accuracy {mean_and_sd([r['accuracy'] for r in ref])}")
    print(f"llmkit                      dev accuracy {mean_and_sd([o['accuracy'] for o in ours])}")
    if len(seeds) > 1:
        # both sides start from the same weights per seed, so the per-seed difference is the
        # less noisy comparison; its standard error says whether a gap is more than seed noise
        gaps = [o["accuracy"] - r["accuracy"] for r, o in zip(ref, ours, strict=True)]
        se = statistics.stdev(gaps) / len(gaps) ** 0.5
        print(f"llmkit − Trainer per seed: {statistics.mean(gaps):+.4f} ± {se:.4f} (s.e.)")


def report_lora(full: list[dict], lora: list[dict], examples: float) -> dict[str, object]:
    """llmkit LoRA against llmkit full finetuning (same seeds); returns the RESULT keys."""
    speedup = ratio_spread([f["seconds"] for f in full], [lo["seconds"] for lo in lora])
    lora_peak = max(lo["peak_rss_mb"] for lo in lora)
    full_peak = max(f["peak_rss_mb"] for f in full)
    lora_accuracy = statistics.mean(lo["accuracy"] for lo in lora)
    print(f"LoRA vs full (llmkit): speedup {speedup}; median "
          f"{statistics.median(examples / lo['seconds'] for lo in lora):.1f} vs "
          f"{statistics.median(examples / f['seconds'] for f in full):.1f} examples/s, peak RSS "
          f"{lora_peak:.0f} vs {full_peak:.0f} MB, mean dev accuracy {lora_accuracy:.4f} vs "
          f"{statistics.mean(f['accuracy'] for f in full):.4f}")  # fmt: skip
    return {**speedup.figures("lora_speedup"), "lora_peak_mb": round(lora_peak),
            "full_peak_mb": round(full_peak), "lora_accuracy": f"{lora_accuracy:.4f}"}  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args.worker, args.work, args)
        return
    run = Run("bench_finetune: llmkit finetune vs a run_glue.py-style Trainer on SST-2")
    seeds = [int(s) for s in args.seeds.split(",")]
    argv = ["--rows", str(args.rows), "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--lora-lr", str(args.lora_lr),
            "--reference-padding", args.reference_padding]  # fmt: skip
    argv += [f"--llmkit-set={item}" for item in args.llmkit_set]
    examples = args.rows * args.epochs
    kinds = ["trainer", "llmkit"] + ([] if args.skip_lora else ["lora"])
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        work = Path(tmp)
        prepare(work, args.rows)
        sides = {kind: lambda rep, kind=kind: spawn(kind, work, [*argv, "--seed", str(seeds[rep])])
                 for kind in kinds}  # fmt: skip
        runs = interleave(sides, len(seeds))
    ref, ours = runs["trainer"], runs["llmkit"]
    report_accuracy(seeds, ref, ours, examples)
    speedup = ratio_spread([r["seconds"] for r in ref], [o["seconds"] for o in ours])
    print(f"speedup llmkit / Trainer over {len(seeds)} seeds: {speedup}")
    lora = {} if args.skip_lora else report_lora(ours, runs["lora"], examples)
    run.finish({
        **speedup.figures("finetune_speedup"),
        "accuracy": f"{statistics.mean(o['accuracy'] for o in ours):.4f}",
        "accuracy_ref": f"{statistics.mean(r['accuracy'] for r in ref):.4f}",
        **lora,
    })  # fmt: skip


if __name__ == "__main__":
    main()
