"""Line profiles through image layers and their CSV form.

Sampling uses scikit-image's ``profile_line`` (order 1, mean over the line width) in each layer's
own data coordinates, so layers with different scales or offsets are sampled at the same place in
the world; the distance axis is in the layer's physical unit when its scale is known.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.measure import profile_line

from ..errors import InputError


@dataclass
class Profile:
    """Values along a line: ``distance`` from the start (in ``unit``) and ``values``."""

    name: str
    distance: np.ndarray
    values: np.ndarray
    unit: str = "px"


def unit_of(layer) -> str:
    """The unit of the layer's x axis as a user reads it: "µm", "nm", ... or "px"."""
    try:
        unit = str(layer.units[-1])
    except (AttributeError, IndexError):
        return "px"
    if float(layer.scale[-1]) == 1.0 and unit in ("pixel", "px", ""):
        return "px"
    return {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm"}.get(unit, unit)


def sample_profile(layer, start_world, end_world, width: float = 1.0, point_world=None) -> Profile:
    """Profile of ``layer`` from ``start_world`` to ``end_world`` (world coordinates, at least
    the layer's two spatial dims). For stacks, the frame is the one at ``point_world`` (the
    viewer's current position; the first frame when None). ``width``: line width in pixels."""
    data = np.asarray(layer.data)
    if data.ndim < 2 or getattr(layer, "rgb", False):
        raise InputError(f"layer {layer.name!r} is not a single-channel image; cannot profile it")
    nd = data.ndim

    def to_data(world):
        world = np.asarray(world, dtype=float)
        full = np.zeros(nd) if point_world is None else np.asarray(point_world, float)[-nd:].copy()
        full[-2:] = world[-2:]
        return np.asarray(layer.world_to_data(full), dtype=float)

    src, dst = to_data(start_world), to_data(end_world)
    index = tuple(int(np.clip(np.round(c), 0, s - 1)) for c, s in zip(src[:-2], data.shape[:-2]))
    frame = data[index] if index else data
    values = profile_line(np.asarray(frame, dtype=np.float64), src[-2:], dst[-2:], linewidth=width,
                          order=1, mode="reflect", reduce_func=np.mean)
    scale = np.asarray(layer.scale[-2:], dtype=float)
    length = float(np.hypot(*((dst[-2:] - src[-2:]) * scale)))
    distance = np.linspace(0.0, length, len(values))
    return Profile(layer.name, distance, np.asarray(values, dtype=np.float64), unit_of(layer))


def write_profiles_csv(path, profiles: list[Profile], value_unit: str = "rad") -> Path:
    """Long-format CSV: one row per sample (layer, distance, value); works for profiles of
    different lengths (layers with different pixel sizes)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["layer", "distance", "distance_unit", f"value_{value_unit}"])
        for prof in profiles:
            for d, v in zip(prof.distance, prof.values):
                writer.writerow([prof.name, repr(float(d)), prof.unit, repr(float(v))])
    return path


def read_profiles_csv(path) -> list[Profile]:
    """Read what :func:`write_profiles_csv` wrote, profiles in their original order."""
    path = Path(path)
    rows: dict[str, list] = {}
    units: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or header[:3] != ["layer", "distance", "distance_unit"]:
            raise InputError(f"{path} is not a napari-diffpr profile CSV (header {header!r}); "
                             "expected columns layer, distance, distance_unit, value_<unit>")
        for row in reader:
            name, d, unit, v = row
            rows.setdefault(name, []).append((float(d), float(v)))
            units[name] = unit
    return [Profile(n, np.array([r[0] for r in rs]), np.array([r[1] for r in rs]), units[n])
            for n, rs in rows.items()]
