"""Transport-of-intensity (TIE) phase retrieval for a focus stack whose planes may each have
their own wavelength - in particular the chromatic single-exposure RGB image of seed 001,
where the microscope's chromatic focal shift puts R, G and B at different defocus.

Optical-path form. For a thin object of optical path difference OPD(x, y) (µm) in a medium of
index n, paraxial propagation of any wavelength gives

    n * dI/dz = -div(I grad OPD)

(the wavelength cancels: phase = 2 pi OPD / lambda and the propagation phase is
lambda z f^2 / n). Every channel therefore samples the same dI/dz, whatever its colour, so
the axial derivative is the least-squares slope of the normalised intensities against the
channels' defocus, and the result is converted to phase at one reference wavelength at the
end. With a nearly uniform in-focus intensity I0 this is a Poisson equation
lap(OPD) = -(n / I0) dI/dz, solved by FFT (periodic field) or DCT (mirror/Neumann
boundary: no wrap-around artefacts for a field of view cut out of a larger scene), with
Tikhonov regularisation of the inverse Laplacian at low spatial frequencies.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, ParameterError
from .fftutil import dctn, fft2, idctn, ifft2

BOUNDARIES = ("neumann", "periodic")
DEFAULT_WAVELENGTHS_UM = (0.63, 0.55, 0.45)  # R, G, B channel centres (seed 001 / cvdm)
# Default Tikhonov level. It was 1.0, which flattened large cells: a smooth cell 60 % of the field
# of view kept only 56-64 % of its integrated phase (dry mass) on the project's simulator, and
# cells of the mixed phantoms 71-95 %; at 0.1 the large cell keeps 92-98 % (PSNR 15 -> 26-28 dB)
# and the mixed cells 96-120 %, for 1-5 dB more low-frequency noise on small cells
# (docs/benchmarks.md, "TIE defaults").
DEFAULT_REGULARIZATION = 0.1
FOCAL_SHIFT_MODES = ("per channel", "at centre wavelengths")
SENSOR_BAND_UM = (0.4, 0.7)
CHANNEL_SIGMA_UM = 0.05


def _defocus_levers(defocus_um) -> tuple[np.ndarray, np.ndarray, float]:
    """(z, z - mean(z), sum of squares) for a least-squares slope against defocus."""
    z = np.asarray(defocus_um, dtype=np.float64)
    zc = z - z.mean()
    szz = float(np.sum(zc ** 2))
    if szz <= 0:
        raise ParameterError(f"the planes' defocus values {tuple(z)} µm are all equal; TIE needs at "
                             "least two different defocus distances")
    return z, zc, szz


def effective_defocus(wavelengths_um, defocus_um, channel_sigma_um: float = CHANNEL_SIGMA_UM,
                      band_um=SENSOR_BAND_UM) -> tuple[float, ...]:
    """The defocus each colour channel effectively records when ``defocus_um`` gives the focus of
    the channels' *centre* wavelengths: with white light every wavelength has its own focus (the
    parabola through the three (wavelength, defocus) points, a smooth chromatic focal shift), and a
    channel sums them weighted by its Gaussian response (std ``channel_sigma_um``) over the sensor's
    band. To first order in defocus the channel's intensity is I(0) + z_eff dI/dz with z_eff the
    response-weighted mean focus - smaller than the centre's where the band truncates the response
    (red, blue), which made the TIE phase ~11 % too small on the simulator's per-wavelength model."""
    lc = [float(v) for v in wavelengths_um]
    z = [float(v) for v in defocus_um]
    if len(lc) != 3 or len(z) != 3:
        raise ParameterError("effective_defocus needs three wavelengths and three defocus values")
    if min(abs(lc[0] - lc[1]), abs(lc[1] - lc[2]), abs(lc[0] - lc[2])) < 1e-3:
        raise ParameterError(f"the channel wavelengths {tuple(lc)} must differ to fit a focal-shift curve")
    if not channel_sigma_um > 0:
        raise ParameterError(f"channel_sigma_um must be > 0, got {channel_sigma_um}")
    lam = np.linspace(band_um[0], band_um[1], 601)
    basis = [np.prod([(lam - lc[d]) / (lc[c] - lc[d]) for d in range(3) if d != c], axis=0) for c in range(3)]
    z_lam = sum(zc * b for zc, b in zip(z, basis))
    out = []
    for c in range(3):
        w = np.exp(-0.5 * ((lam - lc[c]) / channel_sigma_um) ** 2)
        out.append(float(np.sum(w * z_lam) / np.sum(w)))
    return tuple(out)


