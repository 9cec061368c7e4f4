"""Masked LM + next-sentence prediction: the pair sampler (true next segment from the same
document, random B from another, half and half), sentence segments from preprocess, the summed
loss, whole-word masking on pairs, and a run whose model loads as AutoModelForPreTraining and
AutoModel."""

import json
import random

import pytest
import torch
import yaml

from llmkit.config.load import validate
from llmkit.config.pretrain import PretrainConfig
from llmkit.data.segments import split_segments
from llmkit.tasks.nsp import MaskedLMWithNSPTask, sample_pairs, trim_pair
from llmkit.tasks.registry import build_task

QUIET = {"logging": {"every_steps": 2, "live": False, "trackers": []}}


def _documents(n_docs: int, seed: int) -> list[list[int]]:
    """Token counts of each segment of `n_docs` documents of 1–8 segments."""
    rng = random.Random(seed)
    return [[rng.randint(3, 40) for _ in range(rng.randint(1, 8))] for _ in range(n_docs)]


def test_pairs_never_repeat_a_segment_and_true_pairs_stay_in_their_document():
    lengths = _documents(3000, seed=1)
    pairs = sample_pairs(lengths, max_tokens=61, rng=random.Random(0))
    assert len(pairs) > 5000
    for p in pairs:
        assert p.a.start < p.a.stop and p.b.start < p.b.stop
        if p.is_next:  # B is exactly the text after A, in A's document
            assert p.b.document == p.a.document and p.b.start == p.a.stop
            assert p.b.stop <= len(lengths[p.a.document])
        else:  # never A's own text: another document altogether
            assert p.b.document != p.a.document
    positives = sum(p.is_next for p in pairs) / len(pairs)
    assert positives == pytest.approx(0.5, abs=0.02)


def test_every_segment_is_used_once_as_a_or_as_a_true_b():
    lengths = _documents(400, seed=2)
    pairs = sample_pairs(lengths, max_tokens=40, rng=random.Random(3))
    used = [[0] * len(doc) for doc in lengths]
    for p in pairs:
        spans = [p.a, p.b] if p.is_next else [p.a]
        for span in spans:
            for s in range(span.start, span.stop):
                used[span.document][s] += 1
    assert all(count == 1 for doc in used for count in doc)


def test_one_segment_documents_are_random_pairs_and_positives_stay_at_half():
    # every other document has a single segment, which can only be a random pair
    lengths = [[30] if d % 2 else [10] * 8 for d in range(2000)]
    pairs = sample_pairs(lengths, max_tokens=30, rng=random.Random(0))
    assert not any(p.is_next for p in pairs if len(lengths[p.a.document]) == 1)
    assert sum(p.is_next for p in pairs) / len(pairs) == pytest.approx(0.5, abs=0.03)


def test_trimming_keeps_both_sides_and_fits():
    rng = random.Random(0)
    a, b = trim_pair(list(range(50)), list(range(100, 110)), 30, rng)
    assert len(a) + len(b) == 30 and b == list(range(100, 110))  # only the longer side was cut
    assert a == list(range(a[0], a[0] + len(a)))  # cut at its ends, never in the middle
    assert 0 < a[0] and a[-1] < 49  # from both ends at random


def test_sentences_and_lines_are_the_segments():
    text = 'He came home. "Is it late?" she asked. Yes! It was e.g. the end.\nNext line.'
    assert split_segments(text, "sentence") == [
        "He came home.",
        '"Is it late?" she asked.',
        "Yes!",
        "It was e.g. the end.",
        "Next line.",
    ]
    assert split_segments("one sentence\n\n two \n", "line") == ["one sentence", "two"]


def _corpus(tmp_path, corpus_lines, n_docs: int = 30):
    """Paragraph documents, one line per segment (BERT's input format)."""
    paragraphs = ["\n".join(corpus_lines[i * 6 : i * 6 + 6]) for i in range(n_docs)]
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


