"""Train a tokenizer from scratch with the `tokenizers` library (`llmkit tokenizer train`).

Four kinds: byte-level BPE (GPT-2), WordPiece (BERT), Unigram with Metaspace (T5 / SentencePiece)
and character-level. The corpus is streamed to the Rust trainer in batches straight from the
memory-mapped `datasets` table, so a corpus larger than RAM trains fine. The result is a directory
that `transformers.AutoTokenizer.from_pretrained(dir)` loads with its special tokens set.

    llmkit tokenizer train configs/bpe-tokenizer.yaml --set tokenizer.vocab_size=4000
"""

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers as tk_trainers

from llmkit.config.load import save_resolved_config
from llmkit.config.tokenizer import TokenizerOptions, TokenizerTrainConfig
from llmkit.errors import ConfigError, DataError
from llmkit.outputs import check_output_dir, staged_output_dir
from llmkit.writable import require_writable_dir

# A char tokenizer's trainer gets this as its cap so that we can tell "the alphabet did not fit
# in vocab_size" (an error) from "the vocabulary came out smaller" (fine).
_UNCAPPED = 1 << 31
_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class CorpusStats:
    rows: int = 0
    chars: int = 0


def train_tokenizer(cfg: TokenizerTrainConfig, force: bool = False) -> Path:
    """Train the tokenizer `cfg` describes and write it to cfg.output_dir; returns that path.
    An earlier tokenizer there is replaced only with `force`."""
    from llmkit.data.sources import load_split, require_columns

    out = Path(cfg.output_dir)
    check_output_dir(out, "tokenizer", force)
    require_writable_dir(out, "output_dir", swapped_in=True)
    column = cfg.data.columns.text
    dataset = require_columns(load_split(cfg.data, "train"), [column], "data.train")
    opts = cfg.tokenizer
    tokenizer, trainer = _untrained_tokenizer(opts)
    stats = CorpusStats()
    # Only the text column is read, batch by batch, from the memory-mapped table.
    batches = _text_batches(dataset.select_columns([column]), column, cfg.batch_size, stats)
    first = next(batches, None)
    if first is None:
        raise DataError(f"{cfg.data.train}: the corpus has no text to train a tokenizer on")
    started = time.perf_counter()
    try:
        tokenizer.train_from_iterator(
            itertools.chain([first], batches), trainer=trainer, length=len(dataset)
        )
    except Exception as e:  # the Rust trainers raise a bare Exception
        if "not large enough" not in str(e):
            raise
        raise ConfigError(
            f"tokenizer.vocab_size: {opts.vocab_size} cannot hold the special tokens and every "
            f"character of the corpus ({e}); raise tokenizer.vocab_size"
        ) from None
    seconds = time.perf_counter() - started
    if opts.type == "char":
        tokenizer = _with_newline(tokenizer, opts)
    _check_vocab_size(tokenizer, opts)
    tokenizer.post_processor = _post_processor(tokenizer, opts)
    _write_atomically(tokenizer, cfg, out, force)
    _print_summary(tokenizer, cfg, out, stats, seconds)
    return out


def _text_batches(dataset, column: str, batch_size: int, stats: CorpusStats) -> Iterator[list[str]]:
    """Non-empty texts, batch by batch, read lazily from the Arrow table."""
    for batch in dataset.iter(batch_size=batch_size):
        texts = [t for t in batch[column] if isinstance(t, str) and t]
        if texts:
            stats.rows += len(texts)
            stats.chars += sum(map(len, texts))
            yield texts


