"""Keep a dock's text inside the dock: labels wrap instead of widening the dock (a long error
message once squeezed the canvas to 230 px)."""
from __future__ import annotations

from qtpy.QtWidgets import QLabel, QSizePolicy


def wrap_label(label) -> None:
    """Make a magicgui Label (or a QLabel) wrap its text at the dock's width."""
    native = label.native if hasattr(label, "native") else label
    q = native if isinstance(native, QLabel) else native.findChild(QLabel)
    if q is None:
        return
    q.setWordWrap(True)
    q.setMinimumWidth(10)
    policy = q.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    policy.setHeightForWidth(True)
    q.setSizePolicy(policy)
