"""Multithreaded FFTs for the retrieval code (scipy.fft, which scikit-image already needs)."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np
import scipy.fft as _fft

# All cores: the transforms here are large enough that threading pays off.
WORKERS = max(1, os.cpu_count() or 1)
_local = threading.local()


def workers() -> int:
    """Threads for one transform: WORKERS, or 1 inside ``single_threaded()``."""
    return getattr(_local, "workers", None) or WORKERS


@contextmanager
def single_threaded():
    """One thread per transform in this thread: for work that already runs one frame per core
    (two frames of a stack at a time use the cores better than one frame on two threads)."""
    before = getattr(_local, "workers", None)
    _local.workers = 1
    try:
        yield
    finally:
        _local.workers = before


def next_fast_len(n: int) -> int:
    """Smallest size >= n that scipy transforms quickly (factors 2, 3, 5, 7, 11)."""
    return _fft.next_fast_len(int(n))


def rfft2(image: np.ndarray) -> np.ndarray:
    """Real-input 2-D FFT (half spectrum, H x (W//2 + 1)), complex64 for float32 input."""
    return _fft.rfft2(image, workers=workers())


def rfft(image: np.ndarray, axis: int) -> np.ndarray:
    return _fft.rfft(image, axis=axis, workers=workers())


def ifft2(spectrum: np.ndarray) -> np.ndarray:
    return _fft.ifft2(spectrum, workers=workers())


def fft(data: np.ndarray, axis: int, n: int | None = None) -> np.ndarray:
    """1-D FFT along ``axis``, zero-padded at the end to length ``n``."""
    return _fft.fft(data, n=n, axis=axis, workers=workers())


def ifft(spectrum: np.ndarray, axis: int, n: int | None = None, overwrite: bool = False) -> np.ndarray:
    """1-D inverse FFT along ``axis``, zero-padded at the end to length ``n``;
    ``overwrite`` lets scipy reuse the input's memory."""
    return _fft.ifft(spectrum, n=n, axis=axis, workers=workers(), overwrite_x=overwrite)


def fft2(image: np.ndarray) -> np.ndarray:
    return _fft.fft2(image, workers=workers())


def dctn(image: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II over both axes (the transform that diagonalises the Laplacian
    with Neumann, i.e. mirror, boundaries)."""
    return _fft.dctn(image, type=2, norm="ortho", workers=workers())


def idctn(coeffs: np.ndarray) -> np.ndarray:
    return _fft.idctn(coeffs, type=2, norm="ortho", workers=workers())
