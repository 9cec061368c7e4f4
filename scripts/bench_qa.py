"""SQuAD-style extractive QA speed and F1: llmkit against a run_qa.py-style transformers.Trainer.

Data: ../shared/data/squad (five whole articles of the SQuAD 2.0 dev set, half of the questions
unanswerable), split by article: the first four for training, Victoria_(Australia) (247
questions) for scoring. No pretrained BERT is available offline, so both sides train the same
2-layer, hidden-128 BERT built from config with the same seed (identical initial weights) and the
same WordPiece tokenizer (trained here with `tokenizers` on the training articles), on the same
questions, with the same windows (max_length 384, doc_stride 128), epochs, batch size, learning
rate and linear schedule.

The Trainer is set up as transformers' examples/pytorch/question-answering/run_qa.py sets it up:
prepare_train_features / prepare_validation_features pad every window to max_length 384 (the
default pad_to_max_length), default_data_collator, and utils_qa.py's postprocess_qa_predictions
(n_best_size 20, max_answer_length 30, version_2_with_negative, null_score_diff_threshold 0.0),
re-implemented below as the example writes them. llmkit pads each batch to its longest window
and, its default for QA, groups windows of similar length (batching.group_by_length, windows of
4 batches; `--llmkit-set batching.group_by_length=false` for random batches).
Both sides are scored with llmkit.metrics.squad, the official SQuAD v2.0 logic (`evaluate`'s
squad_v2 metric needs a hub download).

Timing: the same work on both sides, after the imports: llmkit's whole run (reading,
windowing, building the model, training, the final validation with its post-processing, saving)
against the Trainer's (reading, prepare_*_features, building the model, `train()`, `predict()`,
postprocess_qa_predictions, scoring); qa_speedup is their ratio. qa_speedup_vs_train_only
charges llmkit's whole run against the Trainer's `train()` alone (as bench_finetune.py does).
Each seed is one repetition; per seed the sides run back to back in alternating order
(benchlib.interleave), each in its own process, and the speedups are medians of the per-seed
ratios.

    python scripts/bench_qa.py                      # 1 epoch, batch 16, seeds 42,43
    python scripts/bench_qa.py --epochs 3 --seeds 42,43,44
    python scripts/bench_qa.py --llmkit-set batching.group_by_length=false

Ends with: RESULT qa_speedup=<median> qa_speedup_min=… qa_speedup_max=…
qa_speedup_vs_train_only=<median> f1=<llmkit mean>
f1_ref=<Trainer mean> exact=… exact_ref=… load_start=… load_end=…
"""

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Run, interleave, ratio_spread, run_worker, shared_data  # noqa: E402

SQUAD = shared_data() / "squad" / "squad2_dev_first5articles.json"
HELD_OUT = "Victoria_(Australia)"
MODEL = {"family": "bert", "n_layers": 2, "hidden_size": 128, "n_heads": 2,
         "context_length": 384, "dropout": 0.1}  # fmt: skip
MAX_LENGTH, DOC_STRIDE, N_BEST, MAX_ANSWER = 384, 128, 20, 30


def prepare(work: Path) -> None:
    """The training and held-out articles as SQuAD JSON files, and a WordPiece tokenizer."""
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

    document = json.loads(SQUAD.read_text(encoding="utf-8"))
    train = [a for a in document["data"] if a["title"] != HELD_OUT]
    held_out = [a for a in document["data"] if a["title"] == HELD_OUT]
    for name, articles in (("train.json", train), ("dev.json", held_out)):
        (work / name).write_text(json.dumps({"version": "v2.0", "data": articles}))
    texts = [p["context"] for a in train for p in a["paragraphs"]]
    texts += [q["question"] for a in train for p in a["paragraphs"] for q in p["qas"]]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=6000, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )  # fmt: skip
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LENGTH,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    ).save_pretrained(work / "tokenizer")  # fmt: skip


# ---- llmkit -----------------------------------------------------------------------------------


def run_llmkit(work: Path, args) -> dict:
    from llmkit.config.finetune import FinetuneConfig
    from llmkit.config.load import apply_overrides
    from llmkit.train.stage import run_training

    out = work / f"llmkit-seed{args.seed}"
    cfg = FinetuneConfig.model_validate(apply_overrides({
        "output_dir": str(out), "tokenizer": str(work / "tokenizer"), "model": MODEL,
        "task": {"type": "question-answering", "doc_stride": DOC_STRIDE, "n_best": N_BEST,
                 "max_answer_length": MAX_ANSWER, "allow_no_answer": True},
        "data": {"train": str(work / "train.json"), "validation": str(work / "dev.json")},
        "max_length": MAX_LENGTH,
        "train": {"batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed,
                  "optimizer": {"lr": args.lr, "weight_decay": 0.0},
                  "schedule": {"kind": "linear", "warmup_steps": 0},
                  "logging": {"every_steps": 50, "live": False, "trackers": []}},
    }, args.llmkit_set))  # fmt: skip
    start = time.perf_counter()
    run_training(cfg)  # windowing, training, the final validation and saving all count
    seconds = time.perf_counter() - start
    lines = (out / "metrics.jsonl").read_text().splitlines()
    final = [r for r in map(json.loads, lines) if r["split"] == "validation"][-1]
    return {"seconds": seconds, "exact": final["exact"], "f1": final["f1"]}


