"""npe2 writer: an image layer (a phase map) to a float32 TIFF with its physical pixel size and
the layer's metadata (the reconstruction record) via napari_diffpr.io.write_phase_tiff."""
from __future__ import annotations

from typing import Any

from .. import io

_MICRON_UNITS = ("µm", "um", "micrometer", "micron", "micrometre")


def _pixel_size_um(meta: dict[str, Any]) -> float | None:
    record = meta.get("metadata") or {}
    if record.get("pixel_size_um"):
        return float(record["pixel_size_um"])
    scale, units = meta.get("scale"), meta.get("units")
    if scale is None or units is None or not len(scale):
        return None
    if str(units[-1]).lower() in _MICRON_UNITS and float(scale[-1]) != 1.0:
        return float(scale[-1])
    return None


def write_phase(path: str, data: Any, meta: dict) -> list[str]:
    """napari single-layer writer: returns the written path."""
    record = dict(meta.get("metadata") or {})
    record.setdefault("layer_name", meta.get("name"))
    px = _pixel_size_um(meta)
    if px is not None:
        record["pixel_size_um"] = px
    return [str(io.write_phase_tiff(path, data, record))]
