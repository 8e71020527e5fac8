"""The parts of a real image's 2-D spectrum that off-axis demodulation needs, without
computing the rest.

``HalfRows`` holds the row-wise real FFT of the (mean-removed, zero-margined) image; any
column of the full 2-D spectrum is then one short FFT along y away (``block``). A sideband
filter touches ~20-40 % of the columns, so this costs about half of a full ``rfft2``, and the
same object serves the sub-bin peak refinement and the filtering.
"""
from __future__ import annotations

import numpy as np

from .fftutil import fft, next_fast_len, rfft


class HalfRows:
    """Row-wise rfft of ``image`` (H0 x W0) after removing its mean and adding at least
    ``margin`` zero pixels after each axis (so a filter acts as a linear, not circular,
    convolution: pixels near an edge never mix with the opposite edge). The padded grid is
    ``shape`` = (H, W), sizes chosen for fast FFTs; frequencies stay in cycles/pixel."""

    def __init__(self, image: np.ndarray, margin: int = 0):
        image = np.asarray(image, dtype=np.float32)
        self.input_shape = h0, w0 = image.shape
        margin = max(0, int(margin))
        self.shape = (next_fast_len(h0 + 2 * margin) if margin else h0,
                      next_fast_len(w0 + 2 * margin) if margin else w0)
        w = self.shape[1]
        buf = np.empty((h0, w), dtype=np.float32)  # zero only the margin, not everything
        np.subtract(image, np.float32(image.mean()), out=buf[:, :w0])
        buf[:, w0:] = 0
        self.rows = rfft(buf, axis=1)  # H0 x (W // 2 + 1), complex64

    @classmethod
    def batch(cls, images: np.ndarray, margin: int = 0) -> list["HalfRows"]:
        """HalfRows of every frame of an N x H0 x W0 stack from ONE batched row FFT (issue 12);
        each equals ``HalfRows(images[i], margin)`` bit for bit (same mean, same 1-D transforms)."""
        images = np.asarray(images, dtype=np.float32)
        n, h0, w0 = images.shape
        margin = max(0, int(margin))
        shape = (next_fast_len(h0 + 2 * margin) if margin else h0, next_fast_len(w0 + 2 * margin) if margin else w0)
        buf = np.empty((n, h0, shape[1]), dtype=np.float32)
        for i in range(n):  # the per-frame mean exactly as __init__ computes it
            np.subtract(images[i], np.float32(images[i].mean()), out=buf[i, :, :w0])
        buf[:, :, w0:] = 0
        rows = rfft(buf, axis=2)
        out = []
        for i in range(n):
            hr = cls.__new__(cls)
            hr.input_shape, hr.shape, hr.rows = (h0, w0), shape, rows[i]
            out.append(hr)
        return out

    def block(self, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        """The full 2-D spectrum at rows ``ky`` and columns ``kx`` (integer indices, may be
        negative or past the stored half): a len(ky) x len(kx) array. Only the columns the
        block needs are transformed along y, in one strided FFT over a view of the row
        spectra (no gather, no transpose). Columns outside the stored half come from Hermitian
        symmetry, F[ky, kx] = conj(F[-ky, -kx]), which is what lets carriers along y (a
        sideband straddling kx = 0) be filtered like any other."""
        h, w = self.shape
        ky, c = np.asarray(ky), np.asarray(kx) % w
        direct = c <= w // 2
        stored = np.where(direct, c, (w - c) % w)
        lo, hi = int(stored.min()), int(stored.max()) + 1
        spec = fft(self.rows[:, lo:hi], axis=0, n=h)  # zero-padded to h
        out = spec[np.ix_(ky % h, stored - lo)]
        if not direct.all():
            out[:, ~direct] = np.conj(spec[np.ix_((-ky) % h, stored[~direct] - lo)])
        return out
