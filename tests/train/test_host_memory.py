"""The loop keeps freed host memory in the process, so steps do not page-fault it back in."""

import ctypes
import ctypes.util
import os
import platform

from llmkit.train.host_memory import keep_freed_host_memory

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_applied_exactly_on_glibc():
    assert keep_freed_host_memory() == glibc


def test_freed_heap_memory_stays_with_the_process():
    if not glibc:  # nothing is changed elsewhere (see the test above)
        return
    keep_freed_host_memory()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    block, count = 64 << 10, 1600  # 100 MiB in blocks below the mmap threshold: heap memory
    blocks = [libc.malloc(block) for _ in range(count)]
    for address in blocks:
        ctypes.memset(address, 1, block)  # touch every page so it is resident
    before_free = resident_bytes()
    for address in reversed(blocks):
        libc.free(address)
    released = before_free - resident_bytes()
    # glibc's default would hand the free top of the heap (~100 MiB) back to the OS right here
    assert released < (count * block) // 4
