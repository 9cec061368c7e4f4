"""`llmkit eval`: score prediction files (file mode) or models on a dataset (model mode)."""

from pathlib import Path

import typer

from llmkit.cli.common import ForceOpt, SetOpt
from llmkit.config.eval import load_eval_config

EXAMPLE = (
    "Example: llmkit eval --predictions hyp.txt --references ref.txt --metric bleu "
    "--metric chrf --fail-under bleu=20 --output scores.json   ·   "
    "llmkit eval configs/eval-seq2seq.yaml --set max_examples=100   ·   "
    "llmkit eval -p samples.jsonl -r mbpp.jsonl -m pass_at_k --allow-code-execution"
)


def eval_(
    config: Path | None = typer.Argument(None, dir_okay=False, help="YAML config (optional)."),
    predictions: list[str] = typer.Option(
        [], "--predictions", "-p", help="Predictions file (repeatable: side by side)."
    ),
    references: list[str] = typer.Option(
        [], "--references", "-r", help="Reference file (repeatable: several references)."
    ),
    models: list[str] = typer.Option([], "--model", help="Model directory (repeatable)."),
    data: str | None = typer.Option(None, "--data", help="Evaluation data for model mode."),
    data_format: str | None = typer.Option(
        None, "--data-format", help="Format of --data, e.g. conll (default: as finetuned, or auto)."
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="perplexity, seq2seq, sft, classification, token-classification, multiple-choice, "
        "code, question-answering, mlm, mlm-nsp (default: from the model's architecture; sft "
        "for an llmkit SFT run).",
    ),
    metrics: list[str] = typer.Option(
        [],
        "--metric",
        "-m",
        help="bleu, chrf, ter, rouge, exact_match, classification, regression, seqeval, "
        "perplexity, pass_at_k, squad (repeatable).",
    ),
    output: str | None = typer.Option(None, "--output", "-o", help="Write the scores JSON here."),
    output_dir: str | None = typer.Option(
        None, "--output-dir", help="Write scores.json, predictions.jsonl and the config here."
    ),
    fail_under: list[str] = typer.Option(
        [], "--fail-under", help="Gate metric=value; exit 1 when missed (repeatable)."
    ),
    allow_code_execution: bool = typer.Option(
        False, "--allow-code-execution", help="Let pass_at_k run the programs it scores."
    ),
    set_: list[str] = SetOpt,
    force: bool = ForceOpt,
) -> None:
    """Score predictions against references, or a model on a dataset; gate CI with --fail-under."""
    # The stage imports torch/transformers/datasets: loaded only when the command runs, so
    # `llmkit --help` stays under a second (BENCHMARKS.md).
    from llmkit.evaluation.report import parse_gates
    from llmkit.evaluation.runner import run_eval

    flags = dict(predictions=predictions, references=references, models=models, data=data,
                 data_format=data_format, task=task, metrics=metrics, output=output,
                 output_dir=output_dir,
                 allow_code_execution=allow_code_execution or None)  # fmt: skip
    cfg = load_eval_config(config, set_, flags, parse_gates(fail_under))
    run_eval(cfg, force=force)