def _config(tmp_path, corpus, tokenizer, **task) -> dict:
    return {
        "stage": "pretrain",
        "output_dir": str(tmp_path / "run"),
        "model": {"family": "bert", "n_layers": 2, "hidden_size": 32, "n_heads": 2,
                  "context_length": 64},
        "task": {"type": "mlm", "nsp": True, **task},
        "data": {"preprocess": {
            "data": {"train": str(corpus), "text_unit": "paragraph"},
            "cleaning": {"deduplicate": False},
            "split": {"validation_ratio": 0.2, "seed": 0},
            "tokenizer": str(tokenizer), "pack": False, "segments": "line", "block_size": 64,
            "output_dir": str(tmp_path / "segments"),
        }},
        "train": {"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 1e-3},
                  "eval": {"every_steps": 4}, **QUIET},
    }  # fmt: skip


def _task(tmp_path, corpus_lines, tokenizer, **task) -> MaskedLMWithNSPTask:
    cfg = validate(
        PretrainConfig, _config(tmp_path, _corpus(tmp_path, corpus_lines), tokenizer, **task)
    )
    built = build_task(cfg)
    assert isinstance(built, MaskedLMWithNSPTask)  # task.type mlm + nsp: true
    return built


def test_pairs_are_cls_a_sep_b_sep_with_segment_ids(tmp_path, masked_tokenizer_dir, corpus_lines):
    task = _task(tmp_path, corpus_lines, masked_tokenizer_dir)
    train = task.prepare_data().splits["train"]
    tok = task.tokenizer
    labels = train["next_sentence_label"]
    assert 0.3 < sum(labels) / len(labels) < 0.7
    for row in train:
        ids, types = row["input_ids"], row["token_type_ids"]
        assert len(ids) <= 64 and ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        first_sep = ids.index(tok.sep_token_id)
        assert types == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        assert first_sep > 1 and first_sep < len(ids) - 2  # A and B both hold text
    # in a true pair, B comes after A in A's document (trimming may cut A's end)
    from datasets import load_from_disk

    def text(ids):
        return "," + ",".join(map(str, ids)) + ","

    documents = load_from_disk(str(tmp_path / "segments"))["train"]["segments"]
    streams = [text([t for seg in doc for t in seg]) for doc in documents]
    for row in train:
        if row["next_sentence_label"] != 0:
            continue
        ids = row["input_ids"]
        a, b = (
            text(ids[1 : ids.index(tok.sep_token_id)]),
            text(ids[ids.index(tok.sep_token_id) + 1 : -1]),
        )
        assert any(a in s and b in s[s.index(a) + len(a) - 1 :] for s in streams)


def test_loss_is_mlm_mean_plus_nsp_mean_as_bert_computes_it(
    tmp_path, masked_tokenizer_dir, corpus_lines
):
    task = _task(tmp_path, corpus_lines, masked_tokenizer_dir)
    data = task.prepare_data()
    torch.manual_seed(0)
    batch = data.collate([data.splits["train"][i] for i in range(8)])
    model = task.build_model().eval()
    with torch.no_grad():
        ours = task.loss_sum(model, batch) / task.count_loss_items(batch)
        theirs = model(**batch).loss  # BertForPreTraining: masked LM loss + NSP loss
    assert ours == pytest.approx(float(theirs), rel=1e-5)


def test_whole_word_masking_works_on_pairs(tmp_path, masked_tokenizer_dir, corpus_lines):
    task = _task(tmp_path, corpus_lines, masked_tokenizer_dir, whole_word_mask=True)
    data = task.prepare_data()
    rows = [data.splits["train"][i] for i in range(len(data.splits["train"]))]
    torch.manual_seed(0)
    batch = data.collate(rows)
    originals = task.pad_ids(rows)["input_ids"]
    pieces = task.tokenizer.convert_ids_to_tokens(originals.flatten().tolist())
    continuation = torch.tensor([p.startswith("##") for p in pieces]).view(originals.shape)
    # a side trimmed at its front can start inside a word: that rest is a word of its own
    frame = torch.tensor([task.tokenizer.cls_token_id, task.tokenizer.sep_token_id])
    continuation &= ~torch.nn.functional.pad(torch.isin(originals[:, :-1], frame), (1, 0))
    chosen = batch["labels"] != -100
    previous = torch.nn.functional.pad(chosen[:, :-1], (1, 0))
    assert continuation.any() and chosen.any()
    assert torch.equal(chosen[continuation], previous[continuation])  # words go whole
    assert not chosen[originals == task.tokenizer.sep_token_id].any()
    expected_types = torch.zeros_like(originals)
    for i, row in enumerate(rows):
        expected_types[i, : len(row["token_type_ids"])] = torch.tensor(row["token_type_ids"])
    assert torch.equal(batch["token_type_ids"], expected_types)


