"""Which schema validates which stage's config.

A config file names its stage in a top-level `stage:` key, so `llmkit config show FILE` knows what
to validate it against, and `llmkit run PIPELINE.yaml` can hand each section to its stage.
Schemas are imported lazily: `llmkit --help` must not import torch.
"""

import importlib

from pydantic import BaseModel

from llmkit.errors import ConfigError

# stage name → "module:ClassName" of its top-level schema
STAGE_SCHEMAS: dict[str, str] = {
    "tokenizer": "llmkit.config.tokenizer:TokenizerTrainConfig",
    "preprocess": "llmkit.config.preprocess:PreprocessConfig",
    "finetune": "llmkit.config.finetune:FinetuneConfig",
    "pretrain": "llmkit.config.pretrain:PretrainConfig",
    "eval": "llmkit.config.eval:EvalConfig",
    "generate": "llmkit.config.generate:GenerateConfig",
    "export": "llmkit.config.export:ExportConfig",
    "pipeline": "llmkit.config.pipeline:PipelineConfig",
}


def schema_for(stage: str) -> type[BaseModel]:
    target = STAGE_SCHEMAS.get(stage)
    if target is None:
        known = ", ".join(sorted(STAGE_SCHEMAS))
        raise ConfigError(f"unknown stage '{stage}'; known stages: {known}")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def stage_of(data: dict, source: str, explicit: str | None = None) -> str:
    stage = explicit or data.get("stage")
    if not stage:
        raise ConfigError(
            f"{source}: no 'stage:' key; add e.g. 'stage: preprocess' or pass --stage",
        )
    if str(stage) not in STAGE_SCHEMAS:
        known = ", ".join(sorted(STAGE_SCHEMAS))
        raise ConfigError(f"{source}: unknown stage '{stage}'; known stages: {known}")
    return str(stage)
