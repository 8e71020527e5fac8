"""Keep a dock small enough for a laptop screen: its controls scroll inside the dock instead of
setting the window's minimum height (three docks once made napari 1500 px tall), and labels
wrap instead of widening the dock (a long error message once squeezed the canvas to 230 px)."""
from __future__ import annotations

from magicgui.widgets import Container
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QFrame, QLabel, QScrollArea

MIN_DOCK_HEIGHT = 120  # px: the dock can shrink this far; its content scrolls
COMBO_CHARS = 16  # a combo box is at least this many characters wide, not its longest item


def wrap_label(label) -> None:
    """Make a magicgui Label (or a QLabel) wrap its text at the dock's width."""
    native = label.native if hasattr(label, "native") else label
    q = native if isinstance(native, QLabel) else native.findChild(QLabel)
    if q is None:
        return
    q.setWordWrap(True)  # a wrapped QLabel asks for a moderate width and grows in height


def narrow_combos(container: Container) -> None:
    """Combo boxes size to COMBO_CHARS characters, not to their longest entry (a method's title)."""
    for box in container.native.findChildren(QComboBox):
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(COMBO_CHARS)


def scroll_body(dock: Container, body: Container) -> QScrollArea:
    """Put ``body`` (the dock's controls) into a vertical scroll area inside ``dock``.

    napari docks a magicgui widget by its ``.native`` (the widget holding the layout), so
    magicgui's own ``scrollable=True`` is dropped there; this scroll area is part of ``.native``."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body.native)
    scroll.setMinimumHeight(MIN_DOCK_HEIGHT)
    layout = dock.native.layout()
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(scroll)
    # the width the controls need still counts (no horizontal scroll bar)
    scroll.setMinimumWidth(body.native.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
    return scroll


