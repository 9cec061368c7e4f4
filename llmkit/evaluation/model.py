"""Model mode: a model directory + a dataset + a task → predictions → metrics.

Every task runs on Accelerate through validation's gather (llmkit.evaluation.sharded), so
`accelerate launch --num_processes N -m llmkit eval …` scores as one process does. Generation
tasks (seq2seq, sft) share out llmkit.generation's length-sorted batches and score the text on
the main process; perplexity shares out its batches of windows; classification and token
classification reuse the finetuning task objects (their tokenization, label mapping, collate,
evaluate_batch and compute_metrics), so a model is scored here exactly as it was validated
during finetuning.
"""

from pathlib import Path

from transformers import AutoConfig
from transformers.utils import logging as hf_logging

from llmkit.config.eval import DEFAULT_METRICS, EvalConfig
from llmkit.data.templates import render
from llmkit.errors import CheckpointError, ConfigError
from llmkit.evaluation import onnx_backend
from llmkit.evaluation.code_generation import evaluate_code_model
from llmkit.evaluation.finetuned import saved_finetune_config, with_finetune_settings
from llmkit.evaluation.inputs import as_prompt, check_columns, column, read_rows
from llmkit.evaluation.masked_lm import evaluate_masked_lm
from llmkit.evaluation.perplexity import perplexity
from llmkit.evaluation.report import SystemResult
from llmkit.evaluation.sharded import eval_accelerator, generate_shared_out, on_main_process
from llmkit.evaluation.task_eval import evaluate_with_task
from llmkit.generation import load_generator
from llmkit.metrics.scoring import TEXT_METRICS, score_texts, split_signatures
from llmkit.models.properties import is_encoder_decoder, max_positions
from llmkit.tasks.finetune_common import saved_tokenizer
from llmkit.tasks.models import load_trained_model, task_of_model


def load_model_config(model_dir: str):
    path = Path(model_dir)
    if not path.is_dir() or not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise CheckpointError(
            f"models: {path} {what}; it is not a model directory",
            "point at the output_dir of `llmkit pretrain` or `llmkit finetune`",
        )
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"models: {path}/config.json cannot be read: {e}") from None


_EVAL_TASKS = {
    "seq2seq": "seq2seq",
    "classification": "classification",
    "token-classification": "token-classification",
    "clm": "perplexity",
    "multiple-choice": "multiple-choice",
    "question-answering": "question-answering",
    "mlm": "mlm",
    "mlm-nsp": "mlm-nsp",
}
"""The task that trained a model (llmkit.tasks.models) → how eval scores it by default."""


def infer_task(config, model_dir: str) -> str:
    """How a model is scored when task: is unset: by the task that trained it. A causal LM's
    architecture does not say whether SFT made it; its saved finetune config does."""
    trained_by = task_of_model(config.architectures, is_encoder_decoder(config))
    if trained_by == "clm" and not onnx_backend.is_onnx(model_dir):
        saved = saved_finetune_config(model_dir)
        if saved is not None and saved.task.type == "sft":
            return "sft"
    if trained_by in _EVAL_TASKS:
        return _EVAL_TASKS[trained_by]
    raise ConfigError(
        f"task: cannot tell the task of a {config.model_type} model "
        f"(architectures: {config.architectures}); set task: explicitly"
    )


_GENERATORS = ("clm", "seq2seq")
_HEADS_FOR = {
    "seq2seq": _GENERATORS,
    "sft": _GENERATORS,
    "code": _GENERATORS,
    "classification": ("classification",),
    "token-classification": ("token-classification",),
    "multiple-choice": ("multiple-choice",),
    "question-answering": ("question-answering",),
}
"""Eval task → the heads (llmkit.tasks.models) it can score; text generation takes either
generator. Perplexity checks its own (a causal LM)."""


def check_task_fits(config, task: str, model_dir: str) -> None:
    """Refuse a task (given as task:) for which the model has another task's head: its head
    would be loaded fresh (random) or not at all, and the scores would mean nothing."""
    trained_by = task_of_model(config.architectures, is_encoder_decoder(config))
    heads = _HEADS_FOR.get(task)
    if heads is None or trained_by in heads:
        return
    if trained_by is None and (heads is _GENERATORS or not config.architectures):
        return  # a generator llmkit does not know by name may still generate; unnamed: unknown
    architecture = ", ".join(config.architectures or [config.model_type])
    scored_as = _EVAL_TASKS.get(trained_by)
    if trained_by is None:  # a base model (BertModel): every task's head would be random
        whose, hint = "which has no task head", f"finetune it first (model.pretrained: {model_dir})"
    else:
        whose = "whose head another task trained"
        hint = f"leave task unset (no --task) to score it as {scored_as}"
    raise ConfigError(
        f"task: {task} scores a {' or '.join(heads)} model; {model_dir} is a {architecture}, "
        f"{whose}",
        hint,
    )


