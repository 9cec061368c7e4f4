"""File mode for metric squad: a predictions JSON ({question id: answer text}, as the official
SQuAD evaluation script takes it, "" for no answer) scored against the references: a SQuAD JSON
file (its nested data/paragraphs/qas) or rows with the id and answer_text columns."""

import json
from pathlib import Path

from llmkit.config.data import DataConfig
from llmkit.data.sources import load_split
from llmkit.errors import DataError
from llmkit.evaluation.inputs import column
from llmkit.evaluation.report import SystemResult
from llmkit.metrics.squad import squad_scores


def read_predictions(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        predictions = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(predictions, dict) or not all(
        isinstance(v, str) for v in predictions.values()
    ):
        raise DataError(
            f"{path}: metric squad needs one JSON object of question id → answer text",
            'e.g. {"56ddde6b9a695914005b9628": "France", "5ad39d53604f3c001a3fe8d1": ""}',
        )
    return predictions


def read_references(path: str, cfg) -> dict[str, list[str]]:
    """{question id: gold answer texts} of a SQuAD JSON file or rows with the id and
    answer_text columns (cfg.columns)."""
    rows = load_split(DataConfig(train=path, columns=cfg.columns), "train")
    ids = [str(i) for i in column(rows, cfg.columns.id)]
    answers = column(rows, cfg.columns.answer_text)
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: question ids repeat; each question needs its own id")
    return dict(zip(ids, (list(a) for a in answers), strict=True))


def evaluate_squad_files(cfg) -> list[SystemResult]:
    if len(cfg.references) != 1:
        raise DataError(
            "metric squad: give exactly one --references file (SQuAD JSON or rows with id and "
            f"answers), not {len(cfg.references)}"
        )
    references = read_references(cfg.references[0], cfg)
    results = []
    for path in cfg.predictions:
        predictions = read_predictions(path)
        missing = [qid for qid in references if qid not in predictions]
        if missing:
            raise DataError(
                f"{path}: no prediction for {len(missing)} of the {len(references)} questions "
                f"of {cfg.references[0]} (first: {missing[0]})",
                'predict "" for a question the system leaves unanswered',
            )
        scores = squad_scores(predictions, references)
        identity = {"path": str(path), "examples": len(references)}
        results.append(SystemResult(str(path), scores, {}, identity))
    return results
