"""llmkit: from raw text to an evaluated, exported language model.

Kept import-light on purpose: `llmkit --help` must not pay for torch or transformers.
"""

__version__ = "0.1.0"
