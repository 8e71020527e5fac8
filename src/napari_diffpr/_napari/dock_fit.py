"""Keep a dock small enough for a laptop screen: its controls scroll inside the dock instead of
setting the window's minimum height (three docks once made napari 1500 px tall), and labels
wrap instead of widening the dock (a long error message once squeezed the canvas to 230 px)."""
from __future__ import annotations

from magicgui.widgets import Container
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QComboBox, QFrame, QLabel, QScrollArea, QSizePolicy

MIN_DOCK_HEIGHT = 120  # px: the dock can shrink this far; its content scrolls
COMBO_CHARS = 13  # a combo box is at least this many characters wide, not its longest item


def wrap_label(label) -> None:
    """Make a magicgui Label (or a QLabel) wrap its text at the dock's width."""
    native = label.native if hasattr(label, "native") else label
    q = native if isinstance(native, QLabel) else native.findChild(QLabel)
    if q is None:
        return
    q.setWordWrap(True)  # a wrapped QLabel asks for a moderate width and grows in height
    # magicgui makes labels Fixed, which pins the dock's minimum width to the text's preferred
    # width (a 554 px method description clipped the zmd form) and the label's height to that
    # width's line count; Preferred lets it take the dock's width and the lines it then needs
    q.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)


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
    # the width the controls need still counts (no horizontal scroll bar), also after a method's
    # form replaces the controls: measured at construction only, the dock clipped wider forms
    _FollowBodyWidth(scroll, body.native).update()
    return scroll


class _FollowBodyWidth(QObject):
    """Keeps the scroll area's minimum width at the width its body needs, whenever the body's
    layout changes (Qt posts LayoutRequest to a widget whose children changed size or number)."""

    def __init__(self, scroll: QScrollArea, body) -> None:
        super().__init__(scroll)
        self._scroll, self._body = scroll, body
        body.installEventFilter(self)

    def update(self) -> None:
        # napari's style sheet gives the scroll area a 1 px frame even with NoFrame
        need = (self._body.minimumSizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width()
                + 2 * self._scroll.frameWidth())
        if need != self._scroll.minimumWidth():
            self._scroll.setMinimumWidth(need)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if obj is self._body and event.type() == QEvent.Type.LayoutRequest:
            self.update()
        return False


