"""`llmkit tokenizer train`: train a BPE / WordPiece / Unigram / character tokenizer from scratch."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, ForceOpt, SetOpt
from llmkit.config.load import load_config
from llmkit.config.tokenizer import TokenizerTrainConfig

app = typer.Typer(help="Train tokenizers.", no_args_is_help=True)


@app.command(
    "train",
    epilog="Example: llmkit tokenizer train configs/tiny-tokenizer.yaml --set tokenizer.vocab_size=4000",
)
def train(config: Path = ConfigArg, set_: list[str] = SetOpt, force: bool = ForceOpt) -> None:
    """Train a tokenizer and save a directory AutoTokenizer.from_pretrained loads."""
    # The stage imports torch/transformers/datasets: loaded only when the command runs, so
    # `llmkit --help` stays under a second (BENCHMARKS.md).
    from llmkit.tokenizer import train_tokenizer

    train_tokenizer(load_config(TokenizerTrainConfig, config, set_), force=force)
