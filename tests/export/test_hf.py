"""hf format: a directory plain transformers loads, a Hub model card, LoRA merged or adapter."""

import json

import pytest
import torch
import transformers
import yaml


def _front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def _logits(model, tokenizer, texts):
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits.float()


def test_lora_run_exports_merged_with_a_model_card_and_equals_the_adapter(
    cli, lora_run_dir, tmp_path
):
    merged_dir, adapter_dir = tmp_path / "merged", tmp_path / "adapter"
    result = cli("export", lora_run_dir, "--format", "hf", "--output", merged_dir,
                 "--set", "license=apache-2.0")  # fmt: skip
    assert result.exit_code == 0, result.output
    state = json.loads((lora_run_dir / "trainer_state.json").read_text())
    assert f"best checkpoint of run {lora_run_dir} (step {state['best_step']} of 4" in result.output
    assert cli("export", lora_run_dir, "--output", adapter_dir, "--adapter-only").exit_code == 0

    files = {p.name for p in merged_dir.iterdir()}
    assert "model.safetensors" in files and "tokenizer.json" in files and "README.md" in files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    meta = _front_matter((merged_dir / "README.md").read_text())
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["license"] == "apache-2.0"
    assert meta["datasets"] == ["sentiment_train", "sentiment_validation"]
    last = [json.loads(r) for r in (lora_run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in last if r["split"] == "validation" and r["step"] == state["best_step"]][-1]
    scores = meta["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in scores}["accuracy"] == pytest.approx(last["accuracy"])
    body = (merged_dir / "README.md").read_text()
    assert "parameters:" in body and "## Training config (resolved)" in body
    assert "AutoModelForSequenceClassification.from_pretrained" in body

    # adapter on its base == the merged export, within 1e-5 (fp32 merge is a matmul-add)
    from peft import PeftModel

    assert {p.name for p in adapter_dir.iterdir()} >= {"adapter_config.json",
                                                       "adapter_model.safetensors"}  # fmt: skip
    base_path = json.loads((adapter_dir / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ]
    base = transformers.AutoModelForSequenceClassification.from_pretrained(base_path)
    with_adapter = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    merged = transformers.AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(merged_dir)
    texts = ["a fine film", "dull and long, really quite dull"]
    diff = (_logits(merged, tokenizer, texts) - _logits(with_adapter, tokenizer, texts)).abs()
    assert diff.max() < 1e-5


def test_dtype_casts_saved_weights_and_keeps_generation_config(cli, gpt2_dir, tmp_path):
    out = tmp_path / "gpt2-fp16"
    result = cli("export", gpt2_dir, "--format", "hf", "--output", out, "--dtype", "fp16")
    assert result.exit_code == 0, result.output
    assert (out / "generation_config.json").is_file()
    model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert next(model.parameters()).dtype == torch.float16
    meta = _front_matter((out / "README.md").read_text())
    assert meta["pipeline_tag"] == "text-generation" and "license" not in meta


def test_the_card_of_a_keep_best_run_reports_the_scores_of_the_exported_step(
    cli, tmp_path, masked_tokenizer_dir
):
    """keep_best saves the best validated step's weights as the run's model; the card's
    model-index reported the last validation's scores, another step's, as the model's."""
    from llmkit.train.stage import run_training
    from tests.tasks.finetune_helpers import TINY_ENCODER, fixture, make_config

    # the highest validation loss is the "best": the first validation, not the last
    cfg = make_config(
        tmp_path, masked_tokenizer_dir, model=TINY_ENCODER, task={"type": "classification"},
        data={"train": fixture("sentiment_train.jsonl"),
              "validation": fixture("sentiment_validation.jsonl")},
        train={"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 5e-3},
               "eval": {"every_steps": 1, "best_metric": "loss", "greater_is_better": True},
               "checkpoint": {"keep_best": True}},
    )  # fmt: skip
    run = run_training(cfg)
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["best_step"] != state["step"]
    validation = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    best = next(
        r for r in validation if r["split"] == "validation" and r["step"] == state["best_step"]
    )

    out = tmp_path / "export"
    assert cli("export", run, "--format", "hf", "--output", out).exit_code == 0
    card = (out / "README.md").read_text()
    scores = _front_matter(card)["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in scores}["loss"] == pytest.approx(best["loss"])
    assert f"step {state['best_step']}" in card.split("## Training data")[0].split("## Model")[1]
