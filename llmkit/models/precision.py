"""Which precision and attention kernel a run uses when the config says `auto`.

bf16 autocast halves the time of a matrix multiply on a GPU with bf16 and on a CPU with native
bf16 instructions (AVX512-BF16 or AMX: ~400 against ~160 GFLOP/s in fp32 on a 2-core EPYC), but
is ~16× *slower* on a CPU without them, where oneDNN emulates it (BASELINES.md). So `auto` picks
bf16 only where the hardware has it, read from the CPU's feature flags rather than timed, so that
every process and every resumed run decides the same way.

On a CPU, PyTorch's bf16 flash-attention backward kernel is slow (3.3 ms against 0.9 ms in fp32
per call for a 4-head, 64-token batch of 12), while the matmul-and-softmax ("eager") attention runs
its products at bf16 speed; `attn_implementation: auto` therefore means eager attention for bf16
on a CPU and SDPA everywhere else.
"""

import functools
import warnings
from pathlib import Path

import torch

from llmkit.errors import ConfigError

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of x86 CPUs that compute bf16 dot products natively."""


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (Linux x86: AVX512-BF16 or AMX flags)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in CPU_BF16_FLAGS)
    return False


def training_on_gpu() -> bool:
    return torch.cuda.is_available()


def resolve_precision(precision: str) -> str:
    """What `auto` becomes here: bf16 on a GPU that supports it or a CPU with native bf16,
    else fp32. Other values are returned as they are."""
    if precision != "auto":
        return precision
    if training_on_gpu():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def accelerate_precision(precision: str) -> str:
    """train.precision → Accelerator(mixed_precision=…)."""
    resolved = resolve_precision(precision)
    on_gpu = training_on_gpu()
    if resolved == "fp16" and not on_gpu:
        raise ConfigError(
            "train.precision: fp16 needs a GPU; use auto, fp32, or bf16 on a CPU with "
            "AVX512-BF16/AMX"
        )
    if resolved == "bf16" and not on_gpu and not cpu_has_native_bf16():
        warnings.warn(
            "train.precision: bf16 on a CPU without AVX512-BF16/AMX is emulated and runs ~16× "
            "slower than fp32; precision: auto would pick fp32 here",
            stacklevel=2,
        )
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[resolved]


def resolve_attention(attn_implementation: str, precision: str) -> str:
    """model.attn_implementation → the `attn_implementation` given to transformers."""
    if attn_implementation != "auto":
        return attn_implementation
    if resolve_precision(precision) == "bf16" and not training_on_gpu():
        return "eager"
    return "sdpa"
