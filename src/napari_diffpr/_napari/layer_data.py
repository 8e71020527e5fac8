"""napari LayerData tuples from arrays with physical metadata (used by the reader and the sample
data): pixel size -> scale in µm, phase maps with a phase colormap, metadata kept whole."""
from __future__ import annotations

from typing import Any

import numpy as np

from .layers import UNWRAPPED_COLORMAP, phase_contrast

MICRON = "µm"


def _positive_float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number > 0 and number != float("inf") else None


def plain_metadata(meta: dict[str, Any], max_array: int = 64) -> dict[str, Any]:
    """``meta`` without large arrays (kept as their shape), so layer metadata stays small."""
    out = {}
    for key, value in meta.items():
        if isinstance(value, np.ndarray) and value.size > max_array:
            out[key] = f"array {value.shape} {value.dtype} (not kept)"
        else:
            out[key] = value
    return out


def image_layer_data(data: np.ndarray, name: str, kind: str, metadata: dict[str, Any]) -> tuple:
    """(data, kwargs, "image") for a hologram/background/rgb measurement or a phase map.
    ``kind``: "hologram", "background", "rgb", "phase" (a reconstruction) or "ground_truth"."""
    meta = plain_metadata(dict(metadata))
    rgb = kind == "rgb"
    spatial_ndim = data.ndim - (1 if rgb else 0)
    kwargs: dict[str, Any] = {"name": name, "rgb": rgb}
    px = _positive_float(meta.get("pixel_size_um"))  # a file may say "abc", -0.3, inf...
    if px is not None:
        kwargs["scale"] = (1.0,) * (spatial_ndim - 2) + (float(px), float(px))
        kwargs["units"] = ("pixel",) * (spatial_ndim - 2) + (MICRON, MICRON)
    if kind in ("phase", "ground_truth"):
        meta["napari_diffpr_kind"] = kind
        meta.setdefault("phase_unit", "rad")
        kwargs.update(colormap=UNWRAPPED_COLORMAP, contrast_limits=phase_contrast(data))
    else:
        meta["napari_diffpr_kind"] = kind
    kwargs["metadata"] = meta
    return (data, kwargs, "image")
