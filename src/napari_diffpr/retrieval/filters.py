"""Fourier-space windows that isolate the +1 diffraction order of an off-axis hologram.

All sizes are in normalised spatial frequency (cycles per pixel, the units of
``numpy.fft.fftfreq``), so a filter means the same thing on any image size.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

FILTER_SHAPES = ("disk", "smooth disk", "gauss", "tukey", "square")

# Shape constants (our choices, documented so results are reproducible):
_SMOOTH_EDGE = 0.2   # "smooth disk": edge blurred by a Gaussian of sigma = 0.2 * radius
_GAUSS_SIGMA = 0.6   # "gauss": sigma = 0.6 * radius (about the same pass band as the disk)
_TUKEY_ALPHA = 0.2   # "tukey": the outer 20 % of each half-width tapers with a cosine


def filter_extent(shape: str, radius: float) -> float:
    """Half-width (cycles/pixel) outside which the filter is (practically) zero; the
    spectrum is cropped to this box so the inverse FFT never sees more than it needs."""
    if shape == "smooth disk":
        return radius * (1.0 + 3.5 * _SMOOTH_EDGE)
    if shape == "gauss":
        return radius * _GAUSS_SIGMA * 3.5  # weight exp(-6.1) = 0.002 at the crop edge
    return radius


def _tukey_1d(d: np.ndarray, half_width: float) -> np.ndarray:
    """1-D Tukey window as a function of the distance ``d`` from its centre."""
    a = np.abs(d) / half_width  # 0 at the centre, 1 at the edge
    flat = 1.0 - _TUKEY_ALPHA
    out = np.where(a <= flat, 1.0, 0.5 * (1.0 + np.cos(np.pi * (a - flat) / _TUKEY_ALPHA)))
    return np.where(a <= 1.0, out, 0.0)


def sideband_filter(shape: str, dfy: np.ndarray, dfx: np.ndarray, radius: float) -> np.ndarray:
    """Filter weights (float32, maximum 1) at frequency offsets ``dfy`` (column vector) and
    ``dfx`` (row vector) from the sideband centre, all in cycles/pixel.

    shape: "disk" (hard circle of ``radius``), "smooth disk" (circle with a Gaussian-blurred
    edge, fewer ringing artefacts), "gauss" (Gaussian, sigma = 0.6 x radius), "tukey"
    (square with cosine-tapered edges, half-width ``radius``), "square" (hard square,
    half-width ``radius``).
    """
    if shape not in FILTER_SHAPES:
        raise ParameterError(f"filter shape must be one of {', '.join(map(repr, FILTER_SHAPES))}; got {shape!r}")
    if not radius > 0:
        raise ParameterError(f"filter radius must be > 0 cycles/pixel, got {radius!r}")
    dfy = np.asarray(dfy, dtype=np.float64).reshape(-1, 1)
    dfx = np.asarray(dfx, dtype=np.float64).reshape(1, -1)
    if shape in ("square", "tukey"):
        if shape == "square":
            w = (np.abs(dfy) <= radius) & (np.abs(dfx) <= radius)
        else:
            w = _tukey_1d(dfy, radius) * _tukey_1d(dfx, radius)
        return w.astype(np.float32)
    rho = np.sqrt(dfy ** 2 + dfx ** 2)
    if shape == "disk":
        w = rho <= radius
    elif shape == "smooth disk":
        # A disk convolved with a Gaussian has (for sigma << radius) this erfc edge profile.
        sigma = _SMOOTH_EDGE * radius
        from scipy.special import erfc  # scipy comes with scikit-image

        w = 0.5 * erfc((rho - radius) / (math.sqrt(2.0) * sigma))
        w /= w.max()
    else:  # gauss
        sigma = _GAUSS_SIGMA * radius
        w = np.exp(-rho ** 2 / (2.0 * sigma ** 2))
    return np.asarray(w, dtype=np.float32)