def evaluate_model(cfg: EvalConfig, model_dir: str) -> SystemResult:
    hf_logging.disable_progress_bar()  # keep the screen for the score table
    acc = eval_accelerator(cfg.device)
    config = load_model_config(onnx_backend.config_dir(model_dir))
    task = cfg.task or infer_task(config, model_dir)
    check_task_fits(config, task, model_dir)
    if cfg.prompt_template is not None and task != "sft":  # the schema checks a task: given
        raise ConfigError(
            f"prompt_template builds sft prompts; {model_dir} is scored as {task} (from its "
            "architecture)",
            "add --task sft (task: sft) to score its answers to the templated prompts",
        )
    if onnx_backend.is_onnx(model_dir):
        onnx_backend.check_task(model_dir, task)
    identity = {"path": str(model_dir), "model_type": config.model_type, "task": task}
    if task == "code":
        return evaluate_code_model(acc, cfg, model_dir, identity)
    if task in ("mlm", "mlm-nsp"):
        return evaluate_masked_lm(acc, cfg, model_dir, config, task, identity)
    cfg, reused = with_finetune_settings(cfg, onnx_backend.settings_dir(model_dir), task)
    rows = read_rows(cfg)
    check_columns(cfg, rows, task, model_dir, reused)
    if reused:
        identity["finetune_settings"] = reused
    if task in ("seq2seq", "sft"):
        return _generation_eval(acc, cfg, model_dir, task, rows, identity)
    if task == "perplexity":
        return _perplexity_eval(acc, cfg, model_dir, config, rows, identity)
    metrics, result_rows = evaluate_with_task(acc, cfg, model_dir, config, task, rows)
    return SystemResult(str(model_dir), metrics, {}, identity, result_rows)


def _generation_eval(acc, cfg, model_dir, task, rows, identity) -> SystemResult:
    model, tokenizer = load_generator(model_dir, str(acc.device))
    if task == "seq2seq":
        inputs = [cfg.source_prefix + str(s) for s in column(rows, cfg.columns.source)]
        references = [str(t) for t in column(rows, cfg.columns.target)]
    else:
        inputs = [as_prompt(tokenizer, p) for p in _prompts(cfg, rows)]
        references = [str(r) for r in column(rows, cfg.columns.response)]
    predictions = generate_shared_out(acc, model, tokenizer, inputs, cfg.generation, cfg.batch_size)
    names = [n for n in (cfg.metrics or DEFAULT_METRICS[task]) if n in TEXT_METRICS]
    if not names:
        raise ConfigError(
            f"metrics: {task} is scored with text metrics ({', '.join(TEXT_METRICS)})"
        )
    scores = on_main_process(
        acc, lambda: score_texts(predictions, [references], names, cfg.metric_options)
    )
    metrics, signatures = split_signatures(scores)
    out_rows = [
        {"input": i, "prediction": p, "reference": r}
        for i, p, r in zip(inputs, predictions, references, strict=True)
    ]
    identity |= {"parameters": sum(p.numel() for p in model.parameters())}
    return SystemResult(str(model_dir), metrics, signatures, identity, out_rows)


def _prompts(cfg: EvalConfig, rows) -> list[str]:
    """SFT prompts as training built them: from prompt_template when there is one."""
    if cfg.prompt_template is None:
        return [str(p) for p in column(rows, cfg.columns.prompt)]
    return [render(cfg.prompt_template, row) for row in rows]


def load_for_eval(task: str, model_dir: str, device):
    """The model to score, in eval mode: as its task loads it, or onnxruntime's for an ONNX
    export."""
    if onnx_backend.is_onnx(model_dir):
        return onnx_backend.OnnxLogits(model_dir).eval()
    return load_trained_model(task, model_dir, "models").to(device).eval()


def _perplexity_eval(acc, cfg, model_dir, config, rows, identity) -> SystemResult:
    if task_of_model(config.architectures, is_encoder_decoder(config)) != "clm":
        raise ConfigError(
            f"task perplexity needs a causal LM; {model_dir} is a {config.model_type} "
            f"({', '.join(config.architectures or ['unknown head'])}). Masked LMs have no "
            "left-to-right likelihood: score them with task mlm (or mlm-nsp), or through a "
            "finetuned task"
        )
    model = load_for_eval("clm", model_dir, acc.device)
    hint = "save the model's tokenizer into it (tokenizer.save_pretrained)"
    tokenizer = saved_tokenizer(onnx_backend.config_dir(model_dir), "models", hint)
    context = cfg.perplexity.context_length or _max_positions(config)
    texts = [str(t) for t in column(rows, cfg.columns.text)]
    metrics = perplexity(
        model, tokenizer, texts, context, cfg.perplexity.stride, cfg.batch_size, acc
    )
    identity |= {"parameters": sum(p.numel() for p in model.parameters()), "context": context}
    return SystemResult(str(model_dir), metrics, {}, identity, None)


def _max_positions(config) -> int:
    positions = max_positions(config)
    if positions is None:
        raise ConfigError("perplexity.context_length: the model does not say; set it")
    return positions
