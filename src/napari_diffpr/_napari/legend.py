"""One colour legend on the canvas: the colorbar of the selected result (phase, ground truth,
|error|) with a title naming the layer and its unit, the scale bar in physical units, and no
colorbar for anything else. Every dock attaches it; attaching twice changes nothing."""
from __future__ import annotations

from napari.components.overlays import TextOverlay

from . import lineage
from .lifecycle import connect_while_alive

TITLE_OVERLAY = "napari_diffpr_legend"
# what each kind of our layers shows, and in which unit
QUANTITY = {"phase": "phase", "ground_truth": "phase", "preview": "phase (preview)",
            "abs_error": "|error|", "uncertainty": "phase std", "residual": "band residual"}


def _title_overlay(viewer):
    overlays = viewer.canvas.overlays
    if TITLE_OVERLAY not in overlays:
        overlays[TITLE_OVERLAY] = TextOverlay(position="top_right", font_size=10, visible=False)
    return overlays[TITLE_OVERLAY]


def legend_text(layer) -> str:
    kind = lineage.kind(layer)
    unit = lineage.meta(layer).get("unit") or lineage.meta(layer).get("phase_unit") or "rad"
    return f"{layer.name}\n{QUANTITY.get(kind, 'value')} ({unit})"


def update(viewer) -> None:
    """Show the colorbar and title of the active layer if it is one of ours; hide the rest."""
    active = viewer.layers.selection.active
    active_uid = lineage.uid(active)
    shown = None
    for layer in viewer.layers:
        if lineage.kind(layer) not in QUANTITY or not hasattr(layer, "colorbar"):
            continue
        on = lineage.uid(layer) == active_uid and layer.visible
        if layer.colorbar.visible != on:
            layer.colorbar.visible = on
        if on:
            shown = layer
    title = _title_overlay(viewer)
    title.text = legend_text(shown) if shown is not None else ""
    title.visible = shown is not None
    calibrated = any(lineage.spatial_unit(layer) == "µm" for layer in viewer.layers)
    if viewer.scale_bar.visible != calibrated:
        viewer.scale_bar.visible = calibrated


def attach(native, viewer) -> None:
    """Keep the legend up to date for as long as the dock ``native`` lives."""
    _title_overlay(viewer)

    def refresh(*_):
        update(viewer)

    def on_inserted(event):
        connect_while_alive(native, event.value.events.visible, refresh)
        refresh()

    connect_while_alive(native, viewer.layers.selection.events.active, refresh)
    connect_while_alive(native, viewer.layers.events.inserted, on_inserted)
    connect_while_alive(native, viewer.layers.events.removed, refresh)
    for layer in viewer.layers:
        connect_while_alive(native, layer.events.visible, refresh)
    refresh()
