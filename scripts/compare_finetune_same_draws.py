"""SST-2 finetuning with the same random draws on both sides: is llmkit's training the Trainer's?

bench_finetune.py compares llmkit and a run_glue.py-style Trainer over seeds, each side drawing
its own batch order and dropout masks; one run's dev accuracy then moves by several points with
those draws alone. Here the draws are taken out: dropout is off on both sides and the Trainer is
fed llmkit's batch order (the permutation llmkit's sampler draws for each epoch, read in
sequence). Everything else is bench_finetune.py's setup: the same 4-layer BERT and initial
weights, WordPiece tokenizer, 8,000 rows, 2 epochs, batch 32, AdamW lr 5e-5 linear to 0, clipping
at 1.0; the Trainer pads to 128 in fp32, llmkit pads per batch at its default precision (bf16
autocast on a CPU with AVX512-BF16, else fp32; `--llmkit-precision fp32` for bit-level checks).

It prints the training loss of both per 50 steps, the largest per-step difference and both dev
accuracies, ending with:
    RESULT max_loss_diff=<largest |llmkit - Trainer| per-step loss> accuracy=<llmkit> accuracy_ref=<Trainer>

    python scripts/compare_finetune_same_draws.py                  # ~7 min on 2 cores
    python scripts/compare_finetune_same_draws.py --llmkit-precision fp32 --seed 43
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_finetune as bench  # noqa: E402  (the same data, model and tokenizer)

MODEL = dict(bench.MODEL, dropout=0.0)


def llmkit_run(work: Path, args) -> dict:
    from llmkit.train.stage import run_training

    out = work / "llmkit"
    args.llmkit_set = [
        "model.dropout=0.0",
        f"train.precision={args.llmkit_precision}",
        "train.logging.every_steps=1",
    ]
    run_training(bench.llmkit_config(work, args, out))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "losses": [r["loss"] for r in rows if r["split"] == "train"],
        "accuracy": [r for r in rows if r["split"] == "validation"][-1]["accuracy"],
    }


def llmkit_order(num_rows: int, seed: int, epochs: int) -> list[int]:
    """The rows in the order llmkit's training sampler yields them, epoch after epoch."""
    from llmkit.train.batches import EpochShuffleSampler

    sampler = EpochShuffleSampler(num_rows, seed)
    order = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order += list(sampler)
    return order


def trainer_run(work: Path, args) -> dict:
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainingArguments, default_data_collator

    class GivenOrderTrainer(Trainer):
        def _get_train_sampler(self, *unused, **kwargs):
            return SequentialSampler(self.train_dataset)

    _, data, model = bench.reference_data_and_model(work, args.seed, "max_length", MODEL)
    ordered = data["train"].select(llmkit_order(len(data["train"]), args.seed, args.epochs))
    steps = args.epochs * (len(data["train"]) // args.batch_size)
    training_args = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, max_steps=steps, learning_rate=bench.LR,
        lr_scheduler_type="linear", seed=args.seed, use_cpu=True, report_to=[],
        save_strategy="no", eval_strategy="no", logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    trainer = GivenOrderTrainer(
        model=model, args=training_args, train_dataset=ordered, data_collator=default_data_collator
    )
    trainer.train()
    return {
        "losses": [e["loss"] for e in trainer.state.log_history if "loss" in e],
        "accuracy": bench.dev_accuracy(trainer, data["validation"]),
    }


def spawn(side: str, work: Path, args) -> dict:
    """Each side in its own process, as in bench_finetune.py."""
    cmd = [sys.executable, __file__, "--side", side, "--work", str(work), "--seed", str(args.seed),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--llmkit-precision", args.llmkit_precision]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SIDE ")]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{side} run failed (exit {proc.returncode})")
    return json.loads(lines[-1].removeprefix("SIDE "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--llmkit-precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--side", choices=["llmkit", "trainer"])
    parser.set_defaults(lora_lr=None, llmkit_set=[])  # read by bench_finetune.llmkit_config
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.side:
        run = llmkit_run if args.side == "llmkit" else trainer_run
        print("SIDE " + json.dumps(run(args.work, args)), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="same-draws-") as tmp:
        work = Path(tmp)
        bench.prepare(work, args.rows)
        ours, ref = spawn("llmkit", work, args), spawn("trainer", work, args)
    if len(ours["losses"]) != len(ref["losses"]):
        raise SystemExit(f"step counts differ: {len(ours['losses'])} vs {len(ref['losses'])}")
    print(f"{'steps':>9s}  {'llmkit loss':>11s}  {'Trainer loss':>12s}")
    for end in range(50, len(ours["losses"]) + 1, 50):
        mean = [statistics.mean(side["losses"][end - 50 : end]) for side in (ours, ref)]
        print(f"{end - 49:4d}-{end:<4d}  {mean[0]:11.4f}  {mean[1]:12.4f}")
    diff = max(abs(a - b) for a, b in zip(ours["losses"], ref["losses"], strict=True))
    print(f"largest per-step loss difference {diff:.2e}; dev accuracy llmkit "
          f"{ours['accuracy']:.4f}, Trainer {ref['accuracy']:.4f}")  # fmt: skip
    print(f"RESULT max_loss_diff={diff:.2e} accuracy={ours['accuracy']:.4f} "
          f"accuracy_ref={ref['accuracy']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
