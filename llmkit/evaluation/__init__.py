"""The `llmkit eval` stage: file mode, model mode, reports and quality gates (the metrics
themselves live in llmkit.metrics)."""