def axial_derivative(planes: np.ndarray, defocus_um) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through each pixel's intensities against the planes' defocus:
    returns (dI/dz in 1/µm, in-focus intensity I(z=0)). Needs >= 2 distinct defocus values.
    (tie_opd computes the same slope in one pass without the intercept.)"""
    z, zc, szz = _defocus_levers(defocus_um)
    mean_plane = planes.mean(axis=0)
    slope = np.tensordot(zc / szz, planes - mean_plane, axes=(0, 0))
    intercept = mean_plane - slope * z.mean()
    return slope, intercept


def _tikhonov_inverse(q: np.ndarray, alpha: float) -> np.ndarray:
    """Regularised 1/q for q = 4 pi^2 |f|^2 >= 0; zero at q = 0 (the unknown mean)."""
    q = q.copy()
    q.flat[0] = 1.0  # avoid 0/0 when alpha = 0; the DC term is set to 0 below
    inv = q / (q * q + alpha)
    inv.flat[0] = 0.0
    return inv


def solve_poisson(rhs: np.ndarray, pixel_size_um: float, regularization: float,
                  boundary: str = "neumann") -> np.ndarray:
    """Solve lap(u) = rhs (pixel size in µm) with Tikhonov regularisation.

    regularization (dimensionless) sets alpha = regularization * q_L^2 with
    q_L = 4 pi^2 / L^2 for the field-of-view length L: 1 halves the response at the
    coarsest spatial frequency of the field of view; larger values suppress slow
    background undulations (the TIE's low-frequency noise) more strongly."""
    if boundary not in BOUNDARIES:
        raise ParameterError(f"boundary must be one of {', '.join(map(repr, BOUNDARIES))}; got {boundary!r}")
    if regularization < 0:
        raise ParameterError(f"regularization must be >= 0, got {regularization}")
    h, w = rhs.shape
    length = max(h, w) * pixel_size_um
    alpha = regularization * (4 * math.pi ** 2 / length ** 2) ** 2
    if boundary == "periodic":
        fy = np.fft.fftfreq(h, d=pixel_size_um)[:, None]
        fx = np.fft.fftfreq(w, d=pixel_size_um)[None, :]
        q = 4 * math.pi ** 2 * (fy ** 2 + fx ** 2)
        spec = fft2(rhs) * _tikhonov_inverse(q, alpha)
        return -np.real(ifft2(spec))
    # DCT-II basis cos(pi k (x + 1/2) / N) has frequency k / (2 N dx).
    fy = (np.arange(h) / (2 * h * pixel_size_um))[:, None]
    fx = (np.arange(w) / (2 * w * pixel_size_um))[None, :]
    q = 4 * math.pi ** 2 * (fy ** 2 + fx ** 2)
    return -idctn(dctn(rhs) * _tikhonov_inverse(q, alpha))


def tie_opd(stack, defocus_um, pixel_size_um: float, *, regularization: float = DEFAULT_REGULARIZATION,
            boundary: str = "neumann", medium_index: float = 1.0) -> np.ndarray:
    """Optical path difference (µm, float32 H x W, median 0) from a focus stack
    (planes x H x W intensities) taken at ``defocus_um`` (one value per plane, µm; positive
    = further along the light's direction). Planes may be recorded at different wavelengths:
    in optical-path form the TIE does not depend on it."""
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] < 2:
        raise InputError(f"a focus stack must be planes x H x W with at least 2 planes; got shape {stack.shape}")
    if len(defocus_um) != stack.shape[0]:
        raise ParameterError(f"{stack.shape[0]} planes but {len(defocus_um)} defocus values")
    if not pixel_size_um > 0:
        raise ParameterError(f"pixel_size must be > 0 µm, got {pixel_size_um}")
    z, zc, szz = _defocus_levers(defocus_um)
    means = np.array([float(np.mean(plane, dtype=np.float64)) for plane in stack])
    if np.any(means <= 0):
        bad = [int(i) for i in np.flatnonzero(means <= 0)]
        raise InputError(f"plane(s) {bad} have a mean intensity <= 0; TIE needs positive intensities "
                         "(subtract the camera offset, not the background)")
    # Least-squares slope of the mean-normalised planes against defocus, in one pass: the
    # weights zc / szz sum to zero, so the per-pixel mean need not be subtracted. After the
    # normalisation the in-focus intensity I0 (the fit's intercept) averages exactly 1.
    weights = zc / szz / means
    didz = np.zeros(stack.shape[1:], dtype=np.float32)
    for wgt, plane in zip(weights, stack):
        didz += np.float32(wgt) * plane.astype(np.float32, copy=False)
    opd = solve_poisson(-np.float32(medium_index) * didz, pixel_size_um, regularization, boundary)
    opd = opd.astype(np.float32, copy=False)
    return opd - np.median(opd[::2, ::2])  # a subsampled median is as good an offset


