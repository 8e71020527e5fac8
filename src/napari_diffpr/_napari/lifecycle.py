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
        except (TypeError, ValueError, RuntimeError, AttributeError):
            pass  # the emitter is already gone (layer or viewer closed first)

    native.destroyed.connect(_disconnect)


def single_shot_timer(native, interval_ms: int, callback: Callable) -> QTimer:
    """A single-shot QTimer owned by ``native`` (deleted, and so silent, with it)."""
    timer = QTimer(native)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    return timer


class LayerDataWatcher:
    """Calls ``callback`` when the data of any watched layer changes (a re-run updating a result
    layer in place), each layer connected once, for as long as ``native`` lives."""

    def __init__(self, native, callback: Callable):
        self._native, self._callback = native, callback
        self._ids: set[int] = set()

    def watch(self, layers) -> None:
        for layer in layers:
            if id(layer) not in self._ids:
                self._ids.add(id(layer))
                connect_while_alive(self._native, layer.events.data, self._callback)
