"""`llmkit finetune`: a pretrained (or config-built) model trained on a labelled task.

`task:` is a discriminated union on `type`; each task carries only the options that mean
something for it, so a classification option in a seq2seq config is an "unknown key" error.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from llmkit.config.base import Section, current_task_name
from llmkit.config.data import CleaningConfig, DataConfig, SplitConfig
from llmkit.config.generate import GenerationSettings
from llmkit.config.model import ModelConfig
from llmkit.config.train import TrainConfig

# A chat template for tokenizers that have none (tiny or freshly trained ones). Every turn ends
# with the EOS token so a tuned model learns to stop after its answer.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if not loop.first %}{{ '\\n' }}{% endif %}"
    "<|{{ message['role'] }}|>{{ '\\n' }}{{ message['content'] }}{{ eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{% if messages %}{{ '\\n' }}{% endif %}"
    "<|assistant|>{{ '\\n' }}{% endif %}"
)


def _label_file(value: Any) -> Any:
    """task.labels given as a file name → its labels, one per line (blank lines skipped)."""
    if not isinstance(value, str):
        return value
    path = Path(value)
    if not path.is_file():
        raise ValueError(
            f"no label file {value!r}; give a list of names or a file with one label per line"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"label file {value!r} is not UTF-8 text") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"label file {value!r} holds no labels")
    return names


LabelNames = Annotated[list[str] | None, BeforeValidator(_label_file)]
"""Label names inline, or the name of a file with one label per line (relative paths are
relative to the directory the command runs in); the resolved config holds the list."""


class ClassificationTask(Section):
    """One label per text or text pair (columns text, pair, label)."""

    type: Literal["classification"] = "classification"
    labels: LabelNames = None
    """Label names in id order, or a file with one per line (labels.txt); null infers them from
    the training data (sorted). With integer labels in the data, the integers are ids into this
    list (e.g. 0 → negative)."""
    multi_label: bool = False
    """Each example carries a list of label names; trained with a sigmoid per label."""
    regression: bool = False
    """The label is a float (e.g. a similarity score); trained with mean squared error."""

    @model_validator(mode="after")
    def _one_kind(self):
        if self.multi_label and self.regression:
            raise ValueError("multi_label and regression cannot both be true")
        if self.regression and self.labels is not None:
            raise ValueError("regression has no label names; remove task.labels")
        return self


class TokenClassificationTask(Section):
    """A tag per word (columns words, label: lists of equal length), e.g. CoNLL NER in BIO."""

    type: Literal["token-classification"] = "token-classification"
    labels: LabelNames = None
    """Tag names in id order, or a file with one per line (tags.txt); null infers them from the
    training data (sorted)."""
    label_all_subwords: bool = False
    """Give every subword of a word the word's tag; false trains only on the first subword."""


class Seq2SeqTask(Section):
    """Source text → target text (translation, summarization) with an encoder–decoder."""

    type: Literal["seq2seq"] = "seq2seq"
    source_prefix: str = ""
    """Prepended to every source, e.g. "translate English to Romanian: " for T5."""
    max_source_length: int | None = Field(None, ge=1)
    """Truncate sources to this many tokens; null uses max_length."""
    max_target_length: int = Field(128, ge=1)
    """Truncate targets to this many tokens (truncations are counted and reported)."""
    metric: Literal["bleu", "chrf", "rouge"] = "bleu"
    """Validation metric on generated text: sacreBLEU, chrF, or ROUGE (rouge1/2/L/Lsum). BLEU
    counts up to 4-grams, so it is 0 on outputs of one to three words: use chrf or rouge there."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    """How validation outputs are decoded (greedy, 64 new tokens by default)."""


class SFTTask(Section):
    """Instruction tuning (SFT) of a decoder-only model on prompt/response pairs or chats."""

    type: Literal["sft"] = "sft"
    format: Literal["auto", "prompt-response", "chat"] = "auto"
    """prompt-response reads columns prompt/response; chat reads a `messages` list of
    {role, content}; auto picks chat when the messages column exists."""
    chat_template: str | None = None
    """Jinja chat template; null uses the tokenizer's own, or a simple default when it has none
    (<|role|>, newline, content, EOS; turns joined by newlines)."""
    loss_on_prompt: bool = False
    """Also train on prompt/user/system tokens; false puts loss on assistant tokens only."""
    packing: bool = False
    """Pack several whole examples into each row of up to max_length tokens. A row has one
    causal mask, so an example also attends to the earlier ones in its row (after their EOS), as
    in TRL's default packing; fewer padded tokens at the price of that cross-talk."""


