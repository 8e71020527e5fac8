"""Off-axis hologram demodulation: filter the +1 order, move it to zero frequency and
transform back to a complex object field at the input's H x W (see ``demodulate``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .fftutil import ifft
from .filters import filter_extent, sideband_filter
from .rowblocks import for_row_blocks
from .sideband import Sideband
from .spectrum import HalfRows

EDGE_MARGIN_KERNELS = 2.0  # zero margin per side, in units of 1 / filter radius (px)


@dataclass(frozen=True)
class FilterSpec:
    """Which window, and its radius in cycles/pixel."""

    shape: str
    radius: float


def filter_radius(sideband: Sideband, filter_size: float = 0.5, *,
                  numerical_aperture: float | None = None, wavelength_um: float | None = None,
                  pixel_size_um: float | None = None) -> float:
    """Filter radius in cycles/pixel: ``filter_size`` x the sideband distance, or - when a
    numerical aperture is given - the objective's cut-off NA / wavelength expressed per
    pixel (NA x pixel size / wavelength, pixel size in the sample plane)."""
    if numerical_aperture is None:
        if not 0 < filter_size <= 1:
            raise ParameterError(f"filter_size must be in (0, 1] (a fraction of the sideband distance), got {filter_size}")
        return float(filter_size) * sideband.distance
    missing = [n for n, v in (("wavelength", wavelength_um), ("pixel_size", pixel_size_um)) if v is None]
    if missing:
        raise ParameterError(f"a filter radius from the numerical aperture also needs {' and '.join(missing)} "
                             "(in µm, pixel size in the sample plane)")
    radius = numerical_aperture * pixel_size_um / wavelength_um
    if radius >= sideband.distance:
        raise ParameterError(
            f"NA {numerical_aperture} at {wavelength_um} µm with {pixel_size_um} µm pixels gives a filter "
            f"radius of {radius:.4f} cycles/pixel, beyond the sideband distance {sideband.distance:.4f}: "
            "the sideband overlaps the central band (carrier too slow for this NA), so the object "
            "field cannot be separated; use filter_size instead or check the values")
    return float(radius)


def twin_limit(sideband: Sideband) -> float:
    """Largest filter radius (cycles/pixel) that keeps clear of the twin (-1) order: the
    twin sits at -k and, near the Nyquist frequency, also at its aliases -k + (m, n), so
    the limit is half the distance from +k to the nearest of them."""
    k = np.array([sideband.fy, sideband.fx])
    shifts = np.array([(m, n) for m in (-1, 0, 1) for n in (-1, 0, 1)], dtype=float)
    return float(np.min(np.hypot(*(2 * k[None, :] - shifts).T)) / 2)


def edge_margin(radius: float) -> int:
    """Zero margin (px) added around the hologram: a few widths of the filter's kernel."""
    return int(math.ceil(EDGE_MARGIN_KERNELS / radius))


def demodulate(spectrum: HalfRows, sideband: Sideband, spec: FilterSpec) -> np.ndarray:
    """Complex field (complex64, input's H x W) carried by ``sideband`` of the hologram
    whose row spectra are ``spectrum`` (built with ``edge_margin``). A sideband in the
    other half plane returns the conjugate field.

    The block of the spectrum around the sideband is filtered with the window centred on
    the exact (sub-bin) sideband and moved by whole bins to zero frequency, wrapping around
    it as an FFT grid does. Two pruned inverse FFTs bring it back: along y for the block's
    columns only, then along x for every row, in place in the zero-filled output. The
    carrier's sub-bin remainder is then removed in real space, so no tilt is left.
    Output size: zero-padding the block back to the full grid is exact band-limited
    (sinc) interpolation, cheaper than resizing a cropped inverse FFT with scipy.ndimage
    (20-65 ms at 1024^2 for linear to cubic), which would also attenuate the band edge. The
    zero margins make the filter a linear convolution, so edge pixels average their own
    neighbourhood (as qpretrieve's padding does) instead of mixing in the opposite edge."""
    sb, conjugate = sideband.canonical()
    h0, w0 = spectrum.input_shape
    h, w = spectrum.shape
    ky0, kx0 = int(round(sb.fy * h)), int(round(sb.fx * w))
    ext = filter_extent(spec.shape, spec.radius)
    ry = min(int(math.ceil(ext * h)) + 1, (h - 1) // 2)
    rx = min(int(math.ceil(ext * w)) + 1, (w - 1) // 2)
    oy, ox = np.arange(-ry, ry + 1), np.arange(-rx, rx + 1)
    band = spectrum.block(ky0 + oy, kx0 + ox)  # [ky offset -ry..ry, kx offset -rx..rx]
    band *= sideband_filter(spec.shape, (ky0 + oy) / h - sb.fy, (kx0 + ox) / w - sb.fx, spec.radius)
    dy, dx = sb.fy - ky0 / h, sb.fx - kx0 / w
    # Inverse along y for the block's columns: offsets -ry..ry sit at rows oy mod h.
    cols = np.zeros((h, band.shape[1]), dtype=np.complex64)
    cols[:ry + 1], cols[h - ry:] = band[ry:], band[:ry]
    cols = ifft(cols, axis=0, overwrite=True)[:h0]
    cols *= _ramp(dy, h0)[:, None]
    # Inverse along x for every row, in place in the zero-filled full-width output.
    out = np.zeros((h0, w), dtype=np.complex64)
    out[:, :rx + 1], out[:, w - rx:] = cols[:, rx:], cols[:, :rx]
    out = ifft(out, axis=1, overwrite=True)
    field = out[:, :w0]
    ramp = _ramp(dx, w0)[None, :]

    def finish(rows: slice) -> None:
        block = field[rows]
        block *= ramp
        if conjugate:
            np.conjugate(block, out=block)

    for_row_blocks(finish, h0)
    return field


def _ramp(d: float, n: int) -> np.ndarray:
    """exp(-2 pi i d x), x = 0..n-1, complex64 (computed in float64: no drift across the frame)."""
    return np.exp(-2j * np.pi * d * np.arange(n, dtype=np.float64)).astype(np.complex64)


def phase_and_amplitude(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped phase (float32, radians) and |field| of a complex64 field, row blocks in
    parallel (the full-size element-wise steps cost as much as the FFTs on one core)."""
    phase = np.empty(field.shape, dtype=np.float32)
    amplitude = np.empty(field.shape, dtype=np.float32)

    def work(rows: slice) -> None:
        block = field[rows]
        np.arctan2(block.imag, block.real, out=phase[rows])  # = np.angle, written in place
        np.abs(block, out=amplitude[rows])

    for_row_blocks(work, field.shape[0])
    return phase, amplitude


def divide_background(field: np.ndarray, background_field: np.ndarray) -> np.ndarray:
    """Object field / sample-free field: removes the reference wave's tilt, curvature and
    dust fringes. Pixels where the background field vanishes are left at zero."""
    mag2 = (background_field.real ** 2 + background_field.imag ** 2)
    floor = np.float32(1e-12) * float(mag2.max())
    out = field * np.conj(background_field) / np.maximum(mag2, floor)
    return out.astype(np.complex64, copy=False)
