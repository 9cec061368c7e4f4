"""Model mode on Accelerate, the way validation runs during training.

One Accelerator per evaluated model; the work goes through a prepared DataLoader, so under
`accelerate launch --num_processes N -m llmkit eval …` each process takes its share, and
train/validation.py's `gather_batches` (gather_for_metrics) joins the results in order and drops
the duplicates that pad the last share. What one process should do alone (scoring, running
generated programs) runs on the main process and its result, or the UserError it raised, is
given to every process, so all of them show, gate and exit alike.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import broadcast_object_list
from torch.utils.data import DataLoader

from llmkit.errors import UserError
from llmkit.generation import generate_texts, prompt_batches
from llmkit.train.setup import launched_without_gpus
from llmkit.train.validation import gather_batches

Unit = TypeVar("Unit")
Result = TypeVar("Result")


def eval_accelerator(device: str) -> Accelerator:
    """The Accelerator of one evaluation: CPU when asked for, or when launched without GPUs."""
    # First, so that the processes of `accelerate launch` form their group before anything asks
    # which process it is. One AcceleratorState per process: a run before this one in the same
    # process (a pipeline, the tests) may have set another mixed precision; the group stays.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=device == "cpu" or launched_without_gpus())


def map_shared_out(
    acc: Accelerator, units: Sequence[Unit], work: Callable[[int, Unit], Result]
) -> list[Result]:
    """[work(i, units[i]) for every i], the units shared out across processes (a unit is a
    batch: generation and scoring keep their own length-sorted batches); every process gets
    every result, in order. `i` lets a unit seed its sampling the same on any process."""
    loader = acc.prepare(
        DataLoader(list(enumerate(units)), batch_size=1, collate_fn=lambda one: one[0])
    )

    def run(numbered: tuple[int, Unit]) -> list[tuple[int, Result]]:
        index, unit = numbered
        return [(index, work(index, unit))]  # one row per unit: the gather drops by row

    rows = [row for gathered in gather_batches(acc, loader, run) for row in gathered]
    assert [index for index, _ in rows] == list(range(len(units))), "units lost in the gather"
    return [result for _, result in rows]


def on_main_process(acc: Accelerator, compute: Callable[[], Result]) -> Result:
    """compute() on the main process only; every process returns its result or raises the
    UserError it raised (the others would otherwise wait for it forever)."""
    box: list[Any] = [None]
    if acc.is_main_process:
        try:
            box[0] = (compute(), None)
        except UserError as error:
            box[0] = (None, error)
    if acc.num_processes > 1:
        broadcast_object_list(box)
    result, error = box[0]
    if error is not None:
        raise error
    return result


def generate_shared_out(
    acc: Accelerator, model, tokenizer, prompts: Sequence[str], settings, batch_size: int
) -> list[str]:
    """generate_texts over `prompts` in its length-sorted batches, the batches shared out across
    processes; in the order of `prompts`. Batch i samples with seed generation.seed + i, so the
    outputs do not depend on how many processes ran them."""
    if acc.num_processes == 1 and not settings.do_sample:
        # The same batches, and no seeds to keep apart: generate_texts keeps two in flight.
        return generate_texts(model, tokenizer, prompts, settings, batch_size)
    units = prompt_batches(model, tokenizer, prompts, settings, batch_size)

    def work(index: int, unit: list[int]) -> list[str]:
        seeded = settings.model_copy(update={"seed": settings.seed + index})
        return generate_texts(model, tokenizer, [prompts[i] for i in unit], seeded, len(unit))

    texts = [""] * len(prompts)
    for unit, generated in zip(units, map_shared_out(acc, units, work), strict=True):
        for position, text in zip(unit, generated, strict=True):
            texts[position] = text
    return texts
