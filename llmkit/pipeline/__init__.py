"""`llmkit run PIPELINE.yaml`: stages chained from one file (plan.py decides, run.py runs,
report.py reports, state.py remembers)."""
