"""A Matplotlib canvas themed like napari (background, text and axes follow the viewer's theme,
also when the user switches it), with Matplotlib's navigation/save toolbar."""
from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure

# Matplotlib's tab10 minus its greys: distinguishable on dark and light backgrounds.
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#bcbd22", "#17becf")


def _theme_colors(theme_name: str) -> tuple[str, str]:
    """(background, foreground) hex colours of napari's theme ``theme_name``."""
    try:
        from napari.utils.theme import get_theme

        theme = get_theme(theme_name)
        return theme.background.as_hex(), theme.text.as_hex()
    except Exception:  # unknown theme name: a neutral dark look
        return "#262930", "#f0f1f2"


class ThemedCanvas(FigureCanvasQTAgg):
    """One Axes on a figure whose colours follow ``viewer.theme``."""

    def __init__(self, viewer=None, figsize=(4.0, 3.0)):
        super().__init__(Figure(figsize=figsize, layout="constrained"))
        self.axes = self.figure.add_subplot(111)
        self.toolbar = NavigationToolbar2QT(self, None)
        self._viewer = viewer
        if viewer is not None:
            from .lifecycle import connect_while_alive

            connect_while_alive(self, viewer.events.theme, self._on_theme)
        self.apply_theme()

    def _on_theme(self, *_):
        self.apply_theme()

    def apply_theme(self) -> None:
        name = getattr(self._viewer, "theme", "dark") if self._viewer is not None else "dark"
        bg, fg = _theme_colors(name)
        self.figure.set_facecolor(bg)
        ax = self.axes
        ax.set_facecolor(bg)
        for spine in ax.spines.values():
            spine.set_color(fg)
        ax.tick_params(colors=fg)
        ax.xaxis.label.set_color(fg)
        ax.yaxis.label.set_color(fg)
        ax.title.set_color(fg)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(bg)
            for text in legend.get_texts():
                text.set_color(fg)
        self.draw_idle()
