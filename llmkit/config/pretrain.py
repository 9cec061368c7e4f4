"""`llmkit pretrain`: train a causal LM (GPT-2/LLaMA style) or a masked LM (BERT/RoBERTa style)
from scratch, or continue training a Hugging Face model, on `llmkit preprocess` output."""

from typing import Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.model import ModelConfig
from llmkit.config.preprocess import PreprocessConfig
from llmkit.config.train import TrainConfig

DECODER_FAMILIES = ("gpt2", "llama")
ENCODER_FAMILIES = ("bert", "roberta")


class PretrainTaskConfig(Section):
    """The pretraining objective."""

    type: Literal["clm", "mlm"] = "clm"
    """clm: predict the next token (decoders). mlm: predict masked tokens (encoders)."""
    mlm_probability: float = Field(0.15, gt=0.0, lt=1.0)
    """MLM: fraction of tokens chosen for prediction; of those 80% become [MASK], 10% a random
    token and 10% stay unchanged."""
    whole_word_mask: bool = False
    """MLM: choose whole words (all their sub-word tokens) instead of single tokens. Word
    boundaries come from the tokens: WordPiece `##` continuations, byte-level `Ġ` or metaspace
    `▁` word starts."""
    nsp: bool = False
    """MLM: also next-sentence prediction, as BERT was pretrained. Rows are sentence pairs built
    from the documents of a preprocess output written with `segments:` (pack: false): half the
    time B is the text that follows A in its document, half the time a segment of another
    document. The model is BertForPreTraining (family bert); the loss is the MLM loss plus the
    NSP loss, and validation reports mlm_loss, perplexity, nsp_loss and nsp_accuracy."""
    short_seq_prob: float = Field(0.1, ge=0.0, le=1.0)
    """NSP: the share of sentence pairs filled up to a random length (2 tokens to block_size)
    instead of block_size, so that the model also sees short inputs, as BERT's
    create_pretraining_data.py does (its default, 0.1). Drawn with the pairs, from train.seed;
    both splits, and `llmkit eval` (task mlm-nsp) with the run's value. 0: every pair as long
    as its document allows."""


class PretrainDataConfig(Section):
    """Training data: a `llmkit preprocess` output directory, or raw data preprocessed first."""

    dataset_dir: str | None = None
    """Directory written by `llmkit preprocess` (pack: true): splits of `input_ids` blocks and
    the tokenizer in dataset_dir/tokenizer."""
    preprocess: PreprocessConfig | None = None
    """A preprocess config body (data, cleaning, split, tokenizer, block_size, output_dir, …):
    run first on the main process and cached in its output_dir, so a second run starts at once."""

    @model_validator(mode="after")
    def _exactly_one_source(self):
        if (self.dataset_dir is None) == (self.preprocess is None):
            raise ValueError(
                "give exactly one of data.dataset_dir (a `llmkit preprocess` output directory) "
                "or data.preprocess (raw data to preprocess first)"
            )
        if self.preprocess is not None and not self.preprocess.pack and not self.segments:
            raise ValueError(
                "data.preprocess.pack must be true for pretraining (packed blocks), or "
                "segments set for next-sentence prediction (task.nsp)"
            )
        return self

    @property
    def segments(self) -> bool:
        """data.preprocess writes documents as segments (for next-sentence prediction)."""
        return self.preprocess is not None and self.preprocess.segments is not None


class PretrainConfig(Section):
    """Pretraining run: model, objective, data and the training loop's settings."""

    stage: Literal["pretrain"] = "pretrain"
    output_dir: str = "runs/pretrain"
    """The run directory: checkpoints/, metrics.jsonl, TensorBoard logs and, when training ends,
    the Hugging Face model (config.json, model.safetensors, tokenizer files)."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """Architecture to build (vocab size comes from the tokenizer), or `pretrained` to continue
    training an existing model."""
    task: PretrainTaskConfig = Field(default_factory=PretrainTaskConfig)
    data: PretrainDataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _family_fits_task(self):
        self._nsp_fits()
        if self.model.pretrained is not None:
            return self
        wanted = DECODER_FAMILIES if self.task.type == "clm" else ENCODER_FAMILIES
        if self.model.family not in wanted:
            raise ValueError(
                f"model.family '{self.model.family}' cannot be trained with task.type "
                f"'{self.task.type}'; use one of: {', '.join(wanted)}"
            )
        return self

    def _nsp_fits(self) -> None:
        nsp = self.task.nsp
        if nsp and self.task.type != "mlm":
            raise ValueError("task.nsp: next-sentence prediction goes with task.type mlm")
        if nsp and self.model.pretrained is None and self.model.family != "bert":
            raise ValueError(
                f"task.nsp needs model.family bert (BertForPreTraining); "
                f"{self.model.family} has no next-sentence head"
            )
        if self.data.preprocess is not None and nsp != self.data.segments:
            raise ValueError(
                "task.nsp pairs sentences: set data.preprocess.segments (sentence or line) "
                "with pack: false"
                if nsp
                else "data.preprocess.segments is for next-sentence prediction: set task.nsp: "
                "true, or pack: true without segments"
            )
