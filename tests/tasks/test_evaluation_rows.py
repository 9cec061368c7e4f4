"""Each finetuning task's evaluate_batch gives its loss sums and counts one row per example, as
the Task contract asks: a multi-process evaluation pads its last batch with duplicated examples
and gather_for_metrics drops them by row, which a single per-batch sum would not survive."""

import pytest
import torch
from tasks.finetune_helpers import TINY_DECODER, TINY_ENCODER, TINY_SEQ2SEQ, make_config, splits

from llmkit.tasks.registry import TASKS
from llmkit.tasks.spec import task_spec

CASES = {
    "sft": (
        TINY_DECODER, {"type": "sft"}, {},
        [{"prompt": "What is the sky?", "response": "Blue."},
         {"prompt": "Hi", "response": "Hello there, my lord, how do you do?"},
         {"prompt": "A much longer question about the colour of things", "response": "Red"}],
    ),
    "seq2seq": (
        TINY_SEQ2SEQ, {"type": "seq2seq", "generation": {"max_new_tokens": 3}}, {},
        [{"source": "one", "target": "un"}, {"source": "two red apples", "target": "x y z w"},
         {"source": "three", "target": "trois"}],
    ),
    "token-classification": (
        TINY_ENCODER, {"type": "token-classification"}, {"columns": {"label": "ner"}},
        [{"words": ["Juliet", "went"], "ner": ["B-PER", "O"]},
         {"words": ["home", "to", "Verona", "today"], "ner": ["O", "O", "B-LOC", "O"]},
         {"words": ["Romeo"], "ner": ["B-PER"]}],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_loss_rows_are_per_example_and_add_up_to_the_batch_loss(
    name, tmp_path, causal_tokenizer_dir, masked_tokenizer_dir
):
    model_cfg, task_cfg, data, examples = CASES[name]
    tokenizer = masked_tokenizer_dir if name == "token-classification" else causal_tokenizer_dir
    cfg = make_config(
        tmp_path, tokenizer, model=model_cfg, task=task_cfg, data={"train": "x", **data}
    )
    task = TASKS[name](task_spec(cfg))
    rows = task.tokenize_splits(splits(train=examples))["train"]
    batch = task.collate([rows[i] for i in range(len(rows))])
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():
        out = task.evaluate_batch(model, batch)
        total = task.loss_sum(model, batch)
    assert out["loss_sum"].shape == out["count"].shape == (3,)
    assert out["count"].sum() == task.count_loss_items(batch)
    assert out["loss_sum"].sum().item() == pytest.approx(total.item(), rel=1e-5)
    # without the third example (a padding duplicate, say), the loss is that of the first two
    first_two = {key: value[:2] for key, value in out.items()}
    with torch.no_grad():
        two = task.loss_sum(model, task.collate([rows[0], rows[1]]))
    expected = two.item() / int(out["count"][:2].sum())
    assert task.compute_metrics([first_two])["loss"] == pytest.approx(expected, rel=1e-5)
