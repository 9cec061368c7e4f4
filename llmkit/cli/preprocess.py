"""`llmkit preprocess`: raw files → cleaned, split, tokenized and packed `datasets` directory."""

from pathlib import Path

import typer

from llmkit.cli.common import ConfigArg, SetOpt

EXAMPLE = "Example: llmkit preprocess configs/tiny-preprocess.yaml --set block_size=256"


def preprocess(
    config: Path = ConfigArg,
    set_: list[str] = SetOpt,
    force: bool = typer.Option(
        False, "--force", help="Rebuild even if a matching cache exists; replace an earlier one."
    ),
) -> None:
    """Clean, split, tokenize and pack raw text into a datasets Arrow directory + manifest."""
    from llmkit.config.load import load_config
    from llmkit.config.preprocess import PreprocessConfig
    from llmkit.data.preprocess import run_preprocess

    run_preprocess(load_config(PreprocessConfig, config, set_), force=force)
