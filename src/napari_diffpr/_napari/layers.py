"""Result -> napari layer: the name "{input} [{method}]", a phase colormap and contrast, a
colorbar, the input's scale/translate/units/axis labels, and the full record in metadata.
A re-run updates the layer of the same name instead of adding copies."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..result import Result
from . import lineage

PREVIEW_SUFFIX = " preview"
# Sequential for unwrapped phase (cells positive on a ~0 background); cyclic for wrapped phase.
UNWRAPPED_COLORMAP = "viridis"
WRAPPED_COLORMAP = "twilight_shifted"


def result_layer_name(input_name: str, method: str) -> str:
    return f"{input_name} [{method}]"


def phase_contrast(phase: np.ndarray) -> tuple[float, float]:
    """Contrast limits (rad) from the 0.5 and 99.5 percentiles, robust to a few hot pixels."""
    finite = np.asarray(phase)[np.isfinite(phase)]
    if finite.size == 0:
        return (-1.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def spatial_kwargs(source, ndim: int) -> dict[str, Any]:
    """The input's scale, translate, units and axis labels for an output with ``ndim`` dims
    (the trailing ones when the input has more, e.g. a 2-D preview of a stack)."""
    if source is None:
        return {}
    kwargs = {}
    for attr in ("scale", "translate", "units", "axis_labels"):
        value = getattr(source, attr, None)
        if value is None:
            continue
        value = tuple(value)
        if len(value) >= ndim:
            kwargs[attr] = value[len(value) - ndim:]
    if "units" in kwargs:
        kwargs["units"] = tuple(str(u) for u in kwargs["units"])
    return kwargs


def _is_wrapped(metadata: dict) -> bool:
    params = metadata.get("parameters", {}) or {}
    return params.get("unwrap") in (False, "none") or metadata.get("wrapped") is True


def result_metadata(result: Result, input_name: str | None, source_layer=None) -> dict[str, Any]:
    """The layer's metadata: the method's whole record plus what the writer and docks need,
    and its lineage: the input layer (name and unique id) and the input's dataset."""
    meta = dict(result.metadata)
    meta.update({"napari_diffpr_kind": "phase", "phase_unit": "rad"})
    if input_name is not None:
        meta["source_layer"] = input_name
    if source_layer is not None:
        meta["source_layer_id"] = lineage.uid(source_layer)
        dataset = lineage.meta(source_layer).get("dataset")
        if dataset:
            meta["dataset"] = dataset
    return meta


def show_result(viewer, result: Result, source_layer=None, method: str | None = None,
                input_name: str | None = None, name: str | None = None):
    """Add ``result`` as an Image layer (or update the same-named one) and return it.
    ``name``: the layer's name when not "{input} [{method}]" (one frame of a stack)."""
    method = method or str(result.metadata.get("method", "result"))
    input_name = input_name or (source_layer.name if source_layer is not None else "phase")
    name = name or result_layer_name(input_name, method)
    phase = np.asarray(result.phase, dtype=np.float32)
    meta = result_metadata(result, input_name, source_layer)
    wrapped = _is_wrapped(meta)
    contrast = (-math.pi, math.pi) if wrapped else phase_contrast(phase)
    colormap = WRAPPED_COLORMAP if wrapped else UNWRAPPED_COLORMAP
    spatial = spatial_kwargs(source_layer, phase.ndim)
    if name in viewer.layers and viewer.layers[name].data.shape == phase.shape:
        layer = viewer.layers[name]
        layer.data = phase
        layer.metadata = meta
        layer.colormap = colormap
        layer.contrast_limits = contrast
        for attr, value in spatial.items():
            setattr(layer, attr, value)
    else:
        if name in viewer.layers:  # same name, other shape (new crop): replace it
            viewer.layers.remove(name)
        layer = viewer.add_image(phase, name=name, colormap=colormap, contrast_limits=contrast,
                                 metadata=meta, **spatial)
    for kind in MAP_LAYERS:  # per-pixel maps of the learned methods: their own layers
        values = getattr(result, kind, None)
        if values is not None:
            show_map(viewer, kind, values, name, meta, spatial)
    viewer.layers.selection.active = layer  # the legend (colorbar + title) follows the selection
    return layer


# Result field -> (layer name suffix, colormap, symmetric contrast around 0?)
MAP_LAYERS = {"uncertainty": (" std", "magma", False), "residual": (" residual", "coolwarm", True)}


def show_map(viewer, kind: str, values: np.ndarray, result_name: str, meta: dict, spatial: dict):
    """A per-pixel map of a result (``kind``: "uncertainty", the std over posterior samples;
    "residual", measured minus re-synthesised hologram band) as the layer "<result> std" /
    "<result> residual", hidden until the user looks at it; returns it."""
    suffix, colormap, symmetric = MAP_LAYERS[kind]
    name = result_name + suffix
    values = np.asarray(values, dtype=np.float32)
    mmeta = {"napari_diffpr_kind": kind, "unit": "rad", "result_layer": result_name,
             **{k: meta[k] for k in ("source_layer", "source_layer_id", "dataset") if k in meta}}
    finite = values[np.isfinite(values)]
    top = float(np.percentile(np.abs(finite), 99.5)) if finite.size else 0.0
    top = top if top > 0 else 1.0
    limits = (-top, top) if symmetric else (0.0, top)
    if name in viewer.layers and viewer.layers[name].data.shape == values.shape:
        layer = viewer.layers[name]
        layer.data, layer.metadata, layer.contrast_limits = values, mmeta, limits
        return layer
    if name in viewer.layers:
        viewer.layers.remove(name)
    return viewer.add_image(values, name=name, colormap=colormap, contrast_limits=limits, metadata=mmeta,
                            visible=False, **spatial)


def preview_layer_name(input_name: str, method: str) -> str:
    return result_layer_name(input_name, method) + PREVIEW_SUFFIX


def show_preview(viewer, preview: np.ndarray, source_layer, method: str):
    """Show a live estimate (rad) in one preview layer, created once and updated in place."""
    name = preview_layer_name(source_layer.name, method)
    preview = np.asarray(preview, dtype=np.float32)
    if name in viewer.layers and viewer.layers[name].data.shape == preview.shape:
        layer = viewer.layers[name]
        layer.data = preview
        layer.contrast_limits = phase_contrast(preview)
        return layer
    if name in viewer.layers:
        viewer.layers.remove(name)
    return viewer.add_image(preview, name=name, colormap=UNWRAPPED_COLORMAP,
                            contrast_limits=phase_contrast(preview),
                            metadata={"napari_diffpr_kind": "preview", "source_layer_id": lineage.uid(source_layer),
                                      "source_layer": source_layer.name},
                            **spatial_kwargs(source_layer, preview.ndim))


def remove_preview(viewer, source_name: str, method: str) -> None:
    name = preview_layer_name(source_name, method)
    if name in viewer.layers:
        viewer.layers.remove(name)


def is_phase_layer(layer) -> bool:
    return (getattr(layer, "metadata", None) or {}).get("napari_diffpr_kind") in ("phase", "ground_truth")
