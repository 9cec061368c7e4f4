"""Classification and token classification in model mode, through the finetuning task objects
and the training loop's validation code.

The task is built from a spec that points at the model directory and carries the model's own
label names, so tokenization, label mapping, collate, predictions and metrics are exactly those
of finetuning validation; the batches run on Accelerate and are gathered with
`gather_for_metrics`, so `accelerate launch --num_processes N -m llmkit eval …` scores the same
as one process.
"""

from typing import Any

from llmkit.config.eval import EvalConfig
from llmkit.config.finetune import (
    ClassificationTask,
    MultipleChoiceTask,
    QuestionAnsweringTask,
    TokenClassificationTask,
)
from llmkit.config.model import ModelConfig
from llmkit.evaluation import onnx_backend
from llmkit.evaluation.finetuned import saved_finetune_config
from llmkit.models.loss import IGNORE_INDEX
from llmkit.tasks.finetune_common import DataReport
from llmkit.tasks.registry import TASKS
from llmkit.tasks.spec import FinetuneSpec
from llmkit.train.batches import SeededCollate, make_loader
from llmkit.train.validation import gather_outputs


def _task_options(cfg: EvalConfig, config, task: str, model_dir: str):
    if task == "multiple-choice":  # the model scores any number of choices
        return MultipleChoiceTask(pad_choices=True)
    if task == "question-answering":
        return _question_answering_options(cfg, model_dir)
    names = [config.id2label[i] for i in range(config.num_labels)]
    if task == "token-classification":
        return TokenClassificationTask(labels=names)
    regression = config.problem_type == "regression"
    return ClassificationTask(
        labels=None if regression else names,
        regression=regression,
        multi_label=config.problem_type == "multi_label_classification",
    )


def _question_answering_options(cfg: EvalConfig, model_dir: str) -> QuestionAnsweringTask:
    """The options the model was finetuned with (windows, n_best, null answer), with the window
    settings the eval config sets on top."""
    saved = saved_finetune_config(onnx_backend.settings_dir(model_dir))
    options = saved.task if saved and saved.task.type == "question-answering" else None
    given = cfg.question_answering.model_dump(exclude_none=True)
    return (options or QuestionAnsweringTask()).model_copy(update=given)


def task_for_model(cfg: EvalConfig, model_dir: str, config, task: str):
    """The finetuning task `task` for the trained model in `model_dir` (or ONNX export); its
    data report names the rows it is handed after the eval data."""
    spec = FinetuneSpec(
        task=_task_options(cfg, config, task, model_dir),
        model=ModelConfig(pretrained=onnx_backend.config_dir(model_dir)),
        columns=cfg.columns,
        max_length=cfg.max_length,
        options_key="question_answering" if task == "question-answering" else "task",
    )
    task_obj = TASKS[task](spec)
    names = {"eval": f"eval data {cfg.data}"}
    task_obj.report = DataReport(split_names=names, max_length=task_obj.max_length)
    return task_obj


def evaluate_with_task(
    acc, cfg: EvalConfig, model_dir: str, config, task: str, rows
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """(metrics, per-example rows for predictions.jsonl), on every process."""
    task_obj = task_for_model(cfg, model_dir, config, task)
    data = task_obj.prepare_data(rows)
    collate = SeededCollate(data.collate, 0, "eval", acc.num_processes, acc.process_index)
    loader = acc.prepare(make_loader(data.splits["eval"], None, cfg.batch_size, collate, 0))
    # not prepared: evaluation needs no DDP wrapper, and an ONNX model has no parameters
    if onnx_backend.is_onnx(model_dir):
        model = onnx_backend.OnnxLogits(model_dir)
    else:
        model = task_obj.build_model().to(acc.device)
    outputs = gather_outputs(acc, task_obj, model, loader, collate)
    metrics = task_obj.compute_metrics(outputs)
    if task == "question-answering":
        return metrics, _answer_rows(task_obj)
    return metrics, _prediction_rows(cfg, config, task, rows, outputs)


def _answer_rows(task_obj) -> list[dict[str, Any]]:
    """Per question: its id, the predicted answer ("" for none) and the gold answers."""
    return [
        {
            "id": example["id"],
            "prediction": task_obj.predictions[i],
            "reference": example["answers"],
        }
        for i, example in enumerate(task_obj.examples)
        if i in task_obj.predictions
    ]


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
                predicted.append([id2label[p] for p, r in kept if r != IGNORE_INDEX])
        for w, p, g in zip(words, predicted, gold, strict=True):
            result.append({"input": w, "prediction": p, "reference": g})
        return result
    if task == "multiple-choice":
        predicted = [p for o in outputs for p in o["predictions"].tolist()]
        premises, gold = rows[cfg.columns.premise], rows[cfg.columns.label]
        return [
            {"input": t, "prediction": p, "reference": g}
            for t, p, g in zip(premises, predicted, gold, strict=True)
        ]
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
