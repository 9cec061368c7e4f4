"""SFT prompts built from several columns by data.prompt_template; loss on the response only."""

from tasks.finetune_helpers import TINY_DECODER, make_config, splits

from llmkit.models.loss import IGNORE_INDEX as IGNORE
from llmkit.tasks.sft import SFTTask
from llmkit.tasks.spec import task_spec

TEMPLATE = "{text}\nYour code should pass these tests:\n{test_list}\n"


def test_template_prompt_and_loss_on_the_code_only(tmp_path, causal_tokenizer_dir):
    data = {"train": "unused.jsonl", "prompt_template": TEMPLATE, "columns": {"response": "code"}}
    cfg = make_config(tmp_path, causal_tokenizer_dir, model=TINY_DECODER, data=data,
                      task={"type": "sft"})  # fmt: skip
    task = SFTTask(task_spec(cfg))
    row = {"text": "Add two numbers.", "code": "def add(a, b):\n    return a + b",
           "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"], "task_id": 7}  # fmt: skip
    encoded = task.tokenize_splits(splits(train=[row]))["train"][0]
    eos = task.tokenizer.eos_token
    first = next(i for i, label in enumerate(encoded["labels"]) if label != IGNORE)
    assert task.tokenizer.decode(encoded["input_ids"][:first]) == (
        "<|user|>\nAdd two numbers.\nYour code should pass these tests:\n"
        f"assert add(1, 2) == 3\nassert add(0, 0) == 0\n{eos}\n<|assistant|>\n"
    )
    loss_text = task.tokenizer.decode([t for t in encoded["labels"] if t != IGNORE])
    assert loss_text == f"def add(a, b):\n    return a + b{eos}"
