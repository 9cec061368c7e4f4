"""What a model made by `llmkit finetune` was trained with, reused when it is evaluated.

finetune saves its resolved config (llmkit_config.yaml) next to the model. Eval takes from it
the data format, the column names, max_length, seq2seq's source_prefix and SFT's
data.prompt_template, for each setting the eval config leaves unset, so `llmkit eval --model RUN
--data test.tsv` reads the test file the way the training file was read. Label names need
nothing from it: they are in the model's config.json (id2label, problem_type).
"""

import functools
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmkit.config.data import ColumnsConfig
from llmkit.config.eval import EvalConfig
from llmkit.config.finetune import FinetuneConfig
from llmkit.config.load import read_yaml

SAVED_CONFIG = "llmkit_config.yaml"


def saved_stage_config(model_dir: str | Path, schema: type[BaseModel]) -> Any | None:
    """The config of stage `schema` (FinetuneConfig, PretrainConfig) saved with the model; None
    when there is none or another stage made the model."""
    path = Path(model_dir) / SAVED_CONFIG
    if not path.is_file():
        return None
    data = read_yaml(path)
    stage = schema.model_fields["stage"].default
    if data.get("stage") != stage:  # e.g. a pretrained model's config: no finetune settings
        return None
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        # an older llmkit's config: evaluate with the eval config alone rather than refuse
        _warn_once(f"warning: {path} is not a valid {stage} config, not reused "
                   f"({e.errors()[0]['msg']})")  # fmt: skip
        return None


@functools.cache
def _warn_once(message: str) -> None:
    """Several steps of one evaluation read the saved config (the task to infer, the settings
    to reuse, a task's options): its warning is said once."""
    print(message)


def saved_finetune_config(model_dir: str | Path) -> FinetuneConfig | None:
    """The finetune config saved with the model; None for models that llmkit did not finetune."""
    return saved_stage_config(model_dir, FinetuneConfig)


def with_finetune_settings(
    cfg: EvalConfig, model_dir: str | Path, task: str
) -> tuple[EvalConfig, dict]:
    """`cfg` with the settings it leaves unset taken from the model's finetune config, and
    {eval key: value} of what was taken (shown to the user and written to scores.json)."""
    saved = saved_finetune_config(model_dir)
    if saved is None:
        return cfg, {}
    reused: dict[str, Any] = {}
    defaults = ColumnsConfig()
    columns = cfg.columns.model_dump()
    for role, value in saved.data.columns.model_dump().items():
        if role not in cfg.columns.model_fields_set and value != getattr(defaults, role):
            columns[role] = reused[f"columns.{role}"] = value
    update: dict[str, Any] = {"columns": ColumnsConfig(**columns)}
    explicit = cfg.model_fields_set
    if "data_format" not in explicit and _same_kind_of_file(saved, cfg.data):
        update["data_format"] = reused["data_format"] = saved.data.format
    if "max_length" not in explicit and saved.max_length is not None:
        update["max_length"] = reused["max_length"] = saved.max_length
    prefix = getattr(saved.task, "source_prefix", "")
    if "source_prefix" not in explicit and prefix:
        update["source_prefix"] = reused["source_prefix"] = prefix
    template = saved.data.prompt_template
    named = "prompt_template" in explicit or "prompt" in cfg.columns.model_fields_set
    if task == "sft" and not named and template is not None:  # a columns.prompt given wins
        update["prompt_template"] = reused["prompt_template"] = template
    if reused:
        shown = ", ".join(f"{key}={value!r}" for key, value in reused.items())
        print(
            f"{model_dir}: reusing its finetune settings ({SAVED_CONFIG}): {shown}; "
            "set them (--set key=value, --data-format) to override",
            flush=True,
        )
    return cfg.model_copy(update=update), reused


def _same_kind_of_file(saved: FinetuneConfig, data: str | None) -> bool:
    """Whether the training data's declared format applies to `data`: it was declared (not
    auto) and `data` has the training file's extension (CoNLL in .txt, then CoNLL in .txt; a
    .jsonl test file is read as JSON lines whatever the training format was)."""
    train = saved.data.train[0] if isinstance(saved.data.train, list) else saved.data.train
    if saved.data.format == "auto" or train is None or data is None:
        return False
    return Path(train).suffix.lower() == Path(data).suffix.lower()
