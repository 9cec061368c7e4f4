"""Pretraining speed: `llmkit pretrain` against `transformers.Trainer`, side by side in one run.

The model is nanoGPT's "baby GPT" on character-level tinyshakespeare (GPT2LMHeadModel: 4 layers,
4 heads, hidden 128, context 64, batch 12, dropout 0, AdamW betas (0.9, 0.99), weight decay 0.1,
clip 1.0, lr 1e-3 with 100 warmup steps and cosine decay to 1e-4, 2000 steps), then a BERT of the
same size trained with masked LM. Both sides get the very same model config (llmkit's builder),
the same packed blocks (llmkit preprocess output, the first 90% of the text for training and the
last 10% for validation, as nanoGPT splits it) and the same schedule.

Precision: llmkit runs with its defaults (`precision: auto`, `attn_implementation: auto`), which on
a CPU with native bf16 (AVX512-BF16/AMX) means bf16 autocast with eager attention, else fp32.
The Trainer runs in fp32 (its default) and, when llmkit runs in bf16, a second time with
`bf16=True`; the speedup is taken against the faster of the two and the validation loss compared
with that run's. `--precision fp32` gives a like-for-like fp32 comparison.

Throughput of each side is measured the same way: optimizer steps from step `steps/20` to the
last one, over the wall time between them (the first steps, where compilation and warm-up happen,
are left out of both; the end-to-end wall time of each run is printed too). Validation loss is
computed by this script with one function for both final models: token-weighted cross-entropy over
the whole validation split; for MLM over one fixed, seeded masking of it. MFU is llmkit's model
FLOPs per second (6·N + 12·L·h·T per token, N without position embeddings) over the matmul peak
of llmkit's precision measured here, on this machine, in this run.

The runs are interleaved (every Trainer configuration and llmkit, then the same in reverse order,
… for --repeats repetitions, see benchlib); the speedup is the median over repetitions of llmkit's
tokens/s over the fastest Trainer's in the same repetition, printed with its min and max and the
load average at the start and end. Validation losses are those of the first repetition's models
(the runs are seeded; the repetitions are there for speed).

    python scripts/bench_pretrain.py                 # 2000 steps per run, 3 repetitions
    python scripts/bench_pretrain.py --quick         # 200 steps per run, a smoke test
    python scripts/bench_pretrain.py --steps 500 --only clm
    python scripts/bench_pretrain.py --precision fp32    # fp32 on both sides

Ends with `RESULT clm_speedup=<median> clm_speedup_min=… clm_speedup_max=… clm_val_loss=…
clm_val_loss_ref=… mlm_speedup=… (and _min, _max) mlm_val_loss=… mlm_val_loss_ref=… mfu=…
load_start=… load_end=…`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread, shared_data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = shared_data() / "tinyshakespeare" / "input.txt"
BATCH, CONTEXT, SEED = 12, 64, 1337
MODEL = {"n_layers": 4, "hidden_size": 128, "n_heads": 4, "intermediate_size": 512}
OPTIM = {"lr": 1e-3, "weight_decay": 0.1, "betas": (0.9, 0.99), "max_grad_norm": 1.0}
MIN_LR = 1e-4


def prepare_data(workdir: Path, corpus: Path, family: str) -> tuple[Path, Path]:
    """Char-level tokenizer and packed 64-token blocks, made by llmkit's own stages (cached)."""
    from llmkit.config.load import validate
    from llmkit.config.preprocess import PreprocessConfig
    from llmkit.config.tokenizer import TokenizerTrainConfig
    from llmkit.data.preprocess import run_preprocess
    from llmkit.tokenizer import train_tokenizer

    text = corpus.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    train_txt, val_txt = workdir / "train.txt", workdir / "val.txt"
    if not train_txt.exists():
        train_txt.write_text(text[:cut], encoding="utf-8")
        val_txt.write_text(text[cut:], encoding="utf-8")
    tok_dir = workdir / f"tokenizer-{family}"
    if not (tok_dir / "tokenizer.json").exists():
        shutil.rmtree(tok_dir, ignore_errors=True)
        train_tokenizer(
            validate(
                TokenizerTrainConfig,
                {
                    "data": {"train": str(train_txt), "text_unit": "file"},
                    "tokenizer": {"type": "char", "family": family, "vocab_size": 256},
                    "output_dir": str(tok_dir),
                },
            )
        )
    data_cfg = {
        "data": {"train": str(train_txt), "validation": str(val_txt), "text_unit": "file"},
        "cleaning": {"deduplicate": False, "unicode_normalization": "none"},
        "tokenizer": str(tok_dir),
        "block_size": CONTEXT,
        "output_dir": str(workdir / f"data-{family}"),
    }
    return tok_dir, run_preprocess(validate(PreprocessConfig, data_cfg))


