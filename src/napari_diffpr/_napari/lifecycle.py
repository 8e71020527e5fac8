"""Tie viewer-event connections and timers to a dock's lifetime, so nothing calls into a dock
whose Qt widgets were already deleted (closing the viewer, removing the dock)."""
from __future__ import annotations

from typing import Callable

from qtpy.QtCore import QTimer


def connect_while_alive(native, event, callback: Callable) -> None:
    """``event.connect(callback)`` until the QWidget ``native`` is destroyed."""
    event.connect(callback)

    def _disconnect(*_):
        try:
            event.disconnect(callback)
        except (TypeError, ValueError, RuntimeError):
            pass

    native.destroyed.connect(_disconnect)


def single_shot_timer(native, interval_ms: int, callback: Callable) -> QTimer:
    """A single-shot QTimer owned by ``native`` (deleted, and so silent, with it)."""
    timer = QTimer(native)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    return timer
