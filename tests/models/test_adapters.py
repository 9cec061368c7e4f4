"""LoRA through peft (save, load, merge) and freezing, on tiny models built from config."""

import pytest
import torch
from tasks.finetune_helpers import TINY_ENCODER, fixture, make_config

from llmkit.config.finetune import FreezeConfig, LoraConfig
from llmkit.errors import ConfigError
from llmkit.models import adapters
from llmkit.train.stage import run_training


def _bert(masked_tokenizer_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import load_or_build

    tok = AutoTokenizer.from_pretrained(masked_tokenizer_dir)
    torch.manual_seed(0)
    model = load_or_build(ModelConfig(**TINY_ENCODER), AutoModelForSequenceClassification, tok,
                          num_labels=2)  # fmt: skip
    return model.eval(), tok


def _perturb_adapters(model):
    """LoRA's B starts at zero (adapter = identity); give it weights as training would."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)


def test_only_adapters_and_head_train(masked_tokenizer_dir):
    model, _ = _bert(masked_tokenizer_dir)
    peft_model = adapters.apply_lora(model, LoraConfig(enabled=True, r=4), "SEQ_CLS")
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    assert any("query" in n for n in trainable) and any("value" in n for n in trainable)
    assert not any("key" in n for n in trainable)  # peft's BERT default: query and value


def test_saved_adapter_reloads_and_merged_model_matches(masked_tokenizer_dir, tmp_path):
    model, tok = _bert(masked_tokenizer_dir)
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    peft_model = adapters.apply_lora(model, LoraConfig(enabled=True, r=4, alpha=8), "SEQ_CLS")
    _perturb_adapters(peft_model)
    peft_model.eval()
    batch = tok(["the king is here", "so"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = peft_model(**batch).logits
    adapters.save_adapter(peft_model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()

    fresh, _ = _bert(masked_tokenizer_dir)
    fresh.load_state_dict(base_state)
    reloaded = adapters.load_adapter(fresh, tmp_path / "adapter").eval()
    merged = adapters.merged_copy(peft_model).eval()
    assert not adapters.is_adapter_model(merged)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, expected)
        torch.testing.assert_close(merged(**batch).logits, expected, rtol=1e-4, atol=1e-5)


def test_target_modules_by_regex_and_bad_names(masked_tokenizer_dir):
    model, _ = _bert(masked_tokenizer_dir)
    cfg = LoraConfig(enabled=True, target_modules=r".*layer\.0\..*(query|key)")
    peft_model = adapters.apply_lora(model, cfg, "SEQ_CLS")
    adapted = {n.split(".lora_")[0] for n, _ in peft_model.named_parameters() if "lora_A" in n}
    assert adapted and all("layer.0." in n for n in adapted)
    model, _ = _bert(masked_tokenizer_dir)
    with pytest.raises(ConfigError, match="lora.target_modules.*linear modules of this model"):
        adapters.apply_lora(model, LoraConfig(enabled=True, target_modules=["nope"]), "SEQ_CLS")


def test_freezing_embeddings_and_first_layers(masked_tokenizer_dir):
    model, _ = _bert(masked_tokenizer_dir)
    adapters.freeze_parameters(model, FreezeConfig(embeddings=True, first_n_layers=1))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "bert.embeddings.word_embeddings.weight" in frozen
    assert "bert.embeddings.position_embeddings.weight" in frozen
    assert any(n.startswith("bert.encoder.layer.0.") for n in frozen)
    assert not any(n.startswith("bert.encoder.layer.1.") for n in frozen)
    assert model.classifier.weight.requires_grad
    with pytest.raises(ConfigError, match="exceeds the 2 blocks"):
        adapters.freeze_parameters(model, FreezeConfig(first_n_layers=3))
    with pytest.raises(ConfigError, match="freeze: only applies to full finetuning"):
        adapters.prepare_for_training(
            model, LoraConfig(enabled=True), FreezeConfig(embeddings=True), "SEQ_CLS"
        )


def _tiny_from_config(family: str, auto_name: str, tokenizer_dir, n_layers: int):
    import transformers

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import load_or_build

    tok = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = ModelConfig(family=family, n_layers=n_layers, hidden_size=16, n_heads=2)
    return load_or_build(cfg, getattr(transformers, auto_name), tok)


STACKS = {
    "gpt2": ("AutoModelForCausalLM", ["transformer.h"]),
    "bart": ("AutoModelForSeq2SeqLM", ["model.encoder.layers", "model.decoder.layers"]),
    "t5": ("AutoModelForSeq2SeqLM", ["encoder.block", "decoder.block"]),
}


@pytest.mark.parametrize("first_n", [1, 2, 3])
@pytest.mark.parametrize("family", sorted(STACKS))
def test_first_n_layers_freezes_blocks_below_n_of_every_stack(
    family, first_n, causal_tokenizer_dir
):
    auto_name, stack_names = STACKS[family]
    model = _tiny_from_config(family, auto_name, causal_tokenizer_dir, n_layers=3)
    # T5 blocks hold their sub-layers in lists named `layer`; those are not stacks
    assert [name for name, _ in adapters.block_stacks(model)] == stack_names
    adapters.freeze_parameters(model, FreezeConfig(first_n_layers=first_n))

    def block_index(param_name: str) -> int | None:
        for stack in stack_names:
            if param_name.startswith(stack + "."):
                return int(param_name[len(stack) + 1 :].split(".")[0])
        return None  # embeddings, final norms, the LM head

    params = dict(model.named_parameters())
    expected = {n for n in params if (i := block_index(n)) is not None and i < first_n}
    frozen = {n for n, p in params.items() if not p.requires_grad}
    assert frozen == expected
    for stack in stack_names:  # the decoder's first blocks too, not only the encoder's
        assert any(n.startswith(f"{stack}.{first_n - 1}.") for n in frozen)


def test_first_n_layers_beyond_the_stack_names_it_and_the_limit(causal_tokenizer_dir):
    model = _tiny_from_config("t5", "AutoModelForSeq2SeqLM", causal_tokenizer_dir, n_layers=2)
    with pytest.raises(ConfigError, match=r"exceeds the 2 blocks of encoder\.block .*at most 2"):
        adapters.freeze_parameters(model, FreezeConfig(first_n_layers=3))
    assert all(p.requires_grad for p in model.parameters())  # nothing half-frozen


def test_lora_finetune_writes_adapter_and_equivalent_merged_model(tmp_path, masked_tokenizer_dir):
    from transformers import AutoModelForSequenceClassification

    cfg = make_config(
        tmp_path,
        masked_tokenizer_dir,
        model=TINY_ENCODER,
        lora={"enabled": True, "r": 4},
        data={"train": fixture("sentiment_train.jsonl")},
        split={"validation_ratio": 0.0},
        train={"batch_size": 8, "max_steps": 4, "optimizer": {"lr": 1e-2}},
    )
    out = run_training(cfg)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not (out / "adapter_config.json").exists()  # the top level is a plain model
    merged = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert merged.config.id2label == {0: "negative", 1: "positive"}
    # base weights (the final checkpoint holds them) + adapter == merged model
    from safetensors.torch import load_file

    from llmkit.tasks.classification import ClassificationTask
    from llmkit.tasks.spec import task_spec

    task = ClassificationTask(task_spec(cfg))
    task.label_names = ["negative", "positive"]
    checkpoint = sorted((out / "checkpoints").iterdir())[-1]
    base_model = task.build_model()  # a peft model around a fresh base
    state = load_file(str(next(checkpoint.glob("model*.safetensors"))))
    base_model.load_state_dict(state)
    batch = task.tokenizer(["my lord was good", "so sad"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(
            merged(**batch).logits, base_model.eval()(**batch).logits, rtol=1e-4, atol=1e-5
        )


def test_a_missing_pretrained_model_is_a_checkpoint_error_naming_the_key(tmp_path):
    import transformers

    from llmkit.config.model import ModelConfig
    from llmkit.errors import CheckpointError
    from llmkit.models.build import load_or_build

    cfg = ModelConfig(pretrained=str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="model.pretrained: cannot load .*no such local"):
        load_or_build(cfg, transformers.AutoModelForCausalLM, tokenizer=None)
