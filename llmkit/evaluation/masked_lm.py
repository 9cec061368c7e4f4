"""Task mlm-nsp in model mode: masked LM perplexity and next-sentence accuracy of a BERT
pretrained with task.nsp (BertForPreTraining), on held-out documents.

Each row of the data is a document, cut into segments (sentences or lines); sentence pairs are
drawn and tokens masked by the pretraining task itself (MaskedLMWithNSPTask) with the run's
settings, read from its llmkit_config.yaml: mlm_probability, whole_word_mask, train.seed, and
from its preprocess config the segments, text_unit and block_size. Pairs are drawn as the
validation split's are and every batch is masked under its own seed, so the scores do not
depend on the number of processes, and the run's own validation documents, scored with its
validation batch size, give its last validation scores. The file is read as it is: preprocess's
cleaning is not applied.
"""

from pathlib import Path

import transformers
from datasets import Dataset
from pydantic import ValidationError

from llmkit.config.eval import EvalConfig
from llmkit.config.load import read_yaml
from llmkit.config.model import ModelConfig
from llmkit.config.preprocess import PreprocessConfig
from llmkit.config.pretrain import PretrainConfig, PretrainTaskConfig
from llmkit.data.segments import SEGMENT_FEATURES, segment_batch
from llmkit.errors import ConfigError, DataError
from llmkit.evaluation.finetuned import SAVED_CONFIG
from llmkit.evaluation.inputs import column, read_rows
from llmkit.evaluation.report import SystemResult
from llmkit.models.properties import is_encoder_decoder, max_positions
from llmkit.tasks.models import load_trained_model, task_of_model
from llmkit.tasks.nsp import PAIR_SEED_OFFSETS, MaskedLMWithNSPTask
from llmkit.tasks.spec import PretrainSpec
from llmkit.train.batches import SeededCollate, make_loader
from llmkit.train.validation import gather_outputs


def evaluate_masked_lm(acc, cfg: EvalConfig, model_dir: str, config, identity) -> SystemResult:
    if task_of_model(config.architectures, is_encoder_decoder(config)) != "mlm-nsp":
        raise ConfigError(
            f"task mlm-nsp needs a model with masked LM and next-sentence heads "
            f"(BertForPreTraining, `llmkit pretrain` with task.nsp); {model_dir} is a "
            f"{', '.join(config.architectures or [config.model_type])}"
        )
    saved = _saved_pretrain_config(model_dir)
    settings = _pairing_settings(cfg, saved, config)
    positions = max_positions(config)
    if positions is not None and settings["block_size"] > positions:
        raise ConfigError(
            f"max_length: pairs of {settings['block_size']} tokens, but {model_dir} attends "
            f"over {positions} positions"
        )
    rows = read_rows(cfg, settings["text_unit"])
    task = _task(model_dir, saved, settings["block_size"])
    texts = [str(t) for t in column(rows, cfg.columns.text)]
    documents = [d for d in segment_batch(texts, task.tokenizer, settings["segments"]) if d]
    if len(documents) < 2:
        raise DataError(
            f"data: {cfg.data} holds {len(documents)} document(s) with a segment; next-sentence "
            "pairs draw B from another document",
            "give more documents (masked_lm.text_unit: paragraph reads a .txt by paragraph)",
        )
    documents = Dataset.from_dict({"segments": documents}, features=SEGMENT_FEATURES)
    pairs = task.sentence_pairs(documents, "eval", PAIR_SEED_OFFSETS["validation"])
    collate = SeededCollate(
        task.collate, task.spec.seed, "validation", acc.num_processes, acc.process_index
    )
    loader = acc.prepare(make_loader(pairs, None, cfg.batch_size, collate, 0))
    model = load_trained_model("mlm-nsp", model_dir, "models").to(acc.device).eval()
    metrics = task.compute_metrics(gather_outputs(acc, task, model, loader, collate))
    identity |= {
        "parameters": sum(p.numel() for p in model.parameters()),
        "documents": len(documents),
        "pairs": len(pairs),
        "pretrain_settings": settings,
    }
    return SystemResult(str(model_dir), metrics, {}, identity, None)


def _saved_pretrain_config(model_dir: str) -> PretrainConfig | None:
    """The pretraining config saved with the model; None for a model llmkit did not pretrain."""
    path = Path(model_dir) / SAVED_CONFIG
    if not path.is_file():
        return None
    data = read_yaml(path)
    if data.get("stage") != "pretrain":
        return None
    try:
        return PretrainConfig.model_validate(data)
    except ValidationError as e:
        print(
            f"warning: {path} is not a valid pretrain config, not reused ({e.errors()[0]['msg']})"
        )
        return None


def _preprocess_of(saved: PretrainConfig) -> tuple[PreprocessConfig | None, dict]:
    """The preprocess config the run's data was written with, and its output's manifest."""
    if saved.data.preprocess is not None:
        return saved.data.preprocess, {}
    directory = Path(saved.data.dataset_dir)
    manifest = directory / "manifest.json"
    manifest = read_yaml(manifest) if manifest.is_file() else {}  # JSON is YAML
    path = directory / SAVED_CONFIG
    if not path.is_file():
        return None, manifest
    try:
        return PreprocessConfig.model_validate(read_yaml(path)), manifest
    except ValidationError:
        return None, manifest


def _pairing_settings(cfg: EvalConfig, saved: PretrainConfig | None, config) -> dict:
    """segments, text_unit, block_size: the eval config's, else the run's, else the defaults."""
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
    return {
        key: next(v for v in (chosen[key], run[key], defaults[key]) if v is not None)
        for key in chosen
    }


def _task(model_dir: str, saved: PretrainConfig | None, block_size: int) -> MaskedLMWithNSPTask:
    """The pretraining task with the run's masking and seed, on the model's tokenizer."""
    objective = saved.task if saved is not None else PretrainTaskConfig(type="mlm", nsp=True)
    seed = saved.train.seed if saved is not None else 0
    data = saved.data if saved is not None else None
    spec = PretrainSpec(objective, ModelConfig(pretrained=str(model_dir)), data, seed=seed)
    task = MaskedLMWithNSPTask(spec)
    task.tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    task.block_size = block_size
    task.prepare_pairing()
    return task
