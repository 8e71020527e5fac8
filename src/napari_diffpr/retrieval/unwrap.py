"""Phase unwrapping: scikit-image's reliability-guided unwrapper, and a fast least-squares
unwrapper solved with DCTs (Ghiglia & Romero 1994), both on radians."""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .fftutil import dctn, idctn

UNWRAP_CHOICES = ("skimage", "lsq", "none")

_TWO_PI = np.float32(2 * np.pi)


def wrap(phase: np.ndarray) -> np.ndarray:
    """Wrap radians into [-pi, pi] (subtracting the nearest multiple of 2 pi: several times
    faster than a floating-point modulo)."""
    phase = np.asarray(phase, dtype=np.float32)
    return phase - _TWO_PI * np.round(phase * np.float32(1 / (2 * np.pi)))


def unwrap_lsq(wrapped: np.ndarray, congruent: bool = True) -> np.ndarray:
    """Least-squares unwrapping: the phase whose gradient best matches the wrapped phase
    differences, from one Poisson solve with mirror (Neumann) boundaries via DCT.

    Exact for phase maps without residues (neighbour jumps below pi); around noise residues
    it spreads the error smoothly instead of leaving 2 pi cuts. ``congruent`` snaps the
    result onto wrapped + 2 pi n so the fine detail comes from the measurement itself.
    Returned with the same mean offset convention as the input's first pixel."""
    psi = np.asarray(wrapped, dtype=np.float32)
    h, w = psi.shape
    gx = np.zeros_like(psi)
    gy = np.zeros_like(psi)
    gx[:, :-1] = wrap(np.diff(psi, axis=1))
    gy[:-1, :] = wrap(np.diff(psi, axis=0))
    # Divergence of the wrapped gradient (backward differences, zero flux at the edges).
    rho = gx.copy()
    rho[:, 1:] -= gx[:, :-1]
    rho += gy
    rho[1:, :] -= gy[:-1, :]
    coeffs = dctn(rho)  # float32: ample for phase maps, 3x faster than float64
    ky = np.cos(np.pi * np.arange(h, dtype=np.float32) / h)[:, None]
    kx = np.cos(np.pi * np.arange(w, dtype=np.float32) / w)[None, :]
    denom = 2 * ky + 2 * kx - 4
    denom[0, 0] = 1.0
    coeffs /= denom
    coeffs[0, 0] = 0.0
    phi = idctn(coeffs).astype(np.float32)
    if congruent:
        phi = psi + _TWO_PI * np.round((phi - psi) / _TWO_PI)
    return phi - (phi[0, 0] - psi[0, 0])


def snap_to_guide(wrapped: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """wrapped + 2 pi n with n chosen per pixel so the result is nearest to ``guide``
    (any estimate of the unwrapped phase that is within pi everywhere)."""
    wrapped = np.asarray(wrapped, dtype=np.float32)
    return wrapped + _TWO_PI * np.round((guide - wrapped) * np.float32(1 / (2 * np.pi)))


def unwrap_skimage(wrapped: np.ndarray, step: int = 1) -> np.ndarray:
    """scikit-image's reliability-guided unwrapper. With ``step`` > 1 it runs on every
    ``step``-th pixel and the full-resolution result is snapped to that (nearest-neighbour
    upsampled) guide: exact as long as the phase changes by less than pi between coarse
    neighbours and between a pixel and its guide sample (see ``guide_step``).
    step**2 times less work for the slow part."""
    from skimage.restoration import unwrap_phase

    wrapped = np.asarray(wrapped, dtype=np.float32)
    if step <= 1:
        return np.asarray(unwrap_phase(wrapped), dtype=np.float32)
    coarse = np.asarray(unwrap_phase(wrapped[::step, ::step]), dtype=np.float32)
    h, w = wrapped.shape
    # nearest-neighbour upsampling by indexing: exactly h x w (repeating first made step x step
    # copies of each coarse pixel before cropping: 3.4 GB at 256² for a huge step)
    guide = coarse[(np.arange(h) // step)[:, None], (np.arange(w) // step)[None, :]]
    return snap_to_guide(wrapped, guide)


def guide_step(band_limit: float) -> int:
    """Subsampling step for ``unwrap_skimage`` when the phase's local frequency stays below
    ``band_limit`` cycles/pixel (its gradient below 2 pi band_limit rad/px): coarse
    neighbours then differ by < 2 pi band_limit step and a pixel from its guide sample by
    < 2 pi band_limit (step - 1) sqrt(2); step = 0.35 / band_limit keeps both below
    0.7 pi, a 30 % margin to the pi that unwrapping needs."""
    if not band_limit > 0:
        return 1
    return max(1, int(0.35 / band_limit))


def unwrap(wrapped: np.ndarray, method: str = "skimage", band_limit: float | None = None) -> np.ndarray:
    """Unwrap ``wrapped`` (radians, H x W) with "skimage", "lsq" or "none" (returned as is).
    ``band_limit``: the phase's known band limit in cycles/pixel (e.g. the Fourier filter's
    radius), which lets "skimage" work on a subsampled grid (see ``unwrap_skimage``)."""
    if method == "none":
        return np.asarray(wrapped, dtype=np.float32)
    if method == "lsq":
        return unwrap_lsq(wrapped)
    if method == "skimage":
        return unwrap_skimage(wrapped, guide_step(band_limit) if band_limit else 1)
    raise ParameterError(f"unwrap must be one of {', '.join(map(repr, UNWRAP_CHOICES))}; got {method!r}")
