"""Ctrl-C / SIGTERM during training: finish the current step, save a checkpoint, then exit.

The first signal only sets a flag the loop reads between optimizer steps; a second one restores
the default handlers' behaviour (KeyboardInterrupt), so a user can always get out.
"""

import signal
import threading
from types import FrameType


class StopSignals:
    """Context manager that turns SIGINT/SIGTERM into `requested = True`."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        for sig, handler in self._previous.items():  # a second Ctrl-C quits at once
            signal.signal(sig, handler)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
