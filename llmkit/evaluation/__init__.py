"""Evaluation: metrics, file mode, model mode, reports."""