def model_config(kind: str, tokenizer):
    from llmkit.config.model import ModelConfig
    from llmkit.models.build import architecture_config

    family = "gpt2" if kind == "clm" else "bert"
    return architecture_config(
        ModelConfig(family=family, context_length=CONTEXT, dropout=0.0, **MODEL), tokenizer
    )


def run_trainer(
    kind: str, tok_dir: Path, data_dir: Path, steps: int, workdir: Path, bf16: bool
) -> dict:
    """The reference: transformers.Trainer with the same model, data, optimizer and schedule;
    fp32 (its default) or `bf16=True` (autocast, as TrainingArguments turns it on)."""
    from datasets import load_from_disk
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    train_set = load_from_disk(str(data_dir))["train"]
    set_seed(SEED)
    auto = AutoModelForCausalLM if kind == "clm" else AutoModelForMaskedLM
    model = auto.from_config(model_config(kind, tokenizer), attn_implementation="sdpa")
    if kind == "clm":
        collate = _clm_collate
    else:
        collate = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)
    window = _window(steps)
    times: dict[int, float] = {}

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (window, steps):
                times[state.global_step] = time.time()

    args = TrainingArguments(
        output_dir=str(workdir / f"trainer-{kind}"),
        bf16=bf16,
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=OPTIM["lr"],
        weight_decay=OPTIM["weight_decay"],
        adam_beta1=OPTIM["betas"][0],
        adam_beta2=OPTIM["betas"][1],
        max_grad_norm=OPTIM["max_grad_norm"],
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": MIN_LR},
        warmup_steps=_warmup(steps),
        logging_steps=max(steps // 10, 1),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=SEED,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=train_set, data_collator=collate,
        callbacks=[StepClock()],
    )  # fmt: skip
    started = time.time()
    trainer.train()
    wall = time.time() - started
    return {
        "tokens_per_s": BATCH * CONTEXT * (steps - window) / (times[steps] - times[window]),
        "wall_s": wall,
        "model": trainer.model,
    }


def _clm_collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    ids = torch.tensor([r["input_ids"] for r in rows])
    return {"input_ids": ids, "labels": ids}  # the model shifts labels itself


def _window(steps: int) -> int:
    """Throughput is measured from this step to the last (compile and warm-up left out)."""
    return max(steps // 20, 1)


def _warmup(steps: int) -> int:
    return min(100, steps // 2)


def run_llmkit(kind: str, data_dir: Path, steps: int, workdir: Path, args) -> dict:
    """`llmkit pretrain` in a subprocess, as a user runs it: its default precision (auto) and
    attention (auto) unless --precision says otherwise."""
    out = workdir / f"llmkit-{kind}"
    shutil.rmtree(out, ignore_errors=True)
    family = "gpt2" if kind == "clm" else "bert"
    cfg = {
        "stage": "pretrain",
        "output_dir": str(out),
        "model": {"family": family, "context_length": CONTEXT, "dropout": 0.0, **MODEL},
        "task": {"type": kind},
        "data": {"dataset_dir": str(data_dir)},
        "train": {
            "batch_size": BATCH,
            "max_steps": steps,
            "max_grad_norm": OPTIM["max_grad_norm"],
            "precision": args.precision,
            "compile": not args.no_compile,
            "seed": SEED,
            "optimizer": {
                "lr": OPTIM["lr"],
                "weight_decay": OPTIM["weight_decay"],
                "betas": list(OPTIM["betas"]),
            },
            "schedule": {"kind": "cosine", "warmup_steps": _warmup(steps), "min_lr": MIN_LR},
            "eval": {"batch_size": 64},
            "logging": {"every_steps": _window(steps)},
        },
    }
    cfg_path = workdir / f"llmkit-{kind}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    log_path = workdir / f"llmkit-{kind}.log"
    started = time.time()
    with log_path.open("w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "llmkit", "pretrain", str(cfg_path)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=os.environ.copy(),
        )  # fmt: skip
    wall = time.time() - started
    if proc.returncode != 0:
        sys.exit(f"llmkit pretrain failed ({proc.returncode}); see {log_path}:\n"
                 + "\n".join(log_path.read_text().splitlines()[-30:]))  # fmt: skip
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_time = {r["step"]: r["time"] for r in rows if r["split"] == "train"}
    window = _window(steps)
    own_val = [r["loss"] for r in rows if r["split"] == "validation"]
    return {
        "tokens_per_s": BATCH
        * CONTEXT
        * (steps - window)
        / (train_time[steps] - train_time[window]),
        "wall_s": wall,
        "model_dir": out,
        "own_val_loss": own_val[-1] if own_val else float("nan"),
    }


def fixed_validation(kind: str, tok_dir: Path, data_dir: Path) -> dict[str, torch.Tensor]:
    """The validation blocks; for MLM masked once with a fixed seed, so both models are scored
    on exactly the same masked positions."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    ids = torch.tensor(load_from_disk(str(data_dir))["validation"]["input_ids"])
    if kind == "clm":
        return {"input_ids": ids, "labels": ids}
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        batch = collate([{"input_ids": row} for row in ids.tolist()])
    return {"input_ids": batch["input_ids"], "labels": batch["labels"]}


@torch.no_grad()
def heldout_loss(model, kind: str, val: dict[str, torch.Tensor], batch: int = 64) -> float:
    """Cross-entropy per predicted token over the whole validation set."""
    model.eval()
    loss_sum, count = 0.0, 0
    for start in range(0, len(val["input_ids"]), batch):
        ids = val["input_ids"][start : start + batch]
        labels = val["labels"][start : start + batch]
        logits = model(input_ids=ids).logits.float()
        if kind == "clm":  # position t predicts token t+1
            logits, labels = logits[:, :-1], labels[:, 1:]
        loss_sum += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
            ignore_index=-100, reduction="sum",
        ).item()  # fmt: skip
        count += int((labels != -100).sum())
    return loss_sum / count


def flops_per_token(model) -> float:
    """6·N + 12·L·h·T (Kaplan et al. / PaLM appendix B, as nanoGPT's estimate_mfu): N counts every
    weight that takes part in a matmul, so position embeddings are left out."""
    n_params = sum(
        p.numel()
        for name, p in model.named_parameters()
        if not name.endswith(("wpe.weight", "position_embeddings.weight"))
    )
    config = model.config
    return 6 * n_params + 12 * config.num_hidden_layers * config.hidden_size * CONTEXT


def matmul_peak_flops(dtype: torch.dtype, size: int = 4096, reps: int = 3) -> float:
    """Matrix-multiply FLOP/s of this machine in `dtype` with torch's threads, measured now."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * size**3 * reps / (time.perf_counter() - started)


def bench(kind: str, args, workdir: Path) -> dict[str, list[dict]]:
    """Every Trainer configuration and llmkit, interleaved over --repeats; the first repetition's
    final models are scored the same way."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    family = "causal" if kind == "clm" else "masked"
    tok_dir, data_dir = prepare_data(workdir, args.corpus, family)
    auto = AutoModelForCausalLM if kind == "clm" else AutoModelForMaskedLM
    val = fixed_validation(kind, tok_dir, data_dir)

    def trainer_side(precision: str):
        def side(rep: int) -> dict:
            print(f"[{kind}] transformers.Trainer {precision}, {args.steps} steps, repetition "
                  f"{rep + 1} …", flush=True)  # fmt: skip
            ref = run_trainer(kind, tok_dir, data_dir, args.steps, workdir, precision == "bf16")
            model = ref.pop("model")
            if rep == 0:
                ref["val_loss"] = heldout_loss(model, kind, val)
            return ref

        return side

    def llmkit_side(rep: int) -> dict:
        print(f"[{kind}] llmkit pretrain ({args.llmkit_precision}), {args.steps} steps, "
              f"repetition {rep + 1} …", flush=True)  # fmt: skip
        ours = run_llmkit(kind, data_dir, args.steps, workdir, args)
        if rep == 0:
            trained, info = auto.from_pretrained(ours["model_dir"], output_loading_info=True)
            if info["missing_keys"]:  # the output must load with plain transformers
                print(f"[{kind}] ERROR: {ours['model_dir']} does not load with from_pretrained: "
                      f"{len(info['missing_keys'])} weights missing (e.g. "
                      f"{info['missing_keys'][0]}); unexpected: {info['unexpected_keys'][:2]}. "
                      "Its val loss below is of random weights.", flush=True)  # fmt: skip
            ours["val_loss"] = heldout_loss(trained, kind, val)
            ours["flops_per_token"] = flops_per_token(trained)
        return ours

    sides = {f"Trainer {p}": trainer_side(p) for p in args.trainer_precisions}
    sides[f"llmkit {args.llmkit_precision}"] = llmkit_side
    return interleave(sides, args.repeats)


def report(kind: str, runs: dict[str, list[dict]], peak: float) -> dict[str, float]:
    """The reference in each repetition is the fastest Trainer configuration of that repetition;
    the loss to match is that of the configuration fastest over all (median tokens/s)."""
    ours = next(side for name, side in runs.items() if name.startswith("llmkit"))
    trainers = {name: side for name, side in runs.items() if name.startswith("Trainer")}
    fastest_ref = [max(side[rep]["tokens_per_s"] for side in trainers.values())
                   for rep in range(len(ours))]  # fmt: skip
    speedup = ratio_spread([o["tokens_per_s"] for o in ours], fastest_ref)

    def median_rate(side: list[dict]) -> float:
        return statistics.median(r["tokens_per_s"] for r in side)

    ref_name = max(trainers, key=lambda name: median_rate(trainers[name]))
    mfu = median_rate(ours) * ours[0]["flops_per_token"] / peak
    print(f"\n== {kind} ({len(ours)} interleaved repetitions) ==")
    print(f"{'':16}{'tokens/s median':>16}{'min–max':>18}{'val loss':>10}{'wall s med':>11}")
    for name, side in runs.items():
        rates = sorted(r["tokens_per_s"] for r in side)
        wall = statistics.median(r["wall_s"] for r in side)
        print(f"{name:16}{median_rate(side):16,.0f}{f'{rates[0]:,.0f}–{rates[-1]:,.0f}':>18}"
              f"{side[0]['val_loss']:10.4f}{wall:11.1f}")  # fmt: skip
    print(f"speedup over the fastest reference of each repetition: {speedup}; loss reference "
          f"{ref_name}; llmkit's own validation loss {ours[0]['own_val_loss']:.4f}; model "
          f"FLOPs/token {ours[0]['flops_per_token'] / 1e6:.2f}M; MFU {mfu:.3f}")  # fmt: skip
    return {
        **speedup.figures(f"{kind}_speedup"),
        f"{kind}_val_loss": ours[0]["val_loss"],
        f"{kind}_val_loss_ref": trainers[ref_name][0]["val_loss"],
        f"{kind}_mfu": mfu,
    }


def main() -> None:
    from llmkit.train.precision import resolve_precision

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps per run")
    parser.add_argument("--quick", action="store_true", help="200 steps: a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--only", choices=["clm", "mlm"], help="run one of the two benchmarks")
    parser.add_argument("--no-compile", action="store_true", help="llmkit without torch.compile")
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], default="auto",
        help="llmkit's train.precision (default: auto, what a user gets)",
    )  # fmt: skip
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/llmkit-bench-pretrain"))
    args = parser.parse_args()
    run = Run("bench_pretrain: llmkit pretrain vs transformers.Trainer")
    if args.quick:
        args.steps = 200
    args.llmkit_precision = resolve_precision(args.precision)
    # Trainer in fp32 (its default) and, when llmkit trains in bf16, also with bf16=True
    args.trainer_precisions = sorted({"fp32", args.llmkit_precision})
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps, "
          f"llmkit precision {args.llmkit_precision} ({args.precision})")  # fmt: skip
    dtype = torch.bfloat16 if args.llmkit_precision == "bf16" else torch.float32
    peak = matmul_peak_flops(dtype)
    print(f"{args.llmkit_precision} matmul peak measured: {peak / 1e9:.1f} GFLOP/s "
          f"(fp32: {matmul_peak_flops(torch.float32) / 1e9:.1f})")  # fmt: skip
    figures: dict[str, float] = {}
    for kind in [args.only] if args.only else ["clm", "mlm"]:
        figures.update(report(kind, bench(kind, args, args.workdir), peak))
    mfu = figures.get("clm_mfu", figures.get("mlm_mfu"))
    result = {k: v for k, v in figures.items() if not k.endswith("_mfu")}
    run.finish({**result, "mfu": mfu}, digits=4)


if __name__ == "__main__":
    main()