def test_pretrain_then_load_as_pretraining_model_and_encoder(
    cli, tmp_path, masked_tokenizer_dir, corpus_lines, one_thread
):
    from transformers import AutoModel, AutoModelForPreTraining, BertForPreTraining, BertModel

    config = _config(tmp_path, _corpus(tmp_path, corpus_lines), masked_tokenizer_dir)
    path = tmp_path / "nsp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("pretrain", path)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in rows if r["split"] == "validation"][-1]
    assert {"mlm_loss", "perplexity", "nsp_loss", "nsp_accuracy"} <= set(validation)
    assert validation["loss"] == pytest.approx(validation["mlm_loss"] + validation["nsp_loss"])
    assert 0.0 <= validation["nsp_accuracy"] <= 1.0
    manifest = json.loads((tmp_path / "segments" / "manifest.json").read_text())
    assert manifest["segments"] == "line" and manifest["splits"]["validation"]["documents"] >= 2

    full = AutoModelForPreTraining.from_pretrained(run)
    encoder = AutoModel.from_pretrained(run)
    assert isinstance(full, BertForPreTraining) and isinstance(encoder, BertModel)
    assert torch.equal(
        full.bert.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight
    )
    assert torch.equal(
        full.bert.encoder.layer[1].output.dense.weight, encoder.encoder.layer[1].output.dense.weight
    )
    # `llmkit export` keeps both heads
    result = cli("export", run, "--format", "hf", "--output", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    exported = AutoModelForPreTraining.from_pretrained(tmp_path / "hf")
    assert torch.equal(exported.cls.seq_relationship.weight, full.cls.seq_relationship.weight)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"family": "roberta"}}, "task.nsp needs model.family bert"),
        ({"segments": None}, r"pack must be true .*, or segments set for next-sentence"),
        ({"segments": None, "pack": True}, "task.nsp pairs sentences: set data.preprocess.seg"),
        ({"pack": True}, "segments writes whole documents, not packed blocks"),
        ({"nsp": False}, "data.preprocess.segments is for next-sentence prediction"),
    ],
)
def test_nsp_settings_that_cannot_work_are_config_errors(tmp_path, change, message):
    from llmkit.errors import ConfigError

    cfg = _config(tmp_path, tmp_path / "docs.txt", tmp_path / "tok")
    if "model" in change:
        cfg["model"] |= change["model"]
    elif "nsp" in change:
        cfg["task"]["nsp"] = change["nsp"]
    else:
        cfg["data"]["preprocess"] |= change
    with pytest.raises(ConfigError, match=message):
        validate(PretrainConfig, cfg)


