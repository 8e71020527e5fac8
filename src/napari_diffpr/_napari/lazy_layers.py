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


# A TIFF stack this large (or with this many frames) opens lazily in napari: frames are read
# from disk when viewed (tifffile's zarr store). Smaller stacks load whole, as before.
LAZY_TIFF_BYTES = 256 * 1024**2
LAZY_TIFF_FRAMES = 100


def should_open_lazily(path) -> bool:
    """True for a multi-page TIFF of at least LAZY_TIFF_BYTES or LAZY_TIFF_FRAMES pages."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() not in (".tif", ".tiff") or not p.is_file():
        return False
    try:
        import tifffile

        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            return len(series.pages) > 1 and (series.nbytes >= LAZY_TIFF_BYTES or len(series.pages) >= LAZY_TIFF_FRAMES)
    except Exception:  # noqa: BLE001 - io.read reports unreadable files properly
        return False
