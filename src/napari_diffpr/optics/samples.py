"""What the single-image forward models return (NumPy, float32)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class HologramSample:
    """An off-axis hologram and everything known about how it was made.

    ``hologram``/``background``: (H, W) float32 camera frames (ADC codes, or electrons when
    ``bit_depth`` is None, or noise-free intensity with mean 1 when ``photons`` is None).
    ``phase``: ground truth in radians, band-limited by the pupil — what a perfect retrieval with
    that pupil reaches. ``phase_true``: the raw phantom. ``amplitude``: band-limited amplitude.
    ``meta``: every parameter (carrier, pupil, visibility, noise, wavelength_um, pixel_size_um ...)."""

    hologram: np.ndarray
    background: np.ndarray
    phase: np.ndarray
    phase_true: np.ndarray
    amplitude: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RGBSample:
    """A chromatic single-exposure brightfield image: ``image`` (H, W, 3) float32, R, G, B last,
    empty background ≈ 1 per channel; ``phase`` the ground truth in radians at
    ``meta["reference_wavelength_um"]``; ``meta`` every parameter (all lengths in µm)."""

    image: np.ndarray
    phase: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
