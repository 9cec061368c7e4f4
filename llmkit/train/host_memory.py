"""Keep freed host memory in the process between training steps (glibc only).

Every CPU step frees its activations and gradients and allocates them again. glibc gives the top
of its heap back to the OS as soon as more than M_TRIM_THRESHOLD bytes are free there, so those
tensors come back as fresh pages that the kernel must fault in and zero on every step. For the
baby BERT of scripts/bench_pretrain.py that was ~3 s of system time per 400 steps and 13% of the
step time. Raising the trim threshold (and growing the heap in larger pieces) keeps the pages:
the peak memory is the same, the process just does not shrink between steps. This is what
preloading jemalloc or tcmalloc does for Intel's and PyTorch's CPU launch scripts, without the
preload. Nothing changes on other C libraries, and GPU memory is not concerned.
"""

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
"""mallopt parameter numbers from glibc's malloc.h."""
TRIM_THRESHOLD_BYTES = 1 << 30
TOP_PAD_BYTES = 64 << 20


@functools.cache  # once per process is enough; every run calls it
def keep_freed_host_memory() -> bool:
    """Tell glibc's malloc not to return freed heap memory to the OS; True if it was applied.
    (Measured: setting M_MMAP_THRESHOLD as well made steps slower, so it is left alone.)"""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    trimmed = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    padded = libc.mallopt(M_TOP_PAD, TOP_PAD_BYTES)
    return bool(trimmed and padded)
