"""The loop's progress, saved as state.json in every checkpoint.

Resume reads progress from here, never from folder names: the optimizer step, where in the data
the next micro-batch comes from, tokens seen and the best validation metric so far.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "state.json"


@dataclass
class TrainState:
    step: int = 0
    """Optimizer steps completed."""
    epoch: int = 0
    """Pass over the training data the next micro-batch comes from."""
    batch_in_epoch: int = 0
    """Micro-batches of `epoch` already consumed (per process)."""
    tokens_seen: int = 0
    """Input tokens processed over all processes."""
    best_metric: float | None = None
    """Best value of train.eval.best_metric so far."""
    best_step: int | None = None
    """Step whose checkpoint holds best_metric."""
    evals_without_improvement: int = 0
    """Validations since best_metric last improved (early stopping)."""

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "TrainState":
        data = json.loads((Path(directory) / STATE_FILE).read_text(encoding="utf-8"))
        return cls(**data)

    def improves(self, value: float, greater_is_better: bool) -> bool:
        if self.best_metric is None:
            return True
        return value > self.best_metric if greater_is_better else value < self.best_metric
