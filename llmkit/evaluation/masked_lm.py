"""Tasks mlm and mlm-nsp in model mode: a masked LM scored on held-out text by its own
pretraining task, with the run's settings.

- mlm (…ForMaskedLM, pretrained with task.type mlm): the documents are tokenized and packed into
  blocks of block_size, as preprocess packs them (MaskedLMTask); MLM loss and perplexity.
- mlm-nsp (BertForPreTraining, task.nsp): each document is cut into segments (sentences or
  lines) and sentence pairs are drawn as the validation split's (MaskedLMWithNSPTask); MLM
  loss and perplexity plus NSP loss and accuracy.

The settings come from the run's llmkit_config.yaml: mlm_probability, whole_word_mask,
short_seq_prob (0 for a run saved before that key existed, as it drew its pairs), train.seed,
and from its preprocess config text_unit, block_size (and segments). Every batch is
masked under its own seed, as validation masks it, so the scores do not depend on the number of
processes, and the run's own validation file, scored with its validation batch size, gives its
last validation scores. The file is read as it is: preprocess's cleaning is not applied (empty
documents are skipped, as its min_chars does by default).
"""

from pathlib import Path

import pyarrow as pa
import torch
from datasets import Dataset
from datasets.table import InMemoryTable

from llmkit.config.eval import EvalConfig
from llmkit.config.load import read_yaml
from llmkit.config.model import ModelConfig
from llmkit.config.preprocess import PreprocessConfig
from llmkit.config.pretrain import PretrainConfig, PretrainTaskConfig
from llmkit.data.packing import BlockPacker, empty_split_message
from llmkit.data.segments import SEGMENT_FEATURES, segment_batch
from llmkit.errors import ConfigError, DataError
from llmkit.evaluation.finetuned import saved_stage_config
from llmkit.evaluation.inputs import check_columns, column, read_rows
from llmkit.evaluation.report import SystemResult
from llmkit.evaluation.sharded import map_shared_out
from llmkit.models.properties import is_encoder_decoder, max_positions
from llmkit.tasks.finetune_common import saved_tokenizer
from llmkit.tasks.mlm import MaskedLMTask
from llmkit.tasks.models import load_trained_model, task_of_model
from llmkit.tasks.nsp import PAIR_SEED_OFFSETS, masked_lm_task
from llmkit.tasks.spec import PretrainSpec
from llmkit.train.batches import SeededCollate

HEADS = {
    "mlm": "a masked LM head (…ForMaskedLM, `llmkit pretrain` with task.type mlm)",
    "mlm-nsp": "masked LM and next-sentence heads (BertForPreTraining, `llmkit pretrain` with "
    "task.nsp)",
}
"""Eval task → the model it scores."""


def evaluate_masked_lm(
    acc, cfg: EvalConfig, model_dir: str, config, task_name: str, identity
) -> SystemResult:
    _check_head(config, task_name, model_dir)
    saved = saved_stage_config(model_dir, PretrainConfig)
    if saved is not None and "short_seq_prob" not in saved.task.model_fields_set:
        # saved before task.short_seq_prob existed: its pairs were all drawn full length
        task_then = saved.task.model_copy(update={"short_seq_prob": 0.0})
        saved = saved.model_copy(update={"task": task_then})
    settings = _run_settings(cfg, saved, config, task_name)
    positions = max_positions(config)
    if positions is not None and settings["block_size"] > positions:
        raise ConfigError(
            f"max_length: {'pairs' if task_name == 'mlm-nsp' else 'blocks'} of "
            f"{settings['block_size']} tokens, but {model_dir} attends over {positions} positions"
        )
    rows = read_rows(cfg, settings["text_unit"])
    check_columns(cfg, rows, task_name, model_dir, {})
    task = _task(model_dir, saved, settings["block_size"], nsp=task_name == "mlm-nsp")
    objective = task.spec.task
    settings |= {  # the masking, shown too: a model llmkit did not pretrain gets BERT's
        "mlm_probability": objective.mlm_probability,
        "whole_word_mask": objective.whole_word_mask,
        "seed": task.spec.seed,
    }
    texts = [str(t) for t in column(rows, cfg.columns.text) if str(t)]
    if task_name == "mlm-nsp":
        examples, counts = _sentence_pairs(task, texts, settings["segments"], cfg.data)
    else:
        examples, counts = _blocks(task, texts, cfg.data)
    model = load_trained_model(task_name, model_dir, "models").to(acc.device).eval()
    outputs = _evaluate_batches(acc, task, model, examples, cfg.batch_size)
    if not any(bool(o["n_items"].any()) for o in outputs):  # a loss over no token: 0, "perfect"
        raise DataError(
            f"data: {cfg.data}: masking chose none of its tokens (mlm_probability "
            f"{objective.mlm_probability}; special tokens are never masked), so there is no loss "
            "to score",
            "give more text",
        )
    metrics = task.compute_metrics(outputs)
    identity |= {
        "parameters": sum(p.numel() for p in model.parameters()),
        **counts,
        "pretrain_settings": settings,
    }
    return SystemResult(str(model_dir), metrics, {}, identity, None)


