"""Cells of known dry mass, for testing measurements against analytic truth.

A homogeneous sphere of radius r and refractive index n_cell in a medium of index n_medium
projects the phase ``φ(ρ) = (2π/λ) (n_cell − n_medium) · 2 sqrt(r² − ρ²)`` (ρ the distance from
its centre in the image plane); its dry mass is ``m = (n_cell − n_medium) · V / α`` with
``V = 4/3 π r³`` and α the specific refraction increment (µm³/pg = mL/g), Barer, *Nature* 169,
366 (1952); Popescu et al., *Am. J. Physiol. Cell Physiol.* 295, C538 (2008). With
``∫φ dA = (2π/λ) Δn V`` this is the same as ``m = λ/(2πα) ∫φ dA``, the formula
:func:`napari_diffpr.measure` applies to measured phase.

:func:`defocused_hologram` records a phase object with the camera focused ``distance_um`` away
from it (the in-focus field propagated by the angular spectrum in the medium), so refocusing and
autofocus can be tested against a known distance.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .units import DEFAULT_ALPHA_UM3_PER_PG


def sphere_phase(shape, centers_um, radii_um, *, n_cell: float = 1.37, n_medium: float = 1.335,
                 wavelength_um: float = 0.532, pixel_size_um: float = 0.2, supersample: int = 5):
    """Projected phase (float32, radians) of homogeneous spheres, each pixel the mean over a
    ``supersample``² grid inside it (so the rim is integrated, not point-sampled).
    ``centers_um``: (y, x) per sphere, µm from the image's top-left corner; ``radii_um`` per
    sphere. Overlapping spheres add up (as their optical paths do)."""
    h, w = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    if len(centers_um) != len(radii_um):
        raise ParameterError("give one radius per centre")
    s = int(supersample)
    off = (np.arange(s) + 0.5) / s - 0.5
    yy = (np.arange(h)[:, None] + off[None, :]).ravel() * pixel_size_um
    xx = (np.arange(w)[:, None] + off[None, :]).ravel() * pixel_size_um
    k = 2.0 * math.pi / wavelength_um * (n_cell - n_medium)
    phase = np.zeros((h * s, w * s), dtype=np.float64)
    for (cy, cx), r in zip(centers_um, radii_um):
        # only the bounding box of each sphere
        y0, y1 = np.searchsorted(yy, cy - r), np.searchsorted(yy, cy + r)
        x0, x1 = np.searchsorted(xx, cx - r), np.searchsorted(xx, cx + r)
        d2 = (yy[y0:y1, None] - cy) ** 2 + (xx[None, x0:x1] - cx) ** 2
        phase[y0:y1, x0:x1] += k * 2.0 * np.sqrt(np.clip(r * r - d2, 0.0, None))
    return phase.reshape(h, s, w, s).mean(axis=(1, 3)).astype(np.float32)


def sphere_dry_mass_pg(radius_um: float, *, n_cell: float = 1.37, n_medium: float = 1.335,
                       alpha: float = DEFAULT_ALPHA_UM3_PER_PG) -> float:
    """Dry mass (pg) of a homogeneous sphere: ``(n_cell − n_medium) · 4/3 π r³ / α``."""
    return (n_cell - n_medium) * (4.0 / 3.0) * math.pi * radius_um ** 3 / alpha


def defocused_field(phase, distance_um: float, *, wavelength_um: float, pixel_size_um: float,
                    medium_index: float = 1.333, amplitude=None) -> np.ndarray:
    """The object field ``A·exp(iφ)`` propagated by ``distance_um`` (positive = downstream):
    what a camera focused ``distance_um`` beyond the sample records (complex64, H x W)."""
    from .propagation import propagate

    amp = 1.0 if amplitude is None else np.asarray(amplitude, dtype=np.float32)
    field = (amp * np.exp(1j * np.asarray(phase, dtype=np.float64))).astype(np.complex64)
    if distance_um == 0:
        return field
    return propagate(field, float(distance_um), wavelength_um, pixel_size_um, medium_index)


def defocused_hologram(phase, distance_um: float, *, wavelength_um: float = 0.532, pixel_size_um: float = 0.2,
                       medium_index: float = 1.333, **hologram_kwargs):
    """An off-axis hologram (:func:`napari_diffpr.simulate.hologram`, same keyword arguments)
    of ``phase`` recorded ``distance_um`` out of focus."""
    from .simulate import hologram

    field = defocused_field(phase, distance_um, wavelength_um=wavelength_um, pixel_size_um=pixel_size_um,
                            medium_index=medium_index)
    return hologram(np.angle(field).astype(np.float32), np.abs(field).astype(np.float32),
                    wavelength_um=wavelength_um, pixel_size_um=pixel_size_um, **hologram_kwargs)
