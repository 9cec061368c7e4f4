"""`precision: auto` and `attn_implementation: auto`: bf16 only where the hardware multiplies it
natively, eager attention for bf16 on a CPU, and an output directory that loads with SDPA."""

import json
import warnings

import pytest
import torch
from transformers import AutoModelForMaskedLM

from llmkit.errors import ConfigError
from llmkit.models import precision
from llmkit.train.stage import run_training


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(precision, "training_on_gpu", lambda: False)


def _native_bf16(monkeypatch, present: bool) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: present)


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_follows_native_bf16(cpu_only, monkeypatch, native, expected):
    _native_bf16(monkeypatch, native)
    assert precision.resolve_precision("auto") == expected
    assert precision.accelerate_precision("auto") == {"bf16": "bf16", "fp32": "no"}[expected]


def test_explicit_precision_is_kept_and_fp16_needs_a_gpu(cpu_only, monkeypatch):
    _native_bf16(monkeypatch, False)
    assert precision.resolve_precision("bf16") == "bf16"  # the user's choice, even if slow
    assert precision.resolve_precision("fp32") == "fp32"
    with pytest.raises(ConfigError, match="train.precision"):
        precision.accelerate_precision("fp16")


def test_bf16_on_a_cpu_without_native_bf16_warns_that_it_is_slow(cpu_only, monkeypatch):
    _native_bf16(monkeypatch, False)
    with pytest.warns(UserWarning, match="16× slower"):
        assert precision.accelerate_precision("bf16") == "bf16"
    _native_bf16(monkeypatch, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.accelerate_precision("bf16") == "bf16"


def test_cpu_flags_are_read_from_cpuinfo():
    # whatever this machine is, the answer matches its /proc/cpuinfo flags
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    flags = next(
        (ln.split() for ln in info.read_text().splitlines() if ln.startswith("flags")), []
    ) if info.is_file() else []  # fmt: skip
    expected = any(f in flags for f in precision.CPU_BF16_FLAGS)
    assert precision.cpu_has_native_bf16() == expected


@pytest.mark.parametrize(
    "attn, prec, native, expected",
    [
        ("auto", "auto", True, "eager"),  # bf16 on a CPU: SDPA's bf16 backward is slow
        ("auto", "auto", False, "sdpa"),
        ("auto", "fp32", True, "sdpa"),
        ("sdpa", "bf16", True, "sdpa"),  # an explicit choice always wins
        ("eager", "fp32", False, "eager"),
    ],
)
def test_auto_attention(cpu_only, monkeypatch, attn, prec, native, expected):
    _native_bf16(monkeypatch, native)
    assert precision.resolve_attention(attn, prec) == expected


def test_bf16_cpu_run_trains_with_eager_attention_and_saves_a_plain_sdpa_model(
    cpu_only, monkeypatch, tmp_path, mlm_data_dir
):
    from pretrain_helpers import tiny_config

    _native_bf16(monkeypatch, True)
    built = {}
    real = AutoModelForMaskedLM.from_config

    def spy(config, **kwargs):
        built["attn"] = kwargs.get("attn_implementation")
        return real(config, **kwargs)

    monkeypatch.setattr(AutoModelForMaskedLM, "from_config", spy)
    out = run_training(tiny_config(tmp_path / "run", mlm_data_dir, task="mlm", max_steps=4))
    assert built["attn"] == "eager"
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["step"] == 4
    model = AutoModelForMaskedLM.from_pretrained(out)  # no attention setting travels with it
    assert model.config._attn_implementation == "sdpa"
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
