"""The demo and one screenshot of the whole window with the three docks (the only test that
catches a black canvas), saved for the README."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "screenshot.png"


def test_demo_window_screenshot(make_napari_viewer, qtbot, tmp_path):
    from napari_diffpr._napari.demo import build_demo

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1366, 768)  # a laptop screen
    docks = build_demo(viewer, size=256)
    assert "hologram [fourier]" in viewer.layers
    assert {"Reconstruct", "Line profile", "Metrics"} <= {
        name.split(" (")[0] for name in viewer.window.dock_widgets}
    assert docks["metrics"].results["hologram [fourier]"]["psnr"] > 20
    assert len(docks["profile"].profiles) == 2
    qtbot.wait(300)  # let the main window lay the docks out before grabbing it
    qt_window = viewer.window._qt_window
    assert qt_window.height() <= 768 and qt_window.width() <= 1366, (qt_window.width(), qt_window.height())
    canvas_widget = viewer.window._qt_viewer.canvas.native
    assert canvas_widget.width() >= 1366 / 2, canvas_widget.width()
    # the demo's image fills the canvas: its extent spans most of the canvas's shorter side
    zoom, extent = viewer.camera.zoom, viewer.layers["hologram [fourier]"].extent.world
    shown = (extent[1] - extent[0])[-2:] * zoom
    assert max(shown / (canvas_widget.height(), canvas_widget.width())) > 0.8, shown
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert canvas.std() > 0, "the canvas rendered blank"
    window = viewer.window.screenshot(canvas_only=False, flash=False)  # main window with docks
    assert window.shape[0] > canvas.shape[0] or window.shape[1] > canvas.shape[1]
    assert window[..., :3].std() > 0
    # the README's screenshot is rewritten only when asked (its PNG bytes differ between runs):
    # NAPARI_DIFFPR_WRITE_SCREENSHOT=1 python -m pytest tests/test_napari_demo.py
    target = SCREENSHOT if os.environ.get("NAPARI_DIFFPR_WRITE_SCREENSHOT") == "1" else tmp_path / "screenshot.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    from skimage.io import imsave

    imsave(target, window, check_contrast=False)
    assert target.stat().st_size > 10_000


def test_run_demo_without_event_loop():
    import napari

    from napari_diffpr._napari.demo import run_demo

    assert run_demo(block=False, size=64) is None
    viewer = napari.current_viewer()
    try:
        assert "hologram [fourier]" in viewer.layers
        assert len(viewer.window.dock_widgets) == 3
    finally:
        viewer.close()
