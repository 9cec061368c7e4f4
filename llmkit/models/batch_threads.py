"""Two generation batches in flight on a multi-core CPU, each on its share of the cores.

Generating with a small model on the CPU is mostly Python (generate's per-token bookkeeping, the
modules' forward calls) around small kernels. Given both cores of a 2-core machine, one batch
splits each kernel into pieces too small to gain much, while its Python keeps one core busy and
the other idle. PyTorch releases the GIL inside every kernel, so a second batch's Python can run
while the first batch's kernels do: two worker threads, each with half of the intra-op threads,
generated the 179 sentences of `scripts/bench_generate.py` 1.2–1.3× faster than one batch at a
time with both threads (BENCHMARKS.md), with the same texts.

Only greedy and beam search run this way: a sampled batch draws from the global RNG, which two
batches in flight would share in an order nobody chose, so sampling stays one batch at a time
and repeats exactly with its seed. A GPU keeps one batch at a time too: its kernels already run
asynchronously to the Python that launches them.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")

# Why two and not one per core: the Python halves take turns on the GIL, so a third batch in
# flight mostly waits, and every batch in flight holds its own KV cache.
WORKERS = 2


def worker_count(device: torch.device, deterministic: bool, batches: int) -> int:
    """How many batches to keep in flight: WORKERS for deterministic decoding of several batches
    on a CPU with at least two intra-op threads, else 1. Splitting the threads relies on OpenMP's
    per-thread thread count, which is what PyTorch's CPU builds use."""
    threads = torch.get_num_threads()
    if (
        device.type != "cpu"
        or not deterministic
        or batches < 2
        or threads < WORKERS
        or not torch.backends.openmp.is_available()
    ):
        return 1
    return WORKERS


def map_in_flight(run: Callable[[Item], Result], items: Sequence[Item], workers: int) -> list:
    """[run(item) for item in items], with `workers` items in flight, each worker thread under
    inference mode (thread-local, like the intra-op thread count) with its share of the calling
    thread's intra-op threads. The calling thread keeps its own thread count."""
    if workers <= 1:
        return [run(item) for item in items]
    threads_each = max(1, torch.get_num_threads() // workers)
    calling_thread_threads = torch.get_num_threads()

    def in_worker(item: Item) -> Result:
        torch.set_num_threads(threads_each)
        with torch.inference_mode():
            return run(item)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="llmkit-batch")
    try:
        futures = [pool.submit(in_worker, item) for item in items]
        return [future.result() for future in futures]
    finally:
        # On an error or Ctrl-C, batches not yet started are dropped; those running finish.
        pool.shutdown(wait=True, cancel_futures=True)
        # set_num_threads in a worker also changed the default new threads start from
        torch.set_num_threads(calling_thread_threads)