def test_shipped_nsp_config_dry_runs_on_text_in_the_wiki_layout(
    cli, tmp_path, masked_tokenizer_dir, corpus_lines, monkeypatch, one_thread
):
    """configs/pretrain-bert-nsp.yaml past its schema: preprocess into sentence segments, pairs,
    model and loss fit together, on a stand-in for ../shared/data/wiki_text/wiki_00 (articles in
    <doc> lines, a title line, paragraphs separated by blank lines)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    articles = []
    for a in range(2):
        paragraphs = [" ".join(corpus_lines[a * 200 + p * 5 : a * 200 + p * 5 + 5])
                      for p in range(25)]  # fmt: skip
        articles.append(f'<doc id="{a}" url="u" title="T{a}">\nT{a}\n\n' + "\n\n".join(paragraphs)
                        + "\n</doc>")  # fmt: skip
    wiki = tmp_path / "wiki_00"
    wiki.write_text("\n".join(articles), encoding="utf-8")
    monkeypatch.chdir(root)
    result = cli(
        "pretrain", root / "configs" / "pretrain-bert-nsp.yaml", "--dry-run",
        "--set", f"data.preprocess.data.train={wiki}",
        "--set", f"data.preprocess.tokenizer={masked_tokenizer_dir}",
        "--set", f"data.preprocess.output_dir={tmp_path / 'segments'}",
        "--set", f"output_dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "next sentence ⟦" in result.output and "dry run ok" in result.output
    assert not (tmp_path / "run").exists()


def test_a_pretrained_model_without_a_next_sentence_head_is_refused(
    cli, tmp_path, masked_tokenizer_dir, corpus_lines, tiny_model, one_thread
):
    """AutoModelForPreTraining of a RoBERTa is its masked LM alone: the first step ended in an
    AttributeError traceback ('MaskedLMOutput' has no 'prediction_logits')."""
    base = tiny_model("roberta", "AutoModelForMaskedLM", masked_tokenizer_dir, tmp_path / "rob")
    config = _config(tmp_path, _corpus(tmp_path, corpus_lines), masked_tokenizer_dir)
    config["model"] = {"pretrained": str(base)}
    path = tmp_path / "nsp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("pretrain", path, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "RobertaForMaskedLM, which has no next-sentence head" in result.output
    assert "Traceback" not in result.output


def _pair_tokens(lengths, pair) -> int:
    return sum(lengths[s.document][i] for s in (pair.a, pair.b) for i in range(s.start, s.stop))


def _ends_its_document(lengths, span) -> bool:
    return span.stop == len(lengths[span.document])


def test_without_short_pairs_every_pair_is_as_long_as_the_data_allows():
    lengths = [[1] * random.Random(d).randint(1, 300) for d in range(300)]  # a token a segment
    pairs = sample_pairs(lengths, max_tokens=61, rng=random.Random(0), short_seq_prob=0.0)
    for p in pairs:  # shorter only where A's chunk or the random B ran out of document
        assert _pair_tokens(lengths, p) == 61 or _ends_its_document(lengths, p.b), p


def test_short_pairs_aim_at_random_lengths_below_the_maximum():
    lengths = [[1] * 400 for _ in range(300)]
    pairs = sample_pairs(lengths, max_tokens=61, rng=random.Random(0), short_seq_prob=1.0)
    full_length = [p for p in pairs if not _ends_its_document(lengths, p.b)]
    sizes = [_pair_tokens(lengths, p) for p in full_length]
    assert len(sizes) > 2000 and min(sizes) == 2
    assert sum(s < 61 for s in sizes) / len(sizes) > 0.95  # a target of 61 is 1 draw in 60
    assert sum(sizes) / len(sizes) == pytest.approx((2 + 61) / 2, rel=0.05)  # uniform on 2..61
    some_short = sample_pairs(lengths, max_tokens=61, rng=random.Random(0), short_seq_prob=0.1)
    sizes = [_pair_tokens(lengths, p) for p in some_short if not _ends_its_document(lengths, p.b)]
    assert sum(s < 61 for s in sizes) / len(sizes) == pytest.approx(0.1, abs=0.03)
    # the share of pairs, whatever the documents' lengths; positives stay at half
    assert sum(p.is_next for p in pairs) / len(pairs) == pytest.approx(0.5, abs=0.02)


def test_short_pairs_are_drawn_from_train_seed(tmp_path, masked_tokenizer_dir, corpus_lines):
    corpus = _corpus(tmp_path, corpus_lines)

    def rows(seed: int, short_seq_prob: float) -> dict:
        config = _config(tmp_path, corpus, masked_tokenizer_dir, short_seq_prob=short_seq_prob)
        config["train"]["seed"] = seed
        splits = build_task(validate(PretrainConfig, config)).prepare_data().splits
        return {split: splits[split]["input_ids"] for split in ("train", "validation")}

    short = rows(3, 1.0)
    assert short == rows(3, 1.0)  # a resumed run, or `llmkit eval`, draws the same pairs
    assert short != rows(4, 1.0)
    full = rows(3, 0.0)
    for split in ("train", "validation"):
        mean_short = sum(map(len, short[split])) / len(short[split])
        mean_full = sum(map(len, full[split])) / len(full[split])
        assert mean_short < 0.9 * mean_full, split  # lines of ~15 tokens overshoot a target
