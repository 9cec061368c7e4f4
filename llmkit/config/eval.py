"""`llmkit eval`: score prediction files against references (file mode) or run a model over a
dataset and score its predictions (model mode). One config, every field defaulted; the command's
flags (--predictions, --references, --metric, --fail-under, --output) fill the same fields."""

import difflib
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from llmkit.config.base import Section, current_task_name
from llmkit.config.code_eval import CodeEvalOptions
from llmkit.config.data import ColumnsConfig, Format
from llmkit.config.generate import GenerationSettings
from llmkit.config.load import apply_overrides, read_yaml, validate
from llmkit.config.templates import PromptTemplate

BleuTokenize = Literal["13a", "intl", "zh", "char", "none"]
"""sacrebleu tokenizers that work offline (spm/flores download a model; mecab needs extra packages)."""

Average = Literal["macro", "micro", "weighted", "binary"]

MetricName = Literal[
    "bleu", "chrf", "ter", "rouge", "exact_match", "classification", "regression", "seqeval",
    "perplexity", "pass_at_k", "squad",
]  # fmt: skip
TaskName = Literal[
    "perplexity", "seq2seq", "sft", "classification", "token-classification", "code",
    "multiple-choice", "question-answering", "mlm", "mlm-nsp",
]  # fmt: skip

SCORE_NAMES = frozenset(
    {"bleu", "chrf", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match",
     "accuracy", "precision", "recall", "f1", "mcc", "subset_accuracy", "pearson", "spearman",
     "mse", "perplexity", "loss", "exact", "HasAns_exact", "HasAns_f1", "NoAns_exact",
     "NoAns_f1", "mlm_loss", "nsp_loss", "nsp_accuracy"}
)  # fmt: skip
"""Every score a gate can name, besides pass@<k> (e.g. pass@1) of code evaluation."""

DEFAULT_METRICS: dict[str, list[str]] = {
    "perplexity": ["perplexity"],
    "seq2seq": ["bleu", "chrf", "rouge"],
    "sft": ["bleu", "chrf", "rouge", "exact_match"],
    "classification": ["classification"],
    "token-classification": ["seqeval"],
    "code": ["pass_at_k"],
    "multiple-choice": ["classification"],
    "question-answering": ["squad"],
    "mlm": ["perplexity"],
    "mlm-nsp": ["perplexity"],
}


class MetricOptions(Section):
    """Options of the individual metrics."""

    bleu_tokenize: BleuTokenize = "13a"
    """sacrebleu tokenizer for BLEU: 13a (default, WMT), intl, zh (Chinese), char, none."""
    chrf_word_order: int = Field(0, ge=0, le=2)
    """chrF word n-gram order: 0 = chrF, 2 = chrF++."""
    ter_asian_support: bool = False
    """TER: tokenize CJK characters separately."""
    rouge_stemmer: bool = True
    """ROUGE: Porter-stem words before matching (rouge-score's use_stemmer)."""
    average: Average = "macro"
    """Averaging of precision/recall/F1 over classes: macro, micro, weighted, binary."""


class PerplexityOptions(Section):
    """Perplexity of a causal LM over texts, token-weighted, with a sliding window."""

    context_length: int | None = Field(None, ge=2)
    """Window length in tokens; null uses the model's maximum positions."""
    stride: int | None = Field(None, ge=1)
    """Tokens the window advances by; each token is scored once, with up to
    context_length - stride tokens of context carried over. null = context_length // 2."""


class MaskedLMOptions(Section):
    """Tasks mlm and mlm-nsp: how the data is read into documents, and (mlm-nsp) how those are
    cut into the segments sentence pairs are drawn from. null reuses the pretraining run's
    setting (its llmkit_config.yaml, or its preprocess output's), else the default in
    brackets."""

    segments: Literal["sentence", "line"] | None = None
    """mlm-nsp: a segment per sentence or per line, as preprocess's `segments:` [sentence]."""
    text_unit: Literal["line", "paragraph", "file"] | None = None
    """For .txt data: a document per line, per blank-line-separated paragraph, or per file
    [line]."""


