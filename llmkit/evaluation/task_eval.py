"""Classification and token classification in model mode, through the finetuning task objects.

The task is built (llmkit.tasks.registry.build_task) from a finetune config that points at the
model directory and carries the model's own label names, so tokenization, label mapping,
collate, predictions and metrics are exactly those of finetuning validation.
"""

from typing import Any

import torch

from llmkit.config.eval import EvalConfig

IGNORE = -100


def _task_options(config, task: str):
    from llmkit.config.finetune import ClassificationTask, TokenClassificationTask

    names = [config.id2label[i] for i in range(config.num_labels)]
    if task == "token-classification":
        return TokenClassificationTask(labels=names)
    regression = config.problem_type == "regression"
    return ClassificationTask(
        labels=None if regression else names,
        regression=regression,
        multi_label=config.problem_type == "multi_label_classification",
    )


def build_finetune_task(cfg: EvalConfig, model_dir: str, config, task: str):
    from llmkit.config.data import DataConfig
    from llmkit.config.finetune import FinetuneConfig
    from llmkit.config.model import ModelConfig
    from llmkit.tasks.finetune_common import DataReport
    from llmkit.tasks.registry import build_task

    finetune_cfg = FinetuneConfig(
        model=ModelConfig(pretrained=str(model_dir)),
        data=DataConfig(train=cfg.data, format=cfg.data_format, columns=cfg.columns),
        task=_task_options(config, task),
        max_length=cfg.max_length,
    )
    task_obj = build_task(finetune_cfg)
    names = {"train": f"eval data {cfg.data}"}
    task_obj.report = DataReport(split_names=names, max_length=task_obj.max_length)
    return task_obj


def evaluate_with_task(
    cfg: EvalConfig, model_dir: str, config, task: str, rows
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """(metrics, per-example rows for predictions.jsonl)."""
    import transformers
    from datasets import DatasetDict

    from llmkit.evaluation.model import load_for_eval
    from llmkit.evaluation.onnx_backend import config_dir

    task_obj = build_finetune_task(cfg, config_dir(model_dir), config, task)
    examples = task_obj.tokenize_splits(DatasetDict({"train": rows}))["train"]
    auto_class = getattr(transformers, task_obj.auto_class_name)
    model = load_for_eval(auto_class, model_dir, cfg.device)
    device = model.device
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(examples), cfg.batch_size):
            chunk = [examples[i] for i in range(start, min(start + cfg.batch_size, len(examples)))]
            batch = {k: v.to(device) for k, v in task_obj.collate(chunk).items()}
            out = task_obj.evaluate_batch(model, batch)
            outputs.append({k: v.cpu() if torch.is_tensor(v) else v for k, v in out.items()})
    metrics = task_obj.compute_metrics(outputs)
    return metrics, _prediction_rows(cfg, config, task, rows, outputs)


def _prediction_rows(cfg: EvalConfig, config, task: str, rows, outputs) -> list[dict[str, Any]]:
    id2label = config.id2label
    result = []
    if task == "token-classification":
        words = rows[cfg.columns.words]
        gold = rows[cfg.columns.label]
        predicted = []
        for o in outputs:
            pairs = zip(o["predictions"].tolist(), o["references"].tolist(), strict=True)
            for pred_row, ref_row in pairs:
                kept = zip(pred_row, ref_row, strict=True)
                predicted.append([id2label[p] for p, r in kept if r != IGNORE])
        for w, p, g in zip(words, predicted, gold, strict=True):
            result.append({"input": w, "prediction": p, "reference": g})
        return result
    texts = rows[cfg.columns.text]
    gold = rows[cfg.columns.label]
    for o in outputs:
        for p in o["predictions"].tolist():
            if isinstance(p, list):  # multi-label: one 0/1 per label
                result.append([id2label[i] for i, on in enumerate(p) if on])
            elif config.problem_type == "regression":
                result.append(p)
            else:
                result.append(id2label[p])
    return [
        {"input": t, "prediction": p, "reference": g}
        for t, p, g in zip(texts, result, gold, strict=True)
    ]
