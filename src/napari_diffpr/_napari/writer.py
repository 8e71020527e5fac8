"""npe2 writer: an image layer (a phase map) to a float32 TIFF with its physical pixel size and
the layer's metadata (the reconstruction record) via napari_diffpr.io.write_phase_tiff.

``name.ome.tif`` writes OME-TIFF (PhysicalSizeX/Y in µm, the record as the image Description);
``name.tif`` an ImageJ hyperstack (Fiji reads the scale; the record is in Image > Show Info).
napari asks before replacing an existing file; the write itself is atomic (a failed write
leaves the previous file intact). RGB and multiscale layers are refused: they are not phase
maps."""
from __future__ import annotations

from typing import Any

from .. import io
from ..errors import InputError

_MICRON_UNITS = ("µm", "um", "micrometer", "micron", "micrometre", "\u00b5m")


def _pixel_size_um(meta: dict[str, Any]) -> float | None:
    record = meta.get("metadata") or {}
    px = io._positive_float(record.get("pixel_size_um")) if isinstance(record, dict) else None
    if px is not None:
        return px
    scale, units = meta.get("scale"), meta.get("units")
    if scale is None or units is None or not len(scale) or not len(units):
        return None
    value = io._positive_float(scale[-1])
    if str(units[-1]).lower() in _MICRON_UNITS and value is not None and value != 1.0:
        return value
    return None


def write_phase(path: str, data: Any, meta: dict) -> list[str]:
    """napari single-layer writer: returns the written path."""
    if meta.get("rgb") or meta.get("multiscale"):
        raise InputError(f"layer {meta.get('name')!r} is {'an RGB' if meta.get('rgb') else 'a multiscale'} image, "
                         "not a phase map; save it with napari's own TIFF writer instead")
    record = dict(meta.get("metadata") or {})
    record.setdefault("layer_name", meta.get("name"))
    px = _pixel_size_um(meta)
    if px is not None:
        record["pixel_size_um"] = px
    else:
        record.pop("pixel_size_um", None)
    return [str(io.write_phase_tiff(path, data, record))]