# ---- the Trainer, as run_qa.py --------------------------------------------------------------


def prepare_train_features(examples, tokenizer):
    examples["question"] = [q.lstrip() for q in examples["question"]]
    tokenized = tokenizer(
        examples["question"], examples["context"], truncation="only_second",
        max_length=MAX_LENGTH, stride=DOC_STRIDE, return_overflowing_tokens=True,
        return_offsets_mapping=True, padding="max_length",
    )  # fmt: skip
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    offset_mapping = tokenized.pop("offset_mapping")
    tokenized["start_positions"], tokenized["end_positions"] = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tokenized["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        sequence_ids = tokenized.sequence_ids(i)
        answers = examples["answers"][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:
            tokenized["start_positions"].append(cls_index)
            tokenized["end_positions"].append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        token_start_index = 0
        while sequence_ids[token_start_index] != 1:
            token_start_index += 1
        token_end_index = len(input_ids) - 1
        while sequence_ids[token_end_index] != 1:
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char
                and offsets[token_end_index][1] >= end_char):  # fmt: skip
            tokenized["start_positions"].append(cls_index)
            tokenized["end_positions"].append(cls_index)
            continue
        while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
            token_start_index += 1
        tokenized["start_positions"].append(token_start_index - 1)
        while offsets[token_end_index][1] >= end_char:
            token_end_index -= 1
        tokenized["end_positions"].append(token_end_index + 1)
    return tokenized


def prepare_validation_features(examples, tokenizer):
    examples["question"] = [q.lstrip() for q in examples["question"]]
    tokenized = tokenizer(
        examples["question"], examples["context"], truncation="only_second",
        max_length=MAX_LENGTH, stride=DOC_STRIDE, return_overflowing_tokens=True,
        return_offsets_mapping=True, padding="max_length",
    )  # fmt: skip
    sample_mapping = tokenized.pop("overflow_to_sample_mapping")
    tokenized["example_id"] = []
    for i in range(len(tokenized["input_ids"])):
        sequence_ids = tokenized.sequence_ids(i)
        tokenized["example_id"].append(examples["id"][sample_mapping[i]])
        tokenized["offset_mapping"][i] = [
            o if sequence_ids[k] == 1 else None
            for k, o in enumerate(tokenized["offset_mapping"][i])
        ]
    return tokenized


def postprocess_qa_predictions(examples, features, start_logits_all, end_logits_all):
    """utils_qa.py's postprocess_qa_predictions with version_2_with_negative=True."""
    feature_per_example = collections.defaultdict(list)
    index = {k: i for i, k in enumerate(examples["id"])}
    for i, example_id in enumerate(features["example_id"]):
        feature_per_example[index[example_id]].append(i)
    answers = {}
    for example_index, example in enumerate(examples):
        min_null, candidates = None, []
        for feature_index in feature_per_example[example_index]:
            start_logits = start_logits_all[feature_index]
            end_logits = end_logits_all[feature_index]
            offsets = features[feature_index]["offset_mapping"]
            null_score = start_logits[0] + end_logits[0]
            if min_null is None or min_null > null_score:
                min_null = null_score
            starts = np.argsort(start_logits)[-1 : -N_BEST - 1 : -1].tolist()
            ends = np.argsort(end_logits)[-1 : -N_BEST - 1 : -1].tolist()
            for s in starts:
                for e in ends:
                    if (s >= len(offsets) or e >= len(offsets) or offsets[s] is None
                            or offsets[e] is None or len(offsets[s]) < 2 or len(offsets[e]) < 2
                            or e < s or e - s + 1 > MAX_ANSWER):  # fmt: skip
                        continue
                    score = start_logits[s] + end_logits[e]
                    candidates.append((score, offsets[s][0], offsets[e][1]))
        candidates = sorted(candidates, reverse=True)[:N_BEST]
        context = example["context"]
        texts = [(score, context[a:b]) for score, a, b in candidates]
        best = next(((s, t) for s, t in texts if t != ""), (0.0, "empty"))
        answers[example["id"]] = "" if min_null - best[0] > 0.0 else best[1]
    return answers


def run_trainer(work: Path, args) -> dict:
    from datasets import load_dataset
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from llmkit.config.model import ModelConfig
    from llmkit.data.squad import squad_rows
    from llmkit.metrics.squad import squad_scores
    from llmkit.models.build import architecture_config

    whole_start = time.perf_counter()  # the same work as llmkit's run: read, window, train, score
    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    raw = {}
    for split, name in (("train", "train.json"), ("validation", "dev.json")):
        rows = list(squad_rows(work / name))
        (work / f"{split}-{args.seed}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
        raw[split] = load_dataset("json", data_files=str(work / f"{split}-{args.seed}.jsonl"),
                                  split="train")  # fmt: skip
    train = raw["train"].map(lambda b: prepare_train_features(b, tokenizer), batched=True,
                             remove_columns=raw["train"].column_names)  # fmt: skip
    dev = raw["validation"].map(lambda b: prepare_validation_features(b, tokenizer), batched=True,
                                remove_columns=raw["validation"].column_names)  # fmt: skip
    model = AutoModelForQuestionAnswering.from_config(
        architecture_config(ModelConfig(**MODEL), tokenizer)
    )
    training_args = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, num_train_epochs=args.epochs,
        learning_rate=args.lr, lr_scheduler_type="linear", seed=args.seed, use_cpu=True,
        report_to=[], save_strategy="no", eval_strategy="no", logging_steps=50, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=training_args, train_dataset=train,
                      data_collator=default_data_collator)  # fmt: skip
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    output = trainer.predict(dev.remove_columns(["example_id", "offset_mapping"]))
    start_logits, end_logits = output.predictions
    answers = postprocess_qa_predictions(raw["validation"], dev, start_logits, end_logits)
    references = dict(
        zip(raw["validation"]["id"], (a["text"] for a in raw["validation"]["answers"]), strict=True)
    )
    scores = squad_scores(answers, references)
    seconds = time.perf_counter() - whole_start
    return {"seconds": seconds, "train_seconds": train_seconds, "exact": scores["exact"],
            "f1": scores["f1"]}  # fmt: skip


# ---- the comparison -------------------------------------------------------------------------


def worker(kind: str, work: Path, args) -> None:
    result = run_trainer(work, args) if kind == "trainer" else run_llmkit(work, args)
    print("WORKER " + json.dumps(result), flush=True)


def spawn(kind: str, work: Path, argv: list[str]) -> dict:
    result = run_worker(__file__, kind, work, argv)
    train = f" (train() {result['train_seconds']:.1f} s)" if "train_seconds" in result else ""
    print(f"  {kind:<7} {' '.join(argv[-2:])}: {result['seconds']:7.1f} s{train}, EM "
          f"{result['exact']:.2f}, F1 {result['f1']:.2f}", flush=True)  # fmt: skip
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seeds", default="42,43", help="comma-separated; one pair per seed")
    parser.add_argument(
        "--llmkit-set", action="append", default=[], metavar="KEY=VALUE",
        help="override llmkit's config, as `llmkit finetune --set` (batching.group_by_length=false)",
    )  # fmt: skip
    parser.add_argument("--worker", choices=["trainer", "llmkit"])
    parser.add_argument("--seed", type=int, default=42, help="a worker's seed")
    parser.add_argument("--work", type=Path)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args.worker, args.work, args)
        return
    run = Run("bench_qa: llmkit question answering vs a run_qa.py-style Trainer on SQuAD 2.0")
    seeds = [int(s) for s in args.seeds.split(",")]
    argv = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--lr", str(args.lr)]  # fmt: skip
    argv += [f"--llmkit-set={item}" for item in args.llmkit_set]
    with tempfile.TemporaryDirectory(prefix="bench-qa-") as tmp:
        work = Path(tmp)
        prepare(work)
        questions = sum(
            len(p["qas"]) for a in json.loads((work / "train.json").read_text())["data"]
            for p in a["paragraphs"]
        )  # fmt: skip
        sides = {kind: lambda rep, kind=kind: spawn(kind, work, [*argv, "--seed", str(seeds[rep])])
                 for kind in ("trainer", "llmkit")}  # fmt: skip
        runs = interleave(sides, len(seeds))
    ref, ours = runs["trainer"], runs["llmkit"]
    examples = questions * args.epochs
    for name, side in (("Trainer (run_qa.py style)", ref), ("llmkit", ours)):
        rate = statistics.median(examples / r["seconds"] for r in side)
        print(f"{name:<26} {rate:7.2f} training questions/s, whole run (median), EM "
              f"{statistics.mean(r['exact'] for r in side):.2f}, F1 "
              f"{statistics.mean(r['f1'] for r in side):.2f} (means over {len(seeds)} seeds)")  # fmt: skip
    speedup = ratio_spread([r["seconds"] for r in ref], [o["seconds"] for o in ours])
    print(f"speedup llmkit / Trainer over {len(seeds)} seeds, both whole runs: {speedup}")
    train_only = ratio_spread([r["train_seconds"] for r in ref], [o["seconds"] for o in ours])
    print(f"llmkit's whole run against the Trainer's train() alone: {train_only}")
    run.finish({
        **speedup.figures("qa_speedup"),
        "qa_speedup_vs_train_only": train_only.median,
        "f1": f"{statistics.mean(o['f1'] for o in ours):.2f}",
        "f1_ref": f"{statistics.mean(r['f1'] for r in ref):.2f}",
        "exact": f"{statistics.mean(o['exact'] for o in ours):.2f}",
        "exact_ref": f"{statistics.mean(r['exact'] for r in ref):.2f}",
    })  # fmt: skip


if __name__ == "__main__":
    main()