def _evaluate_batches(acc, task: MaskedLMTask, model, examples: Dataset, batch_size: int):
    """task.evaluate_batch over the batches of `examples`, batch i masked under validation's
    seed for batch i (one process). The batches are shared out across processes whole, each
    under its own index: a row's masks depend on its batch's seed and its place in the batch."""
    units = [
        range(i, min(i + batch_size, len(examples))) for i in range(0, len(examples), batch_size)
    ]
    collate = SeededCollate(task.collate, task.spec.seed, "validation", 1, 0)

    def evaluate(index: int, unit: range) -> dict[str, torch.Tensor]:
        collate.start(0, first_batch=index)
        batch = collate(list(examples.select(unit)))
        with torch.no_grad():
            outputs = task.evaluate_batch(model, {k: v.to(acc.device) for k, v in batch.items()})
        return {name: value.cpu() for name, value in outputs.items()}

    return map_shared_out(acc, units, evaluate)


def _check_head(config, task_name: str, model_dir: str) -> None:
    trained_by = task_of_model(config.architectures, is_encoder_decoder(config))
    if trained_by == task_name:
        return
    hint = f"leave task unset to score it as {trained_by}" if trained_by in HEADS else None
    raise ConfigError(
        f"task {task_name} needs a model with {HEADS[task_name]}; {model_dir} is a "
        f"{', '.join(config.architectures or [config.model_type])}",
        hint,
    )


def _sentence_pairs(task, texts: list[str], segments: str, data: str) -> tuple[Dataset, dict]:
    """The documents' sentence pairs, drawn as the validation split's; and their counts."""
    documents = [d for d in segment_batch(texts, task.tokenizer, segments) if d]
    if len(documents) < 2:
        raise DataError(
            f"data: {data} holds {len(documents)} document(s) with a segment; next-sentence "
            "pairs draw B from another document",
            "give more documents (masked_lm.text_unit: paragraph reads a .txt by paragraph)",
        )
    documents = Dataset.from_dict({"segments": documents}, features=SEGMENT_FEATURES)
    pairs = task.sentence_pairs(documents, "eval", PAIR_SEED_OFFSETS["validation"])
    return pairs, {"documents": len(documents), "pairs": len(pairs)}


def _blocks(task, texts: list[str], data: str) -> tuple[Dataset, dict]:
    """The documents packed into blocks of block_size as preprocess packs them (a separator
    after each; the last partial block dropped); and the counts."""
    tables = []
    packer = BlockPacker(task.tokenizer, task.block_size, tables.append)
    packer.add(texts)
    stats = packer.finish()
    if stats.rows == 0:
        raise DataError(
            f"data: {data}: " + empty_split_message("eval", stats, task.block_size),
            "give more text, or a smaller max_length",
        )
    blocks = Dataset(InMemoryTable(pa.concat_tables(tables)))
    counts = {"documents": stats.documents, "blocks": stats.rows}
    return blocks, counts | {"tokens": stats.tokens, "tokens_dropped": stats.tokens_dropped}


def _preprocess_of(saved: PretrainConfig) -> tuple[PreprocessConfig | None, dict]:
    """The preprocess config the run's data was written with, and its output's manifest."""
    if saved.data.preprocess is not None:
        return saved.data.preprocess, {}
    directory = Path(saved.data.dataset_dir)
    manifest = directory / "manifest.json"
    manifest = read_yaml(manifest) if manifest.is_file() else {}  # JSON is YAML
    return saved_stage_config(directory, PreprocessConfig), manifest


def _run_settings(cfg: EvalConfig, saved: PretrainConfig | None, config, task_name: str) -> dict:
    """text_unit, block_size (and segments for mlm-nsp): the eval config's, else the run's,
    else the defaults."""
    if task_name == "mlm" and cfg.masked_lm.segments is not None:
        raise ConfigError(
            "masked_lm.segments: task mlm packs documents into blocks; segments cut them into "
            "the sentences of next-sentence pairs (task mlm-nsp)"
        )
    preprocess, manifest = _preprocess_of(saved) if saved is not None else (None, {})
    run = {
        "segments": preprocess.segments if preprocess else manifest.get("segments"),
        "text_unit": preprocess.data.text_unit if preprocess else None,
        "block_size": preprocess.block_size if preprocess else manifest.get("block_size"),
    }
    defaults = {"segments": "sentence", "text_unit": "line", "block_size": max_positions(config)}
    chosen = {
        "segments": cfg.masked_lm.segments,
        "text_unit": cfg.masked_lm.text_unit,
        "block_size": cfg.max_length,
    }
    if task_name == "mlm":
        del chosen["segments"]
    settings = {
        key: next((v for v in (chosen[key], run[key], defaults[key]) if v is not None), None)
        for key in chosen
    }
    if settings["block_size"] is None:
        raise ConfigError(
            "max_length: the model does not say how many positions it attends over, and no "
            "pretraining run's block_size was found; set it"
        )
    return settings


def _task(model_dir: str, saved: PretrainConfig | None, block_size: int, nsp: bool) -> MaskedLMTask:
    """The pretraining task with the run's masking and seed, on the model's tokenizer."""
    objective = saved.task if saved is not None else PretrainTaskConfig(type="mlm")
    objective = objective.model_copy(update={"nsp": nsp})  # nsp as the head _check_head matched
    seed = saved.train.seed if saved is not None else 0
    data = saved.data if saved is not None else None
    spec = PretrainSpec(objective, ModelConfig(pretrained=str(model_dir)), data, seed=seed)
    task = masked_lm_task(spec)
    hint = "save the model's tokenizer into it (tokenizer.save_pretrained)"
    task.tokenizer = saved_tokenizer(str(model_dir), "models", hint)
    task.block_size = block_size
    if nsp:
        task.prepare_pairing()
    else:
        task.prepare_masking()
    return task