def tie_phase(stack, defocus_um, wavelengths_um, pixel_size_um: float, *,
              reference_wavelength_um: float | None = None, regularization: float = DEFAULT_REGULARIZATION,
              boundary: str = "neumann", medium_index: float = 1.0) -> np.ndarray:
    """Phase (radians, float32 H x W, median 0) at ``reference_wavelength_um`` (default: the
    wavelength of the middle plane) from a focus stack with per-plane defocus and
    wavelength (µm). See ``tie_opd`` for the physics."""
    wavelengths_um = tuple(float(v) for v in wavelengths_um)
    if len(wavelengths_um) != len(defocus_um):
        raise ParameterError(f"{len(defocus_um)} defocus values but {len(wavelengths_um)} wavelengths")
    if reference_wavelength_um is None:
        reference_wavelength_um = wavelengths_um[len(wavelengths_um) // 2]
    if not reference_wavelength_um > 0:
        raise ParameterError(f"reference wavelength must be > 0 µm, got {reference_wavelength_um}")
    opd = tie_opd(stack, defocus_um, pixel_size_um, regularization=regularization,
                  boundary=boundary, medium_index=medium_index)
    return (2 * math.pi / reference_wavelength_um * opd).astype(np.float32)


def rgb_tie(rgb, *, wavelengths_um=DEFAULT_WAVELENGTHS_UM, defocus_um=(-1.5, 0.0, 1.5),
            pixel_size_um: float = 0.2, reference_wavelength_um: float | None = None,
            regularization: float = DEFAULT_REGULARIZATION, boundary: str = "neumann",
            medium_index: float = 1.0) -> np.ndarray:
    """Phase (radians at the green channel's wavelength unless ``reference_wavelength_um``)
    from one chromatic RGB brightfield image (H x W x 3, R, G, B last)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise InputError(f"an RGB image must be H x W x 3; got shape {rgb.shape}")
    if reference_wavelength_um is None:
        reference_wavelength_um = float(wavelengths_um[1])
    return tie_phase(np.moveaxis(rgb, -1, 0), defocus_um, wavelengths_um, pixel_size_um,
                     reference_wavelength_um=reference_wavelength_um, regularization=regularization,
                     boundary=boundary, medium_index=medium_index)