def _untrained_tokenizer(opts: TokenizerOptions) -> tuple[Tokenizer, object]:
    """The tokenizer pipeline for opts.type, and the trainer that fills its vocabulary."""
    specials = opts.special_tokens.tokens()
    unk = opts.special_tokens.unk
    common = {"vocab_size": opts.vocab_size, "special_tokens": specials, "show_progress": True}
    if opts.type == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=unk))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = tk_trainers.BpeTrainer(
            **common,
            min_frequency=opts.min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    elif opts.type == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        trainer = tk_trainers.WordPieceTrainer(
            **common, min_frequency=opts.min_frequency, continuing_subword_prefix="##"
        )
    elif opts.type == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = tk_trainers.UnigramTrainer(**common, unk_token=unk)
    else:  # char: every code point is its own pre-token, so the vocabulary is the alphabet
        tokenizer = Tokenizer(models.WordLevel(unk_token=unk))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
        trainer = tk_trainers.WordLevelTrainer(
            **{**common, "vocab_size": _UNCAPPED}, min_frequency=opts.min_frequency
        )
    tokenizer.normalizer = _normalizer(opts)
    return tokenizer, trainer


def _normalizer(opts: TokenizerOptions):
    steps = []
    if opts.normalization == "NFC":
        steps.append(normalizers.NFC())
    elif opts.normalization == "NFKC":
        steps.append(normalizers.NFKC())
    if opts.lowercase:
        steps.append(normalizers.Lowercase())
    if opts.type == "unigram":
        # Metaspace only marks spaces; as in T5, other whitespace (newlines, tabs) becomes a space.
        steps.append(normalizers.Replace(Regex(r"\s"), " "))
    return normalizers.Sequence(steps) if steps else None


def _with_newline(tokenizer: Tokenizer, opts: TokenizerOptions) -> Tokenizer:
    """A char vocabulary always spells "\\n": line-per-document corpora never show it to the
    trainer, yet users encode multi-line text."""
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    if "\n" in vocab:
        return tokenizer
    vocab["\n"] = len(vocab)
    rebuilt = Tokenizer(models.WordLevel(vocab=vocab, unk_token=opts.special_tokens.unk))
    rebuilt.normalizer = tokenizer.normalizer
    rebuilt.pre_tokenizer = tokenizer.pre_tokenizer
    rebuilt.decoder = tokenizer.decoder
    rebuilt.add_special_tokens(opts.special_tokens.tokens())
    return rebuilt


def _check_vocab_size(tokenizer: Tokenizer, opts: TokenizerOptions) -> None:
    """Trainers keep every special token and the whole alphabet even past vocab_size; a
    vocabulary that came out larger means vocab_size cannot hold them."""
    size = tokenizer.get_vocab_size()
    if size > opts.vocab_size:
        n_special = len(opts.special_tokens.tokens())
        raise ConfigError(
            f"tokenizer.vocab_size: {opts.vocab_size} cannot hold the {n_special} special tokens "
            f"and the corpus alphabet ({size - n_special} entries); "
            f"set tokenizer.vocab_size to at least {size}"
        )


def _post_processor(tokenizer: Tokenizer, opts: TokenizerOptions):
    """What encode() adds around a text: nothing (causal), [CLS] … [SEP] (masked), … </s>
    (seq2seq). Byte-level BPE also needs ByteLevel's processor for correct offsets."""
    roles = opts.special_tokens.roles()
    template = None
    if opts.family == "masked":
        cls, sep = roles["cls"], roles["sep"]
        template = processors.TemplateProcessing(
            single=f"{cls} $A {sep}",
            pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(t, tokenizer.token_to_id(t)) for t in (cls, sep)],
        )
    elif opts.family == "seq2seq":
        eos = roles["eos"]
        template = processors.TemplateProcessing(
            single=f"$A {eos}",
            pair=f"$A {eos} $B:1 {eos}:1",
            special_tokens=[(eos, tokenizer.token_to_id(eos))],
        )
    steps = [processors.ByteLevel(trim_offsets=False)] if opts.type == "bpe" else []
    steps += [template] if template is not None else []
    if len(steps) > 1:
        return processors.Sequence(steps)
    return steps[0] if steps else None


def _write_atomically(
    tokenizer: Tokenizer, cfg: TokenizerTrainConfig, out: Path, force: bool
) -> None:
    """Write into a hidden sibling, then swap it into place, so `out` is never half-written."""
    from transformers import PreTrainedTokenizerFast

    opts = cfg.tokenizer
    with staged_output_dir(out, "tokenizer", force) as tmp:
        specials = {f"{role}_token": tok for role, tok in opts.special_tokens.roles().items()}
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer,
            model_max_length=opts.model_max_length,
            extra_special_tokens=list(opts.special_tokens.additional),
            # WordPiece decodes "hello ," → "hello,"; every other type decodes text exactly.
            clean_up_tokenization_spaces=opts.type == "wordpiece",
            model_input_names=_model_input_names(opts),
            **specials,
        )
        fast.save_pretrained(tmp)
        special_map = {
            **specials,
            "additional_special_tokens": list(opts.special_tokens.additional),
        }
        (tmp / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")
        save_resolved_config(cfg, tmp)


def _model_input_names(opts) -> list[str]:
    """BERT-style models take segment ids (sentence pairs); causal and seq2seq models do not."""
    if opts.family == "masked":
        return ["input_ids", "token_type_ids", "attention_mask"]
    return ["input_ids", "attention_mask"]


def _print_summary(
    tokenizer: Tokenizer, cfg: TokenizerTrainConfig, out: Path, stats: CorpusStats, seconds: float
) -> None:
    from rich.console import Console
    from rich.table import Table

    opts = cfg.tokenizer
    table = Table(title="Tokenizer trained", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("type", f"{opts.type} ({opts.family})")
    table.add_row("vocab size", f"{tokenizer.get_vocab_size():,} (asked for {opts.vocab_size:,})")
    specials = [f"{tok}={tokenizer.token_to_id(tok)}" for tok in opts.special_tokens.tokens()]
    table.add_row("special tokens", ", ".join(specials))
    table.add_row("corpus", f"{stats.rows:,} texts, {stats.chars:,} characters")
    table.add_row("time", f"{seconds:.1f} s")
    table.add_row("output", str(out))
    Console().print(table)
