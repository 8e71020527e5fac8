"""``napari-diffpr demo``: napari with the simulated hologram sample, the three docks, and a
Fourier-filtering result already computed (and profiled and scored against the ground truth)."""
from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt

from ..api import reconstruct
from .layers import show_result
from .lifecycle import single_shot_timer
from .sample_data import sample_layers

PLUGIN = "napari-diffpr"


def build_demo(viewer, size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Fill ``viewer`` with the demo; returns ``{"reconstruct", "profile", "metrics"}`` docks
    (their magicgui/Qt widgets) and the Fourier ``"result"``."""
    for data, kwargs, _ in sample_layers("hologram", size=size, seed=seed):
        viewer.add_image(data, **kwargs)
    hologram, background = viewer.layers["hologram"], viewer.layers["hologram background"]
    recon_dock, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "Reconstruct")
    # profile and metrics share one tabbed dock below Reconstruct: on a laptop screen the canvas
    # keeps its width (a tab bar of three plugin names would widen the docks' column)
    profile_dock, profile = viewer.window.add_plugin_dock_widget(PLUGIN, "Line profile", tabify=False)
    _, metrics = viewer.window.add_plugin_dock_widget(PLUGIN, "Metrics", tabify=True)

    recon.set_input(hologram.name, background=background.name)
    recon.set_method("fourier")
    # the same call the dock's Run button makes, done headless so the demo opens finished
    result = reconstruct(hologram.data, "fourier", background=background.data, **recon.form.values())
    show_result(viewer, result, hologram, "fourier")

    profile.set_layers(["hologram ground truth", "hologram [fourier]"])
    profile.add_line_layer()
    profile.update_profiles()
    metrics.set_reference("hologram ground truth")
    metrics.compute()
    viewer.layers["hologram"].visible = False
    viewer.layers["hologram background"].visible = False
    viewer.layers.selection.active = viewer.layers["hologram [fourier]"]

    def lay_out():
        # once the window is laid out: the profile tab in front, the image fitted to the canvas
        profile_dock.raise_()
        # Reconstruct gets the larger share of the column (Qt splits it evenly otherwise)
        window = recon_dock.parentWidget()
        if hasattr(window, "resizeDocks"):
            height = max(window.height() - 120, 300)
            window.resizeDocks([recon_dock, profile_dock], [int(height * 0.6), int(height * 0.4)],
                               Qt.Orientation.Vertical)
        viewer.reset_view()

    lay_out()
    single_shot_timer(profile_dock, 0, lay_out).start()  # owned by the dock: dies with it
    return {"reconstruct": recon, "profile": profile, "metrics": metrics, "result": result}


def run_demo(block: bool = True, size: int = 256) -> None:
    """Open napari with the demo. ``block=False`` returns without entering the Qt event loop
    (for smoke tests; the viewer stays open: ``napari.current_viewer()``)."""
    import napari

    viewer = napari.Viewer(title="napari-diffpr demo")
    build_demo(viewer, size=size)
    if block:
        napari.run()
