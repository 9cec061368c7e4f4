"""`llmkit tokenizer train`: which tokenizer to train, on what text, with which special tokens.

Special tokens default to what the model family expects (GPT-2 style for causal LMs, BERT style
for masked LMs, T5 style for seq2seq). The defaults are filled in when the config is loaded, so
`llmkit config show` and the saved `llmkit_config.yaml` list the tokens actually used. Set a token
to null to leave it out, e.g. `--set tokenizer.special_tokens.bos=null`.
"""

from typing import Any, Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.data import DataConfig

TokenizerType = Literal["bpe", "wordpiece", "unigram", "char"]
Family = Literal["causal", "masked", "seq2seq"]

# Byte-level BPE starts from all 256 bytes, so its vocabulary can never be smaller than that.
BYTE_ALPHABET_SIZE = 256

_FAMILY_SPECIALS: dict[str, dict[str, str]] = {
    "causal": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "pad": "<pad>", "unk": "<unk>"},
    "masked": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "seq2seq": {"pad": "<pad>", "eos": "</s>", "unk": "<unk>"},
}


class SpecialTokensConfig(Section):
    """The special tokens and their roles. null = the tokenizer has no token in that role.

    Token ids follow the order pad, bos, eos, unk, cls, sep, mask, additional (a token used in
    two roles, like GPT-2's <|endoftext|>, gets one id)."""

    pad: str | None = None
    """Padding token (batches of unequal length)."""
    bos: str | None = None
    """Beginning-of-sequence token."""
    eos: str | None = None
    """End-of-sequence token; also what preprocessing puts between packed documents."""
    unk: str | None = None
    """Unknown token for text the vocabulary cannot spell (not needed by byte-level BPE)."""
    cls: str | None = None
    """Classifier token put first by the masked-LM post-processor ([CLS] text [SEP])."""
    sep: str | None = None
    """Separator token ending each segment in the masked-LM post-processor."""
    mask: str | None = None
    """Mask token for masked-LM training."""
    additional: list[str] = []
    """More special tokens (never split, skipped when decoding with skip_special_tokens)."""

    def roles(self) -> dict[str, str]:
        """Role → token for the roles that are set, in id order."""
        named = {k: getattr(self, k) for k in ("pad", "bos", "eos", "unk", "cls", "sep", "mask")}
        return {role: token for role, token in named.items() if token is not None}

    def tokens(self) -> list[str]:
        """Every special token once, in id order."""
        return list(dict.fromkeys([*self.roles().values(), *self.additional]))


def default_special_tokens(family: str, tokenizer_type: str) -> dict[str, str]:
    """The special tokens a family's models expect. Byte-level BPE spells any text, so no unk."""
    roles = dict(_FAMILY_SPECIALS[family])
    if tokenizer_type == "bpe" and family == "causal":
        roles.pop("unk")
    return roles


class TokenizerOptions(Section):
    """The tokenizer model, its vocabulary and its special tokens."""

    type: TokenizerType = "bpe"
    """bpe: byte-level BPE (GPT-2 style, lossless); wordpiece: BERT style; unigram: T5 /
    SentencePiece style with Metaspace; char: one token per character seen (lossless)."""
    family: Family = "causal"
    """Model family the tokenizer is for; decides the default special tokens and the
    post-processor: causal adds nothing, masked wraps text as [CLS] … [SEP], seq2seq appends
    </s>."""
    vocab_size: int = Field(8000, ge=1)
    """Target vocabulary size including special tokens. For char: an upper bound (every character
    seen becomes a token)."""
    min_frequency: int = Field(2, ge=1)
    """Minimum count for a merge (bpe/wordpiece) or a character (char) to enter the vocabulary.
    Defaults to 1 for char, so every character seen becomes a token. Unigram ignores it."""
    normalization: Literal["none", "NFC", "NFKC"] = "none"
    """Unicode normalisation applied before tokenizing; none keeps text byte-exact."""
    lowercase: bool = False
    """Lowercase text before tokenizing (uncased models)."""
    special_tokens: SpecialTokensConfig = Field(default_factory=SpecialTokensConfig)
    """Special tokens; keys not given take the family's defaults."""
    model_max_length: int = Field(1024, ge=1)
    """Longest sequence the model will take; saved in tokenizer_config.json."""

    @model_validator(mode="before")
    @classmethod
    def _family_default_specials(cls, data: Any) -> Any:
        # Filled in before validation so the resolved config shows the tokens really used.
        if not isinstance(data, dict):
            return data
        family, kind = data.get("family", "causal"), data.get("type", "bpe")
        if kind == "char" and "min_frequency" not in data:
            data = {**data, "min_frequency": 1}
        given = data.get("special_tokens")
        if family not in _FAMILY_SPECIALS or (given is not None and not isinstance(given, dict)):
            return data  # the field validators report the bad value
        return {**data, "special_tokens": {**default_special_tokens(family, kind), **(given or {})}}

    @model_validator(mode="after")
    def _specials_fit_family(self):
        roles = self.special_tokens.roles()
        if any(not token.strip() for token in self.special_tokens.tokens()):
            raise ValueError("special tokens must not be empty or only whitespace")
        template_roles = {"masked": ("cls", "sep"), "seq2seq": ("eos",)}.get(self.family, ())
        for role in template_roles:
            token = roles.get(role, "")
            if ":" in token or any(c.isspace() for c in token):
                raise ValueError(
                    f"special_tokens.{role} {token!r} is put around every text by the "
                    "post-processor, so it cannot contain ':' or whitespace"
                )
        if self.type != "bpe" and "unk" not in roles:
            raise ValueError(
                f"a {self.type} tokenizer needs special_tokens.unk for text outside its vocabulary"
            )
        if self.family == "masked" and not {"cls", "sep"} <= roles.keys():
            raise ValueError("family masked needs special_tokens.cls and special_tokens.sep")
        if self.family == "seq2seq" and "eos" not in roles:
            raise ValueError("family seq2seq needs special_tokens.eos (appended to every text)")
        if self.type == "bpe":
            needed = BYTE_ALPHABET_SIZE + len(self.special_tokens.tokens())
            if self.vocab_size < needed:
                raise ValueError(
                    f"byte-level BPE needs vocab_size >= {needed} (256 bytes + "
                    f"{needed - BYTE_ALPHABET_SIZE} special tokens), got {self.vocab_size}"
                )
        return self


class TokenizerTrainConfig(Section):
    """Train a tokenizer from scratch on a text corpus (`llmkit tokenizer train`)."""

    stage: Literal["tokenizer"] = "tokenizer"
    """Which stage this config is for."""
    data: DataConfig
    """The corpus: only data.train is read; data.columns.text names the text column."""
    tokenizer: TokenizerOptions = Field(default_factory=TokenizerOptions)
    """What to train."""
    batch_size: int = Field(1000, ge=1)
    """Rows handed to the trainer at a time; the corpus is streamed, never held in memory."""
    output_dir: str = "runs/tokenizer"
    """Directory to write (tokenizer.json, tokenizer_config.json, llmkit_config.yaml). It must be
    new or empty; an earlier tokenizer there is replaced only with --force, once the new one is
    complete."""
