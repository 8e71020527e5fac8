"""``napari-diffpr demo``: napari with the simulated hologram sample, the three docks, and a
Fourier-filtering result already computed (and profiled and scored against the ground truth)."""
from __future__ import annotations

from typing import Any

from ..api import reconstruct
from .layers import show_result
from .sample_data import sample_layers

PLUGIN = "napari-diffpr"


def build_demo(viewer, size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Fill ``viewer`` with the demo; returns ``{"reconstruct", "profile", "metrics"}`` docks
    (their magicgui/Qt widgets) and the Fourier ``"result"``."""
    for data, kwargs, _ in sample_layers("hologram", size=size, seed=seed):
        viewer.add_image(data, **kwargs)
    hologram, background = viewer.layers["hologram"], viewer.layers["hologram background"]
    _, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "Reconstruct")
    _, profile = viewer.window.add_plugin_dock_widget(PLUGIN, "Line profile", tabify=False)
    _, metrics = viewer.window.add_plugin_dock_widget(PLUGIN, "Metrics", tabify=False)

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
    viewer.reset_view()
    return {"reconstruct": recon, "profile": profile, "metrics": metrics, "result": result}


def run_demo(block: bool = True, size: int = 256) -> None:
    """Open napari with the demo. ``block=False`` returns without entering the Qt event loop
    (for smoke tests; the viewer stays open: ``napari.current_viewer()``)."""
    import napari

    viewer = napari.Viewer(title="napari-diffpr demo")
    build_demo(viewer, size=size)
    if block:
        napari.run()
