"""Analytic test data for the retrieval tests, built independently of the package's simulator:
off-axis holograms of known phase maps and a chromatic focus stack by angular-spectrum
propagation."""
from __future__ import annotations

import numpy as np


def bump_phase(shape=(128, 144), height=3.0, sigma=12.0, centre=None) -> np.ndarray:
    """A smooth positive 'cell': a Gaussian of ``height`` rad and ``sigma`` px; smooth enough
    that any filter of radius >= 0.05 cycles/px keeps it intact."""
    h, w = shape
    cy, cx = centre if centre is not None else (h * 0.45, w * 0.55)
    y, x = np.mgrid[:h, :w]
    return (height * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma ** 2))).astype(np.float64)


def off_axis(phase, carrier, amplitude=None, reference_curvature=0.0, visibility=0.8, mean=100.0):
    """Hologram I = |O + R|^2 with O = A exp(i phase) and R = exp(-i 2 pi (fy y + fx x) + i c r^2)
    rescaled to a camera-like ``mean``; the object order then sits at +carrier in fftfreq
    units. Returns (hologram, background hologram)."""
    h, w = np.shape(phase)
    y, x = np.mgrid[:h, :w].astype(np.float64)
    fy, fx = carrier
    ref = np.exp(-2j * np.pi * (fy * y + fx * x)
                 + 1j * reference_curvature * ((y - h / 2) ** 2 + (x - w / 2) ** 2))
    amp = np.ones((h, w)) if amplitude is None else np.asarray(amplitude, dtype=np.float64)
    obj = amp * np.exp(1j * np.asarray(phase, dtype=np.float64))
    a = visibility / 2  # |a O + R|^2 = 1 + a^2 + 2a cos(...): visibility 2a / (1 + a^2) ~ v
    holo = np.abs(a * obj + ref) ** 2
    bg = np.abs(a + ref) ** 2
    return (mean * holo).astype(np.float32), (mean * bg).astype(np.float32)


def angular_spectrum(field, z_um, wavelength_um, pixel_size_um, n_medium=1.0):
    h, w = field.shape
    fy = np.fft.fftfreq(h, pixel_size_um)[:, None]
    fx = np.fft.fftfreq(w, pixel_size_um)[None, :]
    kn = n_medium / wavelength_um
    kz = np.sqrt(np.maximum(kn ** 2 - fy ** 2 - fx ** 2, 0.0)) - kn
    return np.fft.ifft2(np.fft.fft2(field) * np.exp(2j * np.pi * z_um * kz))


def focus_stack(opd_um, defocus_um, wavelengths_um, pixel_size_um, n_medium=1.0, gains=None):
    """Intensities (planes x H x W) of a thin object of optical path ``opd_um``, each plane at
    its own wavelength and defocus (coherent, monochromatic per plane)."""
    planes = []
    for i, (z, lam) in enumerate(zip(defocus_um, wavelengths_um)):
        field = np.exp(2j * np.pi * opd_um / lam)
        inten = np.abs(angular_spectrum(field, z, lam, pixel_size_um, n_medium)) ** 2
        planes.append(inten * (1.0 if gains is None else gains[i]))
    return np.stack(planes).astype(np.float32)


def smooth_opd(shape=(96, 96), pixel_size_um=0.25) -> np.ndarray:
    """A smooth cell-like optical path difference (µm): a round body and a small nucleus."""
    h, w = shape
    y, x = (np.mgrid[:h, :w] - np.array([h / 2, w / 2])[:, None, None]) * pixel_size_um
    return (0.12 * np.exp(-(x ** 2 + y ** 2) / (2 * 2.5 ** 2))
            + 0.05 * np.exp(-((x - 3) ** 2 + (y + 2.5) ** 2) / (2 * 1.0 ** 2)))


def rms(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a ** 2)))
