"""Fixtures shared by every test: tiny tokenizers and corpora built here, never downloaded.

Tokenizers are trained directly with the `tokenizers` library (not llmkit's own trainer) so that
tests of the other stages do not depend on the tokenizer stage being correct.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

CORPUS = Path(__file__).resolve().parents[1] / "llmkit" / "corpus" / "tinyshakespeare.txt"


@pytest.fixture(scope="session")
def corpus_lines() -> list[str]:
    """~2,000 non-empty lines of real English text from the shipped corpus."""
    lines = [ln for ln in CORPUS.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines[:2000]


def _train_fast_tokenizer(lines, out_dir: Path, kind: str) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "causal":
        specials = ["<|endoftext|>", "<pad>", "<unk>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(lines, trainer)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            pad_token="<pad>",
            unk_token="<unk>",
        )
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(
            lines, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
        )
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
        )
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def causal_tokenizer_dir(tmp_path_factory, corpus_lines) -> Path:
    """Byte-level BPE, vocab 300, with <|endoftext|> as bos/eos, <pad> and <unk>."""
    return _train_fast_tokenizer(corpus_lines, tmp_path_factory.mktemp("tok_causal"), "causal")


@pytest.fixture(scope="session")
def masked_tokenizer_dir(tmp_path_factory, corpus_lines) -> Path:
    """WordPiece, vocab 300, BERT specials ([CLS] … [SEP], [PAD], [UNK], [MASK])."""
    return _train_fast_tokenizer(corpus_lines, tmp_path_factory.mktemp("tok_masked"), "masked")


@pytest.fixture
def cli():
    """Run the real `llmkit` CLI in-process: cli("config", "show", path) → click Result."""
    from llmkit.cli.app import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


def save_tiny_model(family: str, auto_name: str, tokenizer_dir, out_dir, **kwargs):
    import torch
    import transformers

    from llmkit.config.model import ModelConfig
    from llmkit.models.build import load_or_build

    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = ModelConfig(
        family=family, n_layers=2, hidden_size=32, context_length=64, tie_embeddings=False
    )
    model = load_or_build(cfg, getattr(transformers, auto_name), tokenizer, **kwargs)
    output = model.get_output_embeddings()
    if output is not None:
        with torch.no_grad():  # a random T5 head predicts <pad> forever; vary the outputs
            output.weight.normal_(0.0, 1.0)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model():
    """save_tiny_model(family, AutoModelFor… name, tokenizer_dir, out_dir, **model_kwargs)."""
    return save_tiny_model


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one torch thread, above all on a loaded 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
