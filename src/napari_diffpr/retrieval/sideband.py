"""Finding the +1 order (the sideband) of an off-axis hologram, for carriers in any direction.

A real hologram's spectrum holds the sideband twice (+k and its conjugate at -k); we report
the one in the half plane fx > 0 (or fy > 0 on the fx = 0 axis). Which of the two carries
the object field rather than its conjugate is a sign question, settled later
(background.choose_sign). Frequencies are in cycles per pixel (numpy.fft.fftfreq units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ParameterError, RetrievalError
from .fftutil import rfft2
from .spectrum import HalfRows

# Carriers slower than this (a fringe period above 1/0.03 = 33 px) cannot be told apart
# from the object's own low frequencies and the illumination profile.
MIN_CARRIER = 0.03
# The sideband must stand this far above the median spectrum magnitude of the search region
# (pure noise reaches ~4-5x on a 256^2 spectrum).
MIN_PROMINENCE = 8.0
_SEARCH_SIZE = 256  # the coarse search uses a central crop of at most this size


@dataclass(frozen=True)
class Sideband:
    """Sideband centre ``(fy, fx)`` in cycles/pixel and how clearly it stood out
    (``prominence``: peak / median spectrum magnitude; None when given by the user)."""

    fy: float
    fx: float
    prominence: float | None = None

    @property
    def distance(self) -> float:
        """Distance from the zero frequency, cycles/pixel."""
        return math.hypot(self.fy, self.fx)

    @property
    def fringe_period_px(self) -> float:
        return 1.0 / self.distance

    def canonical(self) -> tuple["Sideband", bool]:
        """The equivalent sideband in the half plane we read (fx > 0, or fx == 0 and
        fy > 0) and whether the field must be conjugated to match the one asked for."""
        if self.fx > 0 or (self.fx == 0 and self.fy > 0):
            return self, False
        return Sideband(-self.fy, -self.fx, self.prominence), True


def check_sideband(sideband, shape: tuple[int, int]) -> Sideband:
    """Validate a user-given sideband ``(fy, fx)`` in cycles/pixel."""
    fy, fx = (float(v) for v in sideband)
    d = math.hypot(fy, fx)
    if not (abs(fy) < 0.5 and abs(fx) < 0.5):
        raise ParameterError(f"sideband {(fy, fx)} lies outside the spectrum; each component must be "
                             "between -0.5 and 0.5 cycles/pixel (0.5 = the Nyquist frequency)")
    if d < MIN_CARRIER:
        raise ParameterError(f"sideband {(fy, fx)} is {d:.4f} cycles/pixel from zero; at least "
                             f"{MIN_CARRIER} is needed (a fringe period below {1 / MIN_CARRIER:.0f} px)")
    return Sideband(fy, fx, None)


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


@lru_cache(maxsize=8)
def _search_grid(ch: int, cw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """fy (column), fx (row), radius and the searched half plane of a ch x cw rfft2."""
    fy = np.fft.fftfreq(ch)[:, None]
    fx = np.fft.rfftfreq(cw)[None, :]
    rho = np.sqrt(fy ** 2 + fx ** 2)
    valid = (rho >= MIN_CARRIER) & ((fx > 0) | (fy > 0))
    for a in (fy, fx, rho, valid):
        a.setflags(write=False)
    return fy, fx, rho, valid


def _coarse_peak(hologram: np.ndarray) -> tuple[float, float, float]:
    """Peak of a windowed spectrum of the central crop: (fy, fx, prominence)."""
    h, w = hologram.shape
    ch, cw = min(h, _SEARCH_SIZE), min(w, _SEARCH_SIZE)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = hologram[y0:y0 + ch, x0:x0 + cw]
    # The window stops the image edges from smearing energy along the axes, so we need not
    # blank the axes (which is why qpretrieve misses carriers along x or y).
    crop = (crop - crop.mean()) * _hann(ch)[:, None] * _hann(cw)[None, :]
    mag = np.abs(rfft2(crop))
    fy, fx, rho, valid = _search_grid(ch, cw)
    search = np.where(valid, mag, 0.0)
    iy, ix = np.unravel_index(int(np.argmax(search)), search.shape)
    median = float(np.median(mag[valid][::3]))  # every 3rd value: plenty for a noise floor
    prominence = float(search[iy, ix]) / median if median > 0 else float("inf")
    on_edge = rho[iy, ix] < MIN_CARRIER + 2.5 / min(ch, cw)
    if on_edge or not prominence >= MIN_PROMINENCE:
        why = ("the spectrum only falls off from the centre (no separate peak)" if on_edge else
               f"the strongest peak is only {prominence:.1f}x the median spectrum (>= {MIN_PROMINENCE} needed)")
        raise RetrievalError(
            "no off-axis sideband found: " + why + ". Is this an off-axis hologram with visible "
            "interference fringes (period 2-33 px)? If the fringes are there, give the sideband "
            "position yourself with sideband=(fy, fx) in cycles/pixel.")
    return float(fy[iy, 0]), float(fx[0, ix]), prominence


def _parabolic_offset(m_minus: float, m0: float, m_plus: float) -> float:
    """Sub-bin offset of a peak from three log-magnitudes (a Gaussian peak is exact)."""
    denom = m_minus - 2.0 * m0 + m_plus
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (m_minus - m_plus) / denom, -0.5, 0.5))


def refine_peak(spectrum: HalfRows, fy: float, fx: float, radius_bins: int) -> tuple[float, float]:
    """Refine a sideband estimate on the full-resolution spectrum: the largest magnitude
    within ``radius_bins`` bins of (fy, fx), then a sub-bin parabolic fit of the
    log-magnitude along each axis."""
    h, w = spectrum.shape
    ky0, kx0 = int(round(fy * h)), int(round(fx * w))
    offsets = np.arange(-radius_bins - 1, radius_bins + 2)
    mag = np.abs(spectrum.block(ky0 + offsets, kx0 + offsets)).astype(np.float64)  # [ky, kx]
    inner = mag[1:-1, 1:-1]
    iy, ix = np.unravel_index(int(np.argmax(inner)), inner.shape)
    iy, ix = iy + 1, ix + 1
    logm = np.log(mag + 1e-30)
    dy = _parabolic_offset(logm[iy - 1, ix], logm[iy, ix], logm[iy + 1, ix])
    dx = _parabolic_offset(logm[iy, ix - 1], logm[iy, ix], logm[iy, ix + 1])
    return (ky0 + offsets[iy] + dy) / h, (kx0 + offsets[ix] + dx) / w


def coarse_sideband(hologram: np.ndarray) -> Sideband:
    """Sideband position to within one bin of a (<= 256 px) central crop, with its
    prominence; raises RetrievalError when there is no clear peak."""
    fy, fx, prominence = _coarse_peak(np.asarray(hologram, dtype=np.float32))
    return Sideband(fy, fx, prominence)


def refine_radius(shape: tuple[int, int], padded_shape: tuple[int, int]) -> int:
    """Bins to search around a coarse estimate: one coarse bin spans this many fine bins."""
    return int(math.ceil(max(padded_shape) / min(min(shape), _SEARCH_SIZE))) + 1


def detect_sideband(hologram: np.ndarray, spectrum: HalfRows | None = None) -> Sideband:
    """Find the sideband of ``hologram`` (H x W) to a fraction of a frequency bin.
    ``spectrum``: its HalfRows if already computed. Raises RetrievalError when there is no
    clear peak."""
    hologram = np.asarray(hologram, dtype=np.float32)
    coarse = coarse_sideband(hologram)
    if spectrum is None:
        spectrum = HalfRows(hologram)
    fy, fx = refine_peak(spectrum, coarse.fy, coarse.fx, refine_radius(hologram.shape, spectrum.shape))
    return Sideband(float(fy), float(fx), coarse.prominence).canonical()[0]