class MultipleChoiceTask(Section):
    """Pick the right ending among several (SWAG/HellaSwag style): columns premise, ending_start,
    endings and label (the index of the right ending)."""

    type: Literal["multiple-choice"] = "multiple-choice"
    pad_choices: bool = False
    """Allow rows with fewer endings than others (a shorter endings list, or an empty ending
    column): each batch is padded to its largest number of choices and a missing choice's
    logit is -inf, so it is never predicted and takes no part in the softmax. false: a row whose
    number of endings differs from the first row's stops the run, naming the file and row."""
    bad_rows: Literal["error", "skip"] = "error"
    """A row whose label is not the index of one of its endings: stop, naming the file and row,
    or skip it and count it (finetune_data.json: skipped_bad_label)."""


class QuestionAnsweringTask(Section):
    """Extractive QA (SQuAD v1.1 / v2.0): the answer is a span of the context (columns
    question, context, answer_text, answer_start). Long contexts are read in overlapping
    windows; the prediction is the best span over all windows of a question."""

    type: Literal["question-answering"] = "question-answering"
    doc_stride: int = Field(128, ge=0)
    """Tokens of context shared by consecutive windows of a long context (as run_qa.py's
    doc_stride)."""
    max_question_length: int = Field(64, ge=1)
    """Questions longer than this many tokens are cut (counted and reported)."""
    max_answer_length: int = Field(30, ge=1)
    """Longest answer span predicted, in tokens."""
    n_best: int = Field(20, ge=1)
    """Spans start and end among the n highest start and end scores of a window."""
    allow_no_answer: bool = False
    """SQuAD 2.0: predict "no answer" when the null score (start and end on the CLS token)
    beats the best span's score by more than null_threshold. False (SQuAD 1.1) always
    predicts a span."""
    null_threshold: float = 0.0
    """How far the null score must beat the best span to predict no answer."""
    bad_rows: Literal["error", "skip"] = "error"
    """A row with no question or context, or an answer outside its context: stop at the first,
    naming its file and row, or skip such rows and count them."""


TASK_TYPES = (
    "classification", "token-classification", "seq2seq", "sft", "multiple-choice",
    "question-answering",
)  # fmt: skip


def _task_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


def _renamed_task(value: Any) -> Any:
    """task.type causal (the old name of sft) → sft, with a deprecation warning."""
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return {**value, "type": current_task_name(value["type"])}
    return value


FinetuneTask = Annotated[
    Annotated[ClassificationTask, Tag("classification")]
    | Annotated[TokenClassificationTask, Tag("token-classification")]
    | Annotated[Seq2SeqTask, Tag("seq2seq")]
    | Annotated[SFTTask, Tag("sft")]
    | Annotated[MultipleChoiceTask, Tag("multiple-choice")]
    | Annotated[QuestionAnsweringTask, Tag("question-answering")],
    Discriminator(
        _task_type,
        custom_error_type="task_type",
        custom_error_message=f"task.type must be one of: {', '.join(TASK_TYPES)}",
    ),
    BeforeValidator(_renamed_task),
]


