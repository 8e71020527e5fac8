"""Text on napari's canvas: ``viewer.canvas.overlays.text`` from napari 0.9, ``viewer.text_overlay``
before that."""
from __future__ import annotations


def text_overlay(viewer):
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


def show_text(viewer, text: str) -> None:
    overlay = text_overlay(viewer)
    overlay.text = text
    if hasattr(overlay, "position"):
        # the colorbar and its title sit top right, the scale bar bottom right; top left would
        # run under the colorbar on a narrow canvas
        overlay.position = "bottom_left"
    overlay.visible = bool(text)


def hide_text(viewer) -> None:
    text_overlay(viewer).visible = False
