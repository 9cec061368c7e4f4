"""Model mode, task code: prompts from the problems → n sampled completions each (batched
generation) → cleaned programs → pass@k through llmkit.evaluation.code_eval.

Under `accelerate launch` the generation batches are shared out across processes and gathered;
the programs then run on the main process only: code.workers already runs them in parallel,
and one place keeps that count (and the sandbox's limits on memory and processes) what the user
set, instead of N times it, each run once rather than once per process."""

import re
from typing import Any

from llmkit.config.code_eval import CodeEvalOptions
from llmkit.data.templates import render, require_template_columns
from llmkit.evaluation.code_eval import (
    Problem,
    note_where_samples_go,
    reference_style,
    score_problems,
    select_task_ids,
)
from llmkit.evaluation.finetuned import SAVED_CONFIG, saved_finetune_config
from llmkit.evaluation.inputs import as_prompt, read_rows
from llmkit.evaluation.report import SystemResult
from llmkit.evaluation.sharded import generate_shared_out, on_main_process
from llmkit.generation import load_generator

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)


def clean_completion(text: str, options: CodeEvalOptions) -> str:
    """The program inside a generated text: the first fenced block (chat models answer in
    markdown) as options say, then cut before the first stop sequence."""
    if options.extract_code_block != "never":
        match = _FENCE.search(text)
        if match:
            text = match.group(1)
        elif options.extract_code_block == "always":
            return ""
    cut = min((i for s in options.stop if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut].rstrip() + "\n"


def _with_finetune_template(options: CodeEvalOptions, model_dir: str, identity: dict):
    """The prompt template the model was finetuned with (its saved llmkit_config.yaml), unless
    the eval config sets code.prompt_template itself: a model is best asked as it was taught."""
    saved = saved_finetune_config(model_dir)
    template = saved.data.prompt_template if saved is not None else None
    if template is None or "prompt_template" in options.model_fields_set:
        return options
    identity["finetune_settings"] = {"code.prompt_template": template}
    print(f"{model_dir}: reusing its finetune prompt template ({SAVED_CONFIG}): {template!r}; "
          "set code.prompt_template to override", flush=True)  # fmt: skip
    return options.model_copy(update={"prompt_template": template})


def evaluate_code_model(acc, cfg, model_dir: str, identity: dict[str, Any]):
    options = _with_finetune_template(cfg.code, model_dir, identity)
    note_where_samples_go(cfg)
    rows = read_rows(cfg.model_copy(update={"max_examples": None}))
    key = "code.prompt_template"
    require_template_columns(options.prompt_template, rows.column_names, f"data {cfg.data}", key)
    records = select_task_ids(rows.to_list(), options, f"data {cfg.data}")[: cfg.max_examples]
    style = reference_style(records[0], options, f"data {cfg.data}")
    model, tokenizer = load_generator(model_dir, str(acc.device))
    prompts = [as_prompt(tokenizer, render(options.prompt_template, r)) for r in records]
    n = options.samples
    repeated = [p for p in prompts for _ in range(n)]
    texts = generate_shared_out(acc, model, tokenizer, repeated, cfg.generation, cfg.batch_size)
    problems = [
        Problem(
            r.get(options.id_field, i + 1),
            r,
            [clean_completion(t, options) for t in texts[i * n : (i + 1) * n]],
        )
        for i, r in enumerate(records)
    ]
    scored = on_main_process(acc, lambda: score_problems(problems, style, options))
    metrics, sample_rows, verdicts = scored
    for row, text in zip(sample_rows, texts, strict=True):
        row["generated"] = text
    identity |= {
        "parameters": sum(p.numel() for p in model.parameters()),
        "reference_style": style,
        "verdicts": verdicts,
    }
    return SystemResult(str(model_dir), metrics, {}, identity, sample_rows)
