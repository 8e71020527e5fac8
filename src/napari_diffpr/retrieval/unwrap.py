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


def unwrap(wrapped: np.ndarray, method: str = "skimage") -> np.ndarray:
    """Unwrap ``wrapped`` (radians, H x W) with "skimage", "lsq" or "none" (returned as is)."""
    if method == "none":
        return np.asarray(wrapped, dtype=np.float32)
    if method == "lsq":
        return unwrap_lsq(wrapped)
    if method == "skimage":
        from skimage.restoration import unwrap_phase

        return np.asarray(unwrap_phase(np.asarray(wrapped, dtype=np.float32)), dtype=np.float32)
    raise ParameterError(f"unwrap must be one of {', '.join(map(repr, UNWRAP_CHOICES))}; got {method!r}")