class LoraConfig(Section):
    """Low-rank adapters through peft; only the adapters (and a task head) are trained. The
    adapter is saved in output_dir/adapter and the merged model (adapters folded into the
    weights) as output_dir's model, loadable without peft."""

    enabled: bool = False
    r: int = Field(8, ge=1)
    """Adapter rank."""
    alpha: float = Field(16.0, gt=0)
    """Scaling numerator: updates are scaled by alpha / r."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | str | None = None
    """Module names (a list: any module whose name ends with one of them), a regular expression
    (a string, matched against the full module name), "all-linear", or null for peft's default
    for the architecture (e.g. query/value for BERT, c_attn for GPT-2, q/v for T5)."""


class FreezeConfig(Section):
    """Parameters excluded from training (full finetuning only; LoRA freezes the base)."""

    embeddings: bool = False
    """Freeze the token (and position) embeddings."""
    first_n_layers: int = Field(0, ge=0)
    """Freeze the first N transformer blocks of each stack: blocks 0..N-1 of a decoder-only or
    encoder-only model; of an encoder–decoder (T5, BART, Marian), blocks 0..N-1 of the encoder
    *and* blocks 0..N-1 of the decoder. N may not exceed the shortest stack. On T5, block 0 also
    holds the relative position bias that every later block of its stack reuses, so N ≥ 1
    freezes that bias too."""


class BatchingConfig(Section):
    """How training examples are grouped into batches. Batches are always padded only to their
    own longest example (dynamic padding)."""

    group_by_length: bool | None = None
    """Put examples of similar length in the same batch (less padding, ~1.6× faster on SST-2)
    while keeping the order of batches random: shuffle, cut into windows of `window` batches,
    sort each window by length, then shuffle the batches. Unset = the task's default: on for
    question-answering, off for the rest. Off elsewhere because on SST-2 windows of 32 cost
    2.1 ± 0.8 accuracy points over 10 seeds, and random batches tracked the Trainer's training
    loss more closely than windows of 4 (BENCHMARKS.md, batching study). On for QA because its
    windows are a long context's full max_length windows mixed with short ones: nearly every
    random batch holds a full one and pads to ~max_length, so without grouping dynamic padding
    saves little (SQuAD, windows of 4: 1.76× fewer padded tokens, equal F1; BENCHMARKS.md)."""
    window: int = Field(4, ge=1)
    """Batches per sorting window when group_by_length is on; larger = less padding but less
    random batches."""


class FinetuneConfig(Section):
    stage: Literal["finetune"] = "finetune"
    output_dir: Path = Path("runs/finetune")
    """Where the final model, checkpoints, metrics and the resolved config go."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """Base model: `pretrained:` a directory or hub id, or an architecture built from config."""
    tokenizer: str | None = None
    """Tokenizer directory or hub id; null uses model.pretrained."""
    task: FinetuneTask = Field(default_factory=ClassificationTask)
    data: DataConfig
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    max_length: int | None = Field(None, ge=2)
    """Truncate examples to this many tokens (counted and reported); null uses the model's
    maximum positions."""
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    freeze: FreezeConfig = Field(default_factory=FreezeConfig)

    @property
    def has_validation(self) -> bool:
        """A validation split exists: given as files or split off the training data."""
        if self.data.id_split is not None:
            return self.data.id_split.validation is not None
        if self.data.group_split is not None:
            return bool(self.data.group_split.validation)
        return self.data.validation is not None or self.split.validation_ratio > 0

    @model_validator(mode="after")
    def _consistent(self):
        if self.tokenizer is None and self.model.pretrained is None:
            raise ValueError(
                "tokenizer: required when the model is built from config (model.pretrained "
                "is null); give a tokenizer directory, e.g. the output of `llmkit tokenizer train`"
            )
        picks_best = self.train.checkpoint.keep_best or self.train.eval.early_stopping_patience
        if picks_best and not self.has_validation:
            raise ValueError(
                "train.checkpoint.keep_best and train.eval.early_stopping_patience compare "
                "validation scores; give data.validation or a split.validation_ratio above 0"
            )
        if self.data.prompt_template is not None and (
            self.task.type != "sft" or self.task.format == "chat"
        ):
            raise ValueError(
                "data.prompt_template builds SFT prompts: it needs task.type sft with "
                "format prompt-response (or auto on data without a messages column)"
            )
        seq2seq_families = ("t5", "bart", "marian")
        if self.model.pretrained is None:
            is_seq2seq = self.model.family in seq2seq_families
            if self.task.type == "seq2seq" and not is_seq2seq:
                raise ValueError(
                    f"task.type seq2seq needs an encoder-decoder; set model.family to one of "
                    f"{', '.join(seq2seq_families)} (got {self.model.family})"
                )
            if self.task.type == "multiple-choice" and self.model.family not in ("bert", "roberta"):
                raise ValueError(
                    f"task.type multiple-choice needs an encoder; set model.family to bert or "
                    f"roberta (got {self.model.family})"
                )
            if self.task.type == "sft" and self.model.family not in ("gpt2", "llama"):
                raise ValueError(
                    f"task.type sft needs a decoder-only model; set model.family to gpt2 or "
                    f"llama (got {self.model.family})"
                )
        return self