class QuestionAnsweringOptions(Section):
    """Task question-answering: the windows long contexts are read in and what a bad row does,
    as finetuning's task options of the same names. null reuses the finetune run's setting (its
    llmkit_config.yaml), else finetuning's default in brackets."""

    doc_stride: int | None = Field(None, ge=0)
    """Tokens of context shared by consecutive windows [128]; it must be below what a window
    of max_length tokens has left for the context."""
    max_question_length: int | None = Field(None, ge=1)
    """Questions longer than this many tokens are cut [64]."""
    bad_rows: Literal["error", "skip"] | None = None
    """A row without a question or context, or with an answer outside it: stop naming it, or
    skip and count it [error]."""


class EvalConfig(Section):
    stage: Literal["eval"] = "eval"
    output_dir: str | None = None
    """When set: scores.json, predictions.jsonl (model mode, one file per model; pass@k: one row
    per sample with its verdict) and the resolved config are written here."""
    output: str | None = None
    """Also (or only) write the scores JSON to this file, e.g. scores.json."""

    # file mode
    predictions: list[str] = Field(default_factory=list)
    """File mode: prediction files (one system each; several are scored side by side).
    .jsonl files hold `prediction_field` per row; anything else is plain text, one per line."""
    references: list[str] = Field(default_factory=list)
    """File mode: reference files (several give several references per example). May be empty
    when the .jsonl predictions rows also hold `reference_field`."""
    prediction_field: str = "prediction"
    """Field of a .jsonl predictions file holding the prediction."""
    reference_field: str = "reference"
    """Field of a .jsonl references file holding the reference (a string, or a list of strings
    for several references)."""

    # model mode
    models: list[str] = Field(default_factory=list)
    """Model mode: model directories (several are scored side by side)."""
    task: TaskName | None = None
    """Model mode: perplexity (causal LM), seq2seq or sft (generation), classification,
    token-classification, multiple-choice, question-answering, mlm (masked LM perplexity of a
    model pretrained with task.type mlm, on packed text), mlm-nsp (masked LM perplexity and
    next-sentence accuracy of a BERT pretrained with task.nsp). null infers it from the model's
    architecture (sft for a causal LM llmkit finetuned with task.type sft). The old name of
    sft, causal, still works with a deprecation warning."""
    data: str | None = None
    """Model mode: the evaluation data (a file, glob or `save_to_disk` directory)."""
    data_format: Format = "auto"
    """File format of `data` (as data.format in finetuning, e.g. conll for CoNLL/BIO .txt
    files). Unless set here, a model made by `llmkit finetune` reuses the format it was
    finetuned with (its llmkit_config.yaml) when that was not auto."""
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    """Which data columns hold text/source/target/prompt/response/label/words. A role not set
    here reuses the column the model was finetuned with (its llmkit_config.yaml), e.g. set
    columns.text=content when the evaluation file names its text column differently."""
    source_prefix: str = ""
    """seq2seq: prepended to every source, e.g. "translate English to Romanian: ". Unless set,
    a finetuned model reuses its task.source_prefix."""
    prompt_template: PromptTemplate | None = None
    """sft: build each prompt from several columns, as data.prompt_template in finetuning
    ("{question}\nAnswer:"; {column} fields, a list column joined by newlines). Unless it or
    columns.prompt is set, a finetuned model reuses the template it was trained with; null
    reads columns.prompt."""
    max_length: int | None = Field(None, ge=2)
    """classification / token-classification: truncate inputs to this many tokens (counted and
    reported); question-answering: the length of a window. null reuses the finetune run's
    max_length, else the model's maximum positions.
    mlm: the length of the blocks the text is packed into; mlm-nsp: the longest sentence pair;
    null reuses the pretraining run's block_size, else the model's maximum positions."""
    max_examples: int | None = Field(None, ge=1)
    """Evaluate the first N examples only; null evaluates all."""
    batch_size: int = Field(32, ge=1)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    perplexity: PerplexityOptions = Field(default_factory=PerplexityOptions)
    masked_lm: MaskedLMOptions = Field(default_factory=MaskedLMOptions)
    question_answering: QuestionAnsweringOptions = Field(default_factory=QuestionAnsweringOptions)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    code: CodeEvalOptions = Field(default_factory=CodeEvalOptions)
    """Programs scored by running them: metric pass_at_k (file mode) or task code."""
    allow_code_execution: bool = False
    """pass_at_k executes the programs it scores; nothing runs unless this is true (the
    --allow-code-execution flag)."""

    # both modes
    metrics: list[MetricName] = Field(default_factory=list)
    """Metrics to compute; empty = the task's defaults (file mode: bleu, chrf, rouge)."""
    metric_options: MetricOptions = Field(default_factory=MetricOptions)
    fail_under: dict[str, float] = Field(default_factory=dict)
    """Quality gates, e.g. {bleu: 20, accuracy: 0.9}: the command exits with code 1 when a
    score is below its value (above it for ter, perplexity, loss, mse)."""

    @field_validator("task", mode="before")
    @classmethod
    def _renamed_task(cls, value: Any) -> Any:
        return current_task_name(value, "task") if isinstance(value, str) else value

    @field_validator("metrics")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("fail_under")
    @classmethod
    def _known_scores(cls, gates: dict[str, float]) -> dict[str, float]:
        for name in gates:
            if name not in SCORE_NAMES and not re.fullmatch(r"pass@[1-9][0-9]*", name):
                close = difflib.get_close_matches(name, sorted(SCORE_NAMES), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"known: {', '.join(sorted(SCORE_NAMES))}"
                )
                raise ValueError(f"no score named '{name}' ({hint})")
        return gates

    @model_validator(mode="after")
    def _one_mode(self):
        if self.predictions and self.models:
            raise ValueError("give either predictions (file mode) or models (model mode), not both")
        if not self.predictions and not self.models:
            raise ValueError(
                "nothing to evaluate: give predictions (+ references) for file mode, or models "
                "+ data for model mode"
            )
        if self.models and self.data is None:
            raise ValueError("model mode needs data: the evaluation file or directory")
        if self.scores_code and self.file_mode and self.metrics != ["pass_at_k"]:
            raise ValueError("metric pass_at_k cannot be combined with other metrics")
        if "squad" in self.metrics and self.file_mode and self.metrics != ["squad"]:
            raise ValueError(
                "metric squad scores a predictions JSON ({id: answer}) against SQuAD "
                "references; it cannot be combined with other metrics"
            )
        if self.task == "code" and self.code.samples > 1 and not self.generation.do_sample:
            raise ValueError(
                "code.samples > 1 with greedy decoding gives identical programs; set "
                "generation.do_sample: true (and a temperature, e.g. 0.8)"
            )
        if self.prompt_template is not None and self.task not in ("sft", None):
            hint = "; task code reads code.prompt_template" if self.task == "code" else ""
            raise ValueError(f"prompt_template builds sft prompts, not {self.task}'s{hint}")
        if self.predictions and "perplexity" in self.metrics:
            raise ValueError(
                "perplexity needs a model (model mode); it cannot be computed from files"
            )
        return self

    @property
    def scores_code(self) -> bool:
        """Programs are executed: metric pass_at_k in file mode, task code in model mode."""
        return "pass_at_k" in self.metrics or self.task == "code"

    @property
    def file_mode(self) -> bool:
        return bool(self.predictions)


def load_eval_config(
    path: str | None, overrides: list[str], flags: dict[str, Any], gates: dict[str, float]
) -> EvalConfig:
    """YAML (optional) < command-line flags < --set overrides → a validated EvalConfig.

    `flags` holds only the flags the user gave (a list flag replaces the YAML list); `gates`
    add to (and override) the YAML's fail_under.
    """
    data = read_yaml(path) if path is not None else {}
    data.update({key: value for key, value in flags.items() if value not in (None, [], ())})
    if gates:
        data["fail_under"] = {**(data.get("fail_under") or {}), **gates}
    data = apply_overrides(data, overrides)
    return validate(EvalConfig, data, str(path) if path is not None else "command line")
