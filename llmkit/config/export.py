"""`llmkit export`: a trained model (a model directory or a run) → a deployable artifact: a clean
Hugging Face directory with a model card, an ONNX model checked in onnxruntime, or a GGUF file.
The command's SOURCE argument and flags fill the same fields as the YAML."""

from typing import Any, Literal

from pydantic import Field, model_validator

from llmkit.config.base import Section
from llmkit.config.load import apply_overrides, read_yaml, validate

ExportFormat = Literal["hf", "onnx", "gguf"]


class OnnxOptions(Section):
    """ONNX export through torch.onnx.export(dynamo=True), verified in onnxruntime."""

    opset: int | None = Field(None, ge=17)
    """ONNX opset; null lets PyTorch's exporter pick its default."""
    tolerance: float = Field(1e-4, gt=0)
    """Largest absolute logit difference between onnxruntime and PyTorch (fp32) the export
    accepts; above it the command fails with exit code 1 and removes what it wrote."""
    quantize: Literal["none", "int8"] = "none"
    """int8 also writes model.int8.onnx (onnxruntime's dynamic int8 quantization of the weights
    of MatMul/Gemm); its difference and top-1 agreement with PyTorch are printed, not gated."""


class GgufOptions(Section):
    """GGUF (llama.cpp's format), written with the `gguf` package; LLaMA and GPT-2 families."""

    type: Literal["f32", "f16", "q8_0"] = "f16"
    """Weight type of the matrices: f32, f16 or q8_0 (8-bit blocks of 32). Norms and biases
    stay f32, as llama.cpp's own converter writes them."""
    tolerance: float = Field(1e-4, gt=0)
    """f32 only: largest absolute logit difference when the file is loaded back with transformers;
    f16/q8_0 are checked by next-token agreement instead."""


class ExportConfig(Section):
    """Which model, which format, where; every field defaulted except source (the SOURCE argument)
    and output_dir (--output)."""

    stage: Literal["export"] = "export"
    source: str
    """A model directory (config.json + safetensors), a training run's output_dir (its saved
    model: the best validated one when the run kept the best) or a LoRA adapter directory."""
    format: ExportFormat = "hf"
    """hf: a self-contained Hugging Face directory + README.md model card; onnx; gguf."""
    output_dir: str
    """Where the export goes; written to a temporary sibling and renamed into place when
    complete. Must be new, empty, or an earlier export output (with force)."""
    force: bool = False
    """Replace an earlier `llmkit export` output in output_dir (after the new export succeeded).
    A directory holding anything else is never replaced."""
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    """hf: cast the saved floating-point weights to this type."""
    merge_lora: bool = True
    """A LoRA run or adapter directory: true exports the adapters folded into the base weights
    (a plain transformers model), false exports the adapter alone (hf format only)."""
    license: str | None = None
    """hf: a license identifier for the model card's front matter, e.g. apache-2.0."""
    trust_remote_code: bool = False
    """Allow transformers to run Python code shipped with the source model. Off: only
    architectures that transformers itself implements load."""
    onnx: OnnxOptions = Field(default_factory=OnnxOptions)
    gguf: GgufOptions = Field(default_factory=GgufOptions)

    @model_validator(mode="after")
    def _complete(self):
        if not self.merge_lora and self.format != "hf":
            raise ValueError(
                f"merge_lora: an adapter alone can only be exported as hf, not {self.format}; "
                "remove --adapter-only or use --format hf"
            )
        # an option of another format would be ignored: the user would get what they did not ask
        if self.dtype != "fp32" and self.format != "hf":
            hint = "; gguf's weight type is gguf.type" if self.format == "gguf" else ""
            raise ValueError(
                f"dtype: {self.dtype} casts the weights of an hf export, not {self.format}; "
                f"remove --dtype{hint}"
            )
        if self.onnx.quantize != "none" and self.format != "onnx":
            raise ValueError(
                f"onnx.quantize: {self.onnx.quantize} quantizes an onnx export, not "
                f"{self.format}; remove --quantize or use --format onnx"
            )
        return self


def load_export_config(
    path: str | None, overrides: list[str], flags: dict[str, Any]
) -> ExportConfig:
    """YAML (optional) < SOURCE / --format / --output / other flags < --set overrides.
    `flags` holds dotted keys; None values are flags the user did not give."""
    data = read_yaml(path) if path is not None else {}
    for key, value in flags.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    data = apply_overrides(data, overrides)
    return validate(
        ExportConfig, data, str(path) if path is not None else "command line", overrides
    )
