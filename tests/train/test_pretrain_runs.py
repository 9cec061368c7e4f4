"""End-to-end pretraining on the shipped corpus: the loss falls for both objectives, and the
output is a Hugging Face model directory that plain transformers loads."""

import json
import math

import pytest
import torch
from pretrain_helpers import metric_rows, tiny_config
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from llmkit.train.stage import run_training

HF_FILES = ["config.json", "model.safetensors", "tokenizer.json", "llmkit_config.yaml"]


@pytest.mark.parametrize("task", ["clm", "mlm"])
def test_loss_falls_on_real_text_and_output_loads_with_plain_transformers(
    tmp_path, clm_data_dir, mlm_data_dir, task
):
    data = clm_data_dir if task == "clm" else mlm_data_dir
    cfg = tiny_config(
        tmp_path / "run", data, task, max_steps=40,
        eval={"every_steps": 20, "max_batches": 4},
        checkpoint={"every_steps": 10, "keep_last": 2},
        logging={"every_steps": 5, "trackers": [], "live": False},
    )  # fmt: skip
    out = run_training(cfg)

    train_rows = metric_rows(out)
    assert [r["step"] for r in train_rows] == list(range(5, 41, 5))
    # MLM learns less per step: only 15% of the positions carry loss
    assert train_rows[-1]["loss"] < train_rows[0]["loss"] - (0.5 if task == "clm" else 0.2)
    val = metric_rows(out, "validation")
    assert [r["step"] for r in val] == [20, 40]
    vocab = AutoTokenizer.from_pretrained(data / "tokenizer").__len__()
    assert val[-1]["loss"] < math.log(vocab) - 0.3  # better than guessing uniformly
    assert val[-1]["perplexity"] == pytest.approx(torch.tensor(val[-1]["loss"]).exp().item())

    for name in HF_FILES + ["metrics.jsonl"]:
        assert (out / name).is_file(), name
    # keep_last: 2 of the checkpoints at 10, 20, 30, 40
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-30", "step-40"]

    auto = AutoModelForCausalLM if task == "clm" else AutoModelForMaskedLM
    model = auto.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    enc = tokenizer(["To be, or not to be"], return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[-1] == len(tokenizer)
    if task == "clm":
        assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == (
            tokenizer.eos_token_id
        )
        generated = model.generate(**enc, max_new_tokens=5, do_sample=False)
        assert generated.shape[1] == enc["input_ids"].shape[1] + 5


def test_continuing_from_a_saved_model_trains_every_module_in_train_mode(
    tmp_path, clm_data_dir, monkeypatch
):
    """from_pretrained returns a model in eval mode (dropout off); the loop must switch it."""
    from llmkit.config.load import validate
    from llmkit.config.pretrain import PretrainConfig
    from llmkit.train import loop

    first = run_training(tiny_config(tmp_path / "first", clm_data_dir, max_steps=2))
    cfg = tiny_config(tmp_path / "second", clm_data_dir, max_steps=4, eval={"every_steps": 2})
    raw = cfg.model_dump(mode="json")
    raw["model"] = {"pretrained": str(first)}
    cfg = validate(PretrainConfig, raw)

    modes = []
    real_step = loop.optimizer_step

    def recording_step(run, micro_batches, window):
        modes.append(all(m.training for m in run.model.modules()))
        return real_step(run, micro_batches, window)

    monkeypatch.setattr(loop, "optimizer_step", recording_step)
    run_training(cfg)
    assert modes == [True] * 4  # also after the validation at step 2
