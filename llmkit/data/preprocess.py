"""The `preprocess` stage: read → clean → split → (tokenize + pack) → an Arrow directory.

Output (pack: true): a DatasetDict in `save_to_disk`'s layout, each split in Arrow shards of
`shard_mb`, with a single `input_ids` column of blocks of exactly block_size ids, plus
manifest.json (with seconds per phase), tokenizer/ and llmkit_config.yaml; it is built streaming
(streaming.py), in memory that does not grow with the corpus. With pack: false the cleaned and
split raw columns are written instead, or with `segments:` each document's tokenized sentences
(segments.py, for next-sentence prediction). The directory appears only when complete: a run that is
killed (even kill -9) leaves only its temporary sibling, which the next run removes before it
starts clean. A second run with the same inputs, config and tokenizer returns at once.
"""

import contextlib
import json
import time
from pathlib import Path

from datasets import DatasetDict
from datasets import utils as hf_tqdm
from transformers import AutoTokenizer, TokenizersBackend

from llmkit import __version__
from llmkit.config.data import CleaningConfig, DataConfig, SplitConfig
from llmkit.config.load import save_resolved_config
from llmkit.config.preprocess import PreprocessConfig
from llmkit.data import report, streaming
from llmkit.data.cache import (
    cache_key,
    cached_manifest,
    config_hash,
    input_fingerprint,
    tokenizer_identity,
    what_changed,
)
from llmkit.data.cleaning import clean_dataset
from llmkit.data.packing import check_block_size, separator_id
from llmkit.data.segments import write_segments
from llmkit.data.sources import SPLITS, read_split, require_columns
from llmkit.data.splitting import split_data
from llmkit.data.streaming import Timings
from llmkit.errors import ConfigError
from llmkit.outputs import stage_of_output, staged_output_dir
from llmkit.writable import require_writable_dir

_GENERIC = "TokenizersBackend"


def load_tokenizer(name: str):
    """A fast tokenizer from a directory or hub id; ConfigError when it cannot be loaded."""
    try:
        tokenizer = _tokenizer_class(name).from_pretrained(name)
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"tokenizer: cannot load {name!r} ({str(e).splitlines()[0]})",
            "point it at a directory written by `llmkit tokenizer train` or a hub id",
        ) from None
    if not tokenizer.is_fast:
        raise ConfigError(f"tokenizer: {name!r} has no fast (Rust) tokenizer; packing needs one")
    return tokenizer


def clean_splits(
    data: DataConfig,
    cleaning: CleaningConfig,
    split: SplitConfig,
    text_columns: list[str],
    num_proc: int | None = None,
    required_columns: list[str] | tuple[str, ...] = (),
    progress=None,
):
    """Read, check columns, clean and split. Returns ({split: Dataset}, {split: {reason: n}})."""
    datasets, dropped = {}, {}
    for name in SPLITS:
        if getattr(data, name) is None:
            continue
        with report.stage(progress, f"Reading {name}") if progress else contextlib.nullcontext():
            ds, stats = read_split(data, name)
        if ds is None:
            continue
        where = f"data.{name} ({getattr(data, name)})"
        ds = require_columns(ds, list(text_columns) + list(required_columns), where)
        with report.stage(progress, f"Cleaning {name}") if progress else contextlib.nullcontext():
            ds, drops = clean_dataset(ds, cleaning, list(text_columns), num_proc, f"data.{name}")
        datasets[name], dropped[name] = ds, {**stats.dropped, **drops}
    return split_data(data, split, datasets), dropped


def load_clean_splits(
    data: DataConfig,
    cleaning: CleaningConfig,
    split: SplitConfig,
    text_columns: list[str],
    required_columns: list[str] | tuple[str, ...] = (),
    num_proc: int | None = None,
):
    """Cleaned, filtered, de-duplicated and split raw rows (all columns kept) as a DatasetDict,
    for finetuning tasks to tokenize. Dotted column names (translation.en) become columns of
    that name. Cleaning is cached by datasets, so calling this again is cheap."""
    splits, _ = clean_splits(data, cleaning, split, text_columns, num_proc, required_columns)
    return DatasetDict(splits)


