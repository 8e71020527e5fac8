"""Multithreaded FFTs for the retrieval code (scipy.fft, which scikit-image already needs)."""
from __future__ import annotations

import os

import numpy as np
import scipy.fft as _fft

# All cores: the transforms here are large enough that threading pays off.
WORKERS = max(1, os.cpu_count() or 1)


def rfft2(image: np.ndarray) -> np.ndarray:
    """Real-input 2-D FFT (half spectrum, H x (W//2 + 1)), complex64 for float32 input."""
    return _fft.rfft2(image, workers=WORKERS)


def ifft2(spectrum: np.ndarray) -> np.ndarray:
    return _fft.ifft2(spectrum, workers=WORKERS)


def fft2(image: np.ndarray) -> np.ndarray:
    return _fft.fft2(image, workers=WORKERS)


def dctn(image: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II over both axes (the transform that diagonalises the Laplacian
    with Neumann, i.e. mirror, boundaries)."""
    return _fft.dctn(image, type=2, norm="ortho", workers=WORKERS)


def idctn(coeffs: np.ndarray) -> np.ndarray:
    return _fft.idctn(coeffs, type=2, norm="ortho", workers=WORKERS)


def spectrum_block(half: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   shape: tuple[int, int]) -> np.ndarray:
    """Entries (rows x cols, integer frequency indices, may be negative) of the full 2-D
    spectrum of a real H x W image, read from its rfft2 half spectrum ``half``.

    Columns outside the stored half come from Hermitian symmetry,
    F[ky, kx] = conj(F[-ky, -kx]); this is what lets the sideband search and the filter
    work for carriers in any direction, including purely along y (where the sideband
    straddles kx = 0)."""
    h, w = shape
    rows = np.asarray(rows) % h
    cols = np.asarray(cols) % w
    out = np.empty((rows.size, cols.size), dtype=half.dtype)
    direct = cols <= w // 2
    if direct.any():
        out[:, direct] = half[np.ix_(rows, cols[direct])]
    if not direct.all():
        out[:, ~direct] = np.conj(half[np.ix_((-rows) % h, (w - cols[~direct]) % w)])
    return out
