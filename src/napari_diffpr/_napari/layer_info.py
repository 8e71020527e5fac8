"""What the dock needs to know about a napari layer: its modality, its pixel size and the physical
parameters its metadata already carries (so a biologist does not type them twice)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..methods import Method

_MICRON_NAMES = ("µm", "um", "micrometer", "micron", "micrometre")

# Parameter name -> metadata keys that may hold it (readers and the simulator write *_um keys).
_ALIASES = {
    "pixel_size": ("pixel_size_um", "pixel_size"),
    "wavelength": ("wavelength_um", "wavelength"),
    "wavelengths": ("wavelengths_um", "wavelengths"),
    "defocus": ("defocus_um", "defocus"),
    "medium_index": ("medium_index", "n_medium", "index_of_refraction_media"),
    "reference_wavelength": ("reference_wavelength_um", "reference_wavelength"),
}
# Only these describe the measurement itself. Processing choices that files may also carry
# (numerical aperture -> filter size, seeds, steps) are never filled in, as in the CLI: a
# qpformat file's nominal NA of 1.0 would silently replace the Fourier filter size.


def modality_of(layer) -> str | None:
    """"rgb" for an RGB layer or H x W x 3 data, "hologram" for 2-D/3-D grey data, else None."""
    shape = tuple(np.shape(layer.data))
    if getattr(layer, "rgb", False) or (len(shape) in (3, 4) and shape[-1] == 3):
        return "rgb"
    if len(shape) in (2, 3):
        return "hologram"
    return None


def pixel_size_um(layer) -> float | None:
    """Pixel size in µm from the layer's metadata, else from its scale when its units are µm."""
    meta = getattr(layer, "metadata", {}) or {}
    if meta.get("pixel_size_um"):
        return float(meta["pixel_size_um"])
    try:
        unit = str(layer.units[-1])
    except (AttributeError, IndexError):
        return None
    scale = float(layer.scale[-1])
    if any(unit.lower().startswith(u) for u in _MICRON_NAMES) and scale != 1.0:
        return scale
    return None


def physical_defaults(method: Method, layer) -> dict[str, Any]:
    """Values for ``method``'s parameters found in ``layer``'s metadata or scale, validated;
    entries that do not fit the parameter (wrong length, out of range) are skipped."""
    meta = getattr(layer, "metadata", {}) or {}
    found: dict[str, Any] = {}
    for p in method.params:
        if p.name not in _ALIASES:
            continue
        for key in (*_ALIASES[p.name], f"{p.name}_um"):
            if key in meta and meta[key] is not None:
                value = meta[key]
                break
        else:
            value = pixel_size_um(layer) if p.name == "pixel_size" else None
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            value = value.tolist()
        try:
            found[p.name] = p.validate(value)
        except (ValueError, TypeError):
            continue
    return found