def run_preprocess(
    cfg: PreprocessConfig, force: bool = False, output_key: str = "output_dir"
) -> Path:
    """Build (or reuse) the preprocessed directory for `cfg`; returns its path. An earlier output
    made with other settings is replaced only with `force`; errors name output_dir as `output_key`."""
    out = Path(cfg.output_dir)
    tokenizer = _tokenizer_for(cfg)
    inputs, identity = input_fingerprint(cfg.data), tokenizer_identity(tokenizer)
    key = cache_key(cfg, inputs, identity)
    cached = None if force else cached_manifest(out, key)
    if cached is not None:
        report.console.print(f"[green]up to date[/]: {out} (same inputs, config and tokenizer; "
                             "--force rebuilds)")  # fmt: skip
        return out
    if not force and stage_of_output(out) == "preprocess":
        raise ConfigError(
            f"{output_key}: {out} holds a preprocessed dataset made with other settings "
            f"({what_changed(out, cfg, inputs, identity)} changed)",
            f"rebuild it with `llmkit preprocess CONFIG --force`, or choose another {output_key}",
        )
    require_writable_dir(out, output_key, swapped_in=True)
    started = time.time()
    timings = Timings()
    staged = staged_output_dir(out, "preprocess", force, output_key)
    with _quiet_datasets(), report.new_progress() as progress, staged as tmp:
        if cfg.pack:
            stats, dropped = streaming.write_packed(cfg, tokenizer, tmp, progress, timings)
        else:
            column = _text_column(cfg.data)
            splits, dropped = clean_splits(
                cfg.data, cfg.cleaning, cfg.split, [column], cfg.num_proc, progress=progress
            )
            if cfg.segments is not None:
                stats = write_segments(splits, column, tokenizer, cfg.segments, tmp)
            else:
                stats = _write_raw(splits, tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp / "tokenizer")
        manifest = _manifest(cfg, key, tokenizer, stats, dropped, time.time() - started)
        manifest["seconds_by_phase"] = timings.rounded()
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        save_resolved_config(cfg, tmp)
    report.print_summary(manifest)
    return out


def _tokenizer_class(name: str):
    """AutoTokenizer, or the generic fast class a local directory names (what `llmkit tokenizer
    train` writes): loading that class directly gives the same tokenizer as AutoTokenizer
    without importing torch, which costs seconds at every start."""
    config = Path(name) / "tokenizer_config.json"
    if config.is_file():
        with contextlib.suppress(OSError, ValueError):
            if json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class") == _GENERIC:
                return TokenizersBackend

    return AutoTokenizer


def _tokenizer_for(cfg: PreprocessConfig):
    if cfg.tokenizer is None:
        if cfg.pack or cfg.segments is not None:
            raise ConfigError(
                f"tokenizer: required with {'pack: true' if cfg.pack else 'segments'}",
                "set tokenizer: to a tokenizer directory, or pack: false for raw text",
            )
        return None
    tokenizer = load_tokenizer(cfg.tokenizer)
    if cfg.pack or cfg.segments is not None:
        check_block_size(tokenizer, cfg.block_size)
    if cfg.pack:
        separator_id(tokenizer)
    return tokenizer


def _text_column(data: DataConfig) -> str:
    return data.columns.text


def _write_raw(splits: dict, tmp: Path) -> dict:
    DatasetDict(splits).save_to_disk(str(tmp))
    return {name: {"documents": len(ds), "rows": len(ds)} for name, ds in splits.items()}


def _manifest(cfg, key, tokenizer, stats, dropped, seconds) -> dict:
    return {
        "llmkit_version": __version__,
        "output_dir": str(cfg.output_dir),
        "pack": cfg.pack,
        "block_size": cfg.block_size if cfg.pack or cfg.segments else None,
        "splits": stats,
        "dropped": dropped,
        "config_hash": config_hash(cfg),
        "cache_key": key,
        "tokenizer": tokenizer_identity(tokenizer),
        "inputs": input_fingerprint(cfg.data),
        "seconds": round(seconds, 2),
    } | ({"segments": cfg.segments} if cfg.segments else {})


class _quiet_datasets:
    """datasets' own tqdm bars off while ours run; restored afterwards."""

    def __enter__(self):
        self.was_disabled = hf_tqdm.are_progress_bars_disabled()
        hf_tqdm.disable_progress_bars()

    def __exit__(self, *exc):
        if not self.was_disabled:
            hf_tqdm.enable_progress_bars()
        return False
