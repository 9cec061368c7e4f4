"""ONNX export speed and fidelity: an SST-2 classifier scored on the dev set by PyTorch,
onnxruntime fp32 and onnxruntime int8 (all from `llmkit export --format onnx --quantize int8`).

The classifier is bench_finetune.py's setup (a BERT built from config with a WordPiece tokenizer
trained on the training rows), made smaller (--layers 2, --hidden 128) and trained briefly at a
high learning rate with `llmkit finetune` (--rows, --epochs, --lr) so that it learns something
in minutes on a shared CPU.
Each backend then classifies the dev set at batch 1 (the first --batch1-examples sentences, one
at a time) and at batch 32 (all 872, in order, padded to each batch's longest). The three run
interleaved, round after round (torch, fp32, int8, torch, …), and the median examples/s over the
rounds is reported, so load from other processes on the machine hits all three alike. All run
with the same number of threads (--threads, default 1).

    python scripts/bench_export.py [--rows 4000] [--epochs 2] [--lr 1e-3] [--layers 2] [--hidden 128] [--rounds 5] [--threads 1]
        [--data ../shared/data/sst2]

Ends with: RESULT onnx_speedup=<ort fp32 / torch, batch 1> int8_speedup=<ort int8 / torch,
batch 1> max_abs_diff=<fp32 logits, whole dev set> int8_accuracy_drop=<points>
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_finetune  # noqa: E402  (the SST-2 data, tokenizer and model of the finetune bench)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=bench_finetune.DATA)
    p.add_argument("--rows", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3, help="brief training: a high lr")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch1-examples", type=int, default=200)
    return p.parse_args()


def train(work: Path, args) -> Path:
    from llmkit.train.stage import run_training

    ns = argparse.Namespace(batch_size=32, epochs=args.epochs, seed=42, lora_lr=None,
                            llmkit_set=["train.logging.every_steps=20",
                                        f"train.optimizer.lr={args.lr}",
                                        "train.schedule.warmup_steps=20",
                                        f"model.n_layers={args.layers}",
                                        f"model.hidden_size={args.hidden}",
                                        f"model.n_heads={max(args.hidden // 64, 1)}"])  # fmt: skip
    return run_training(bench_finetune.llmkit_config(work, ns, work / "run"))


def export(run: Path, out: Path) -> None:
    from llmkit.config.export import ExportConfig
    from llmkit.export.run import run_export

    run_export(ExportConfig(source=str(run), format="onnx", output_dir=str(out),
                            onnx={"quantize": "int8"}))  # fmt: skip


def dev_set(work: Path, tokenizer) -> tuple[list[dict], np.ndarray]:
    rows = bench_finetune.read_tsv(work / "dev.tsv", "sentence")
    encoded = [tokenizer(text, max_length=128, truncation=True) for _, text in rows]
    return encoded, np.array([label for label, _ in rows])


def batches(encoded: list[dict], size: int, tokenizer) -> list[dict[str, np.ndarray]]:
    return [
        dict(tokenizer.pad(encoded[i : i + size], return_tensors="np"))
        for i in range(0, len(encoded), size)
    ]


def backends(run: Path, onnx_dir: Path, threads: int) -> dict:
    import transformers

    from llmkit.export.ort_runtime import session

    torch.set_num_threads(threads)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(run).eval()

    def torch_logits(batch):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()

    def ort_logits(sess):
        return lambda batch: sess.run(["logits"], batch)[0]

    return {
        "torch": torch_logits,
        "ort_fp32": ort_logits(session(onnx_dir / "model.onnx", threads)),
        "ort_int8": ort_logits(session(onnx_dir / "model.int8.onnx", threads)),
    }


def timed(logits_of, batch_list) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = [logits_of(b) for b in batch_list]
    seconds = time.perf_counter() - start
    return seconds, np.concatenate(out)


def interleaved(systems: dict, batch_list, rounds: int) -> tuple[dict, dict]:
    """examples/s per round per system (systems alternate within each round), and the logits."""
    examples = sum(len(b["input_ids"]) for b in batch_list)
    rates = {name: [] for name in systems}
    logits = {}
    for _ in range(rounds):
        for name, logits_of in systems.items():
            seconds, logits[name] = timed(logits_of, batch_list)
            rates[name].append(examples / seconds)
    return rates, logits


def median_and_spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f})"


def main() -> None:
    import transformers

    args = parse_args()
    bench_finetune.DATA = args.data
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        bench_finetune.prepare(work, args.rows)
        run = train(work, args)
        export(run, work / "onnx")
        tokenizer = transformers.AutoTokenizer.from_pretrained(run)
        encoded, labels = dev_set(work, tokenizer)
        systems = backends(run, work / "onnx", args.threads)
        one = batches(encoded[: args.batch1_examples], 1, tokenizer)
        rates1, _ = interleaved(systems, one, args.rounds)
        rates32, logits = interleaved(systems, batches(encoded, 32, tokenizer), args.rounds)
    accuracy = {n: float((out.argmax(-1) == labels).mean()) for n, out in logits.items()}
    max_diff = float(np.abs(logits["ort_fp32"] - logits["torch"]).max())
    print(f"\nSST-2 dev ({len(labels)} sentences), {args.threads} thread(s), "
          f"{args.rounds} interleaved rounds; examples/s median (spread):")  # fmt: skip
    print(f"{'system':10} {'batch 1':>32} {'batch 32':>32} {'accuracy':>9}")
    for name in systems:
        print(f"{name:10} {median_and_spread(rates1[name]):>32} "
              f"{median_and_spread(rates32[name]):>32} {accuracy[name]:9.4f}")  # fmt: skip
    speed = {n: statistics.median(rates1[n]) / statistics.median(rates1["torch"]) for n in systems}
    speed32 = {n: statistics.median(rates32[n]) / statistics.median(rates32["torch"])
               for n in systems}  # fmt: skip
    print(f"batch 32 speedups: fp32 {speed32['ort_fp32']:.2f}x, int8 {speed32['ort_int8']:.2f}x")
    print(f"largest |logit difference| fp32 vs torch over the dev set: {max_diff:.2e}")
    print(f"load average at end: {os.getloadavg()}")
    drop = 100 * (accuracy["torch"] - accuracy["ort_int8"])
    print(f"RESULT onnx_speedup={speed['ort_fp32']:.2f} int8_speedup={speed['ort_int8']:.2f} "
          f"max_abs_diff={max_diff:.2e} int8_accuracy_drop={drop:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
