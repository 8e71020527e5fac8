"""Layers for lazy (dask) stacks: OME-Zarr images opened by the reader, and lazy results of
``reconstruct`` on a dask stack (issue 12). Nothing here computes more than one frame: the
contrast limits come from the first frame only."""
from __future__ import annotations

from typing import Any

import numpy as np

from .layer_data import MICRON, plain_metadata
from .layers import UNWRAPPED_COLORMAP, phase_contrast

_UNIT_NAMES = {"micrometer": MICRON, "second": "s", None: "pixel"}


def first_frame(data, rgb: bool = False) -> np.ndarray:
    """The first frame (H x W [x 3]) of an N-D stack, computed alone."""
    spatial = 3 if rgb else 2
    frame = data[(0,) * (data.ndim - spatial)]
    return np.asarray(frame.compute() if hasattr(frame, "compute") else frame)


def lazy_layer_data(data, name: str, kind: str, metadata: dict[str, Any]) -> tuple:
    """(data, kwargs, "image") for a lazy stack: the scale, units and axis labels of an
    OME-Zarr (``metadata['scale'|'units'|'axis_labels']``, one per non-RGB axis), else the
    pixel size on Y and X; phase maps get the phase colormap with limits from frame 0."""
    meta = plain_metadata(dict(metadata))
    rgb = kind == "rgb"
    ndim = data.ndim - (1 if rgb else 0)
    kwargs: dict[str, Any] = {"name": name, "rgb": rgb}
    scale = meta.get("scale")
    if isinstance(scale, (list, tuple)) and len(scale) == ndim:
        kwargs["scale"] = tuple(float(s) for s in scale)
        units = meta.get("units") or [None] * ndim
        kwargs["units"] = tuple(_UNIT_NAMES.get(u, u) for u in units)
        labels = meta.get("axis_labels")
        if labels and len(labels) == ndim:
            kwargs["axis_labels"] = tuple(labels)
    elif meta.get("pixel_size_um"):
        px = float(meta["pixel_size_um"])
        kwargs["scale"] = (1.0,) * (ndim - 2) + (px, px)
        kwargs["units"] = ("pixel",) * (ndim - 2) + (MICRON, MICRON)
    meta["napari_diffpr_kind"] = kind if kind != "phase" or meta.get("method") else "ground_truth"
    if kind == "phase":
        meta.setdefault("phase_unit", "rad")
        kwargs.update(colormap=UNWRAPPED_COLORMAP, contrast_limits=phase_contrast(first_frame(data)))
    else:
        lo, hi = np.percentile(first_frame(data, rgb), (0.5, 99.5))
        if not rgb and hi > lo:
            kwargs["contrast_limits"] = (float(lo), float(hi))
    kwargs["metadata"] = meta
    return (data, kwargs, "image")
