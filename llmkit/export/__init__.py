"""`llmkit export`: a model or run directory → a Hugging Face directory, ONNX or GGUF."""
