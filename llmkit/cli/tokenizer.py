"""`llmkit tokenizer train`: train a BPE / WordPiece / Unigram / character tokenizer from scratch."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, ForceOpt, SetOpt

app = typer.Typer(help="Train tokenizers.", no_args_is_help=True)


@app.command(
    "train",
    epilog="Example: llmkit tokenizer train configs/tiny-tokenizer.yaml --set tokenizer.vocab_size=4000",
)
def train(config: Path = ConfigArg, set_: list[str] = SetOpt, force: bool = ForceOpt) -> None:
    """Train a tokenizer and save a directory AutoTokenizer.from_pretrained loads."""
    from llmkit.config.load import load_config
    from llmkit.config.tokenizer import TokenizerTrainConfig
    from llmkit.tokenizer import train_tokenizer

    train_tokenizer(load_config(TokenizerTrainConfig, config, set_), force=force)
