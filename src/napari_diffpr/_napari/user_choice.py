"""Whether a control holds the user's own choice or one the dock made for them, so that a dock
only ever changes values the user has not chosen (the background box, the profiled layers, the
metrics reference)."""
from __future__ import annotations

from contextlib import contextmanager


class UserChoice:
    def __init__(self):
        self.by_user = False
        self._dock_setting = False

    @contextmanager
    def dock_sets(self):
        """Changes made inside this block are the dock's, not the user's."""
        self._dock_setting = True
        try:
            yield
        finally:
            self._dock_setting = False

    def note_change(self) -> bool:
        """Call from the control's ``changed`` handler; True when the user made the change."""
        if self._dock_setting:
            return False
        self.by_user = True
        return True
