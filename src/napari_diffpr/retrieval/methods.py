"""Registers the conventional methods "fourier" (off-axis holograms) and "tie" (chromatic
RGB brightfield) with their parameter specs and run generators. Imports no torch."""
from __future__ import annotations

import time

import numpy as np

from ..caching import CallCache, for_input
from ..methods import Method, Param, register
from ..result import Progress, Result
from .background import BACKGROUND_FIT_CHOICES, BACKGROUND_FITS, choose_sign, fit_background, resolve_fit
from .filters import FILTER_SHAPES
from .compensate import surface_coefficients as fit_report
from .refocus import DEFAULT_RANGE_UM, FOCUS_METRICS, refocus_phase
from .fourier import (FilterSpec, demodulate, divide_background, edge_margin, filter_radius, phase_and_amplitude,
                      twin_limit)
from .sideband import Sideband, check_sideband, coarse_sideband, refine_peak, refine_radius
from .spectrum import HalfRows
from .torch_fft import FFT_DEVICES, demodulate_torch, torch_device
from .tie import (BOUNDARIES, CHANNEL_SIGMA_UM, DEFAULT_REGULARIZATION, DEFAULT_WAVELENGTHS_UM,
                  FOCAL_SHIFT_MODES, effective_defocus, tie_phase)
from .unwrap import UNWRAP_CHOICES, guide_step
from .unwrap import unwrap as unwrap_phase

UPSAMPLING = ("filtered sideband block zero-padded back to H x W with pruned inverse FFTs "
              "(exact band-limited interpolation)")

FOURIER_PARAMS = (
    Param("sideband", "floats", None, length=2, optional=True, unit="cycles/pixel",
          minimum=-0.5, maximum=0.5,
          help="Position (fy, fx) of the +1 order in the hologram's spectrum, in cycles per pixel "
               "(1 / fringe period). Leave empty to find it automatically; fringes in any "
               "direction work."),
    Param("filter_shape", "str", "smooth disk", choices=FILTER_SHAPES,
          help="Window that cuts the +1 order out of the spectrum. 'smooth disk' rings least; "
               "'disk' and 'square' are sharp; 'gauss' is softest (less noise, less detail)."),
    Param("filter_size", "float", 0.5, minimum=0.05, maximum=1.0, widget="slider",
          help="Filter radius as a fraction of the distance between the centre and the +1 order. "
               "Larger keeps finer detail but lets in more noise and the central band; 0.5 is "
               "the usual choice. Ignored when a numerical aperture is given."),
    Param("numerical_aperture", "float", None, optional=True, minimum=0.01, maximum=1.7,
          help="Objective NA. If given (with wavelength and pixel size), the filter radius is "
               "the optical cut-off NA / wavelength instead of filter_size."),
    Param("wavelength", "float", None, optional=True, unit="µm", minimum=0.2, maximum=2.0,
          help="Laser wavelength (vacuum), needed only with a numerical aperture or refocusing."),
    Param("pixel_size", "float", None, optional=True, unit="µm", minimum=1e-3, maximum=100.0,
          help="Camera pixel size in the sample plane (camera pixel / magnification), needed "
               "only with a numerical aperture or refocusing."),
    Param("unwrap", "str", "skimage", choices=UNWRAP_CHOICES,
          help="Remove 2π jumps: 'skimage' (robust; runs on a grid as coarse as the filter "
               "allows, then snaps every pixel to it), 'lsq' (least squares, fast, smooths over "
               "noisy spots), 'none' (phase stays in -π..π)."),
    Param("background_fit", "str", "auto", choices=BACKGROUND_FIT_CHOICES,
          help="Surface subtracted so the empty background is flat at 0 rad: 'plane' removes a "
               "tilt, 'poly2'/'poly3' also curvature; 'auto' = 'plane' with a background hologram "
               "(it already removed the curvature), 'poly2' without one; needs unwrapping."),
    Param("background_mask", "str", "auto", choices=("auto", "none"),
          help="'auto' fits the background surface only where there are no cells (pixels far "
               "from the fit are left out); 'none' fits every pixel."),
    Param("sign", "str", "auto", choices=("auto", "+1", "-1"),
          help="Phase sign. 'auto' makes cells (denser than their medium) come out positive; "
               "'+1'/'-1' force the raw sign of the detected order or its opposite."),
) + (
    # Numerical refocusing (retrieval/refocus.py): appended so positional specs stay as they were.
    Param("refocus", "float_or_auto", None, optional=True, unit="µm", minimum=-1000.0, maximum=1000.0,
          help="Propagate the reconstructed field by this distance in the medium (angular "
               "spectrum) to bring an out-of-focus sample into focus; 'auto' searches for the "
               "sharpest plane within ±focus_range. Positive = towards the camera. Needs "
               "wavelength and pixel size. Empty = no refocusing."),
    Param("focus_metric", "str", "tamura", choices=FOCUS_METRICS,
          help="Autofocus criterion on the refocused amplitude (minimal in focus for phase "
               "objects): 'tamura' (Tamura coefficient), 'variance' (normalised amplitude "
               "variance), 'gradient' (mean squared amplitude gradient, as nrefocus)."),
    Param("focus_range", "float", DEFAULT_RANGE_UM, unit="µm", minimum=0.5, maximum=1000.0,
          help="Autofocus searches refocus distances from -focus_range to +focus_range."),
    Param("medium_index", "float", 1.333, minimum=1.0, maximum=2.0,
          help="Refractive index of the medium the light is refocused in (1.333 water/PBS, "
               "~1.335-1.337 culture medium)."),
) + (
    # Stacks (issue 12, retrieval/stack.py): appended so positional specs stay as they were.
    Param("sideband_search", "str", "each frame", choices=("each frame", "first frame"),
          help="Stacks: find the sideband in every frame, or only in the first and use it for all "
               "(a fixed setup: the carrier does not move; faster). Ignored when a sideband is given."),
    Param("fft_device", "str", "cpu", choices=FFT_DEVICES,
          help="Where the filtering FFTs run: 'cpu' (scipy), 'cuda' / 'mps' (torch on the GPU), 'auto' "
               "(a GPU when there is one, else scipy), 'torch-cpu' (torch on the CPU, to compare). "
               "Same results within float32 rounding."),
)


def run_fourier(data, *, background=None, cache=None, sideband=None, filter_shape="smooth disk",
                filter_size=0.5, numerical_aperture=None, wavelength=None, pixel_size=None,
                unwrap="skimage", background_fit="auto", background_mask="auto", sign="auto",
                refocus=None, focus_metric="tamura", focus_range=DEFAULT_RANGE_UM, medium_index=1.333,
                sideband_search="each frame", fft_device="cpu"):
    """Off-axis hologram -> phase (radians) and amplitude, yielding Progress events."""
    method = unwrap  # the parameter shadows nothing we need: the function is unwrap_phase
    background_fit = resolve_fit(background_fit, background is not None)
    timings: dict[str, float] = {}
    total = 4
    t0 = time.perf_counter()
    radius_of = lambda s: filter_radius(s, filter_size, numerical_aperture=numerical_aperture,  # noqa: E731
                                        wavelength_um=wavelength, pixel_size_um=pixel_size)
    # The caller keeps ``cache`` only for re-runs on the same input (e.g. the dock changing
    # the unwrapper or the filter shape), so the detection and the row spectra carry over.
    cache = CallCache() if cache is None else cache
    for_input(cache, "fourier_", data)
    tdev = torch_device(fft_device)  # None: scipy FFTs (issue 12: torch on CUDA/MPS)  # a different hologram must not reuse the spectra

    def row_spectra(margin):
        key = ("fourier_rows", margin)
        if key not in cache:
            cache.pop(next((k for k in cache if isinstance(k, tuple) and k[0] == "fourier_rows"), None), None)
            cache[key] = HalfRows(data, margin)
        return cache[key]

    if sideband is None:
        if "fourier_coarse" not in cache:
            cache["fourier_coarse"] = coarse_sideband(data)
        coarse = cache["fourier_coarse"]
        margin = edge_margin(radius_of(coarse))
        spectrum = row_spectra(margin)
        fy, fx = refine_peak(spectrum, coarse.fy, coarse.fx, refine_radius(data.shape, spectrum.shape))
        sb = Sideband(fy, fx, coarse.prominence).canonical()[0]
    else:
        sb = check_sideband(sideband, data.shape)
        margin = edge_margin(radius_of(sb))
        spectrum = row_spectra(margin) if tdev is None else None  # torch computes its own rows
    radius = radius_of(sb)
    # Carriers near the Nyquist frequency bring the twin order's alias close: never filter
    # past half way to it (that would mix the conjugate field in).
    limited = radius > twin_limit(sb)
    radius = min(radius, twin_limit(sb))
    spec = FilterSpec(filter_shape, radius)
    timings["detect_s"] = time.perf_counter() - t0
    yield Progress("detect", 1, total, message=f"sideband at (fy, fx) = ({sb.fy:.4f}, {sb.fx:.4f}) cycles/px")

    t = time.perf_counter()
    if tdev is None:
        field = demodulate(spectrum, sb, spec)
        if background is not None:
            field = divide_background(field, demodulate(HalfRows(background, edge_margin(radius)), sb, spec))
    else:
        field = demodulate_torch(data, margin, sb, filter_shape, radius, tdev)
        if background is not None:
            field = divide_background(field, demodulate_torch(background, edge_margin(radius), sb, filter_shape,
                                                              radius, tdev))
    phase, amplitude = phase_and_amplitude(field)
    timings["filter_s"] = time.perf_counter() - t
    yield Progress("filter", 2, total, preview=phase, message=f"{filter_shape} filter, radius {radius:.4f} cycles/px")

    t = time.perf_counter()
    # The object's detail passes the filter up to its radius (beyond it only attenuated
    # noise), so skimage may run on a grid subsampled to that band (unwrap.unwrap_skimage).
    phase = unwrap_phase(phase, method, band_limit=radius)
    timings["unwrap_s"] = time.perf_counter() - t
    yield Progress("unwrap", 3, total, preview=phase, message=f"unwrap: {method}")

    t = time.perf_counter()
    fit_applied = background_fit != "none" and method != "none"
    bg_mask = None
    surface_coefficients = None
    if fit_applied:
        surface, bg_mask = fit_background(phase, BACKGROUND_FITS[background_fit],
                                          mask="auto" if background_mask == "auto" else None)
        phase = phase - surface
        surface_coefficients = fit_report(surface, BACKGROUND_FITS[background_fit])
    chosen = choose_sign(phase, bg_mask) if sign == "auto" else int(sign)
    if chosen < 0:
        phase = -phase
    timings["fit_s"] = time.perf_counter() - t
    yield Progress("fit", 4, total, preview=phase, message=f"background {background_fit if fit_applied else 'not fitted'}, sign {chosen:+d}")

    focus_meta = {}
    if refocus is not None:
        # The flattened, sign-corrected field is the object field without the reference's
        # tilt and curvature: the right field to propagate (retrieval/refocus.py).
        t = time.perf_counter()
        phase, amplitude, focus_meta = refocus_phase(
            phase, amplitude, refocus, wavelength_um=wavelength, pixel_size_um=pixel_size,
            medium_index=medium_index, metric=focus_metric, range_um=focus_range, unwrap=method,
            band_limit=radius, background_fit=background_fit if fit_applied else "none",
            background_mask=background_mask)
        timings["refocus_s"] = time.perf_counter() - t
        yield Progress("refocus", 4, total, preview=phase,
                       message=f"refocused by {focus_meta['refocus_um']:+.2f} µm")

    timings["total_s"] = time.perf_counter() - t0
    meta = {
        **focus_meta,
        "sideband_fy_fx": [sb.fy, sb.fx],
        "sideband_units": "cycles/pixel",
        "sideband_detected": sideband is None,
        "sideband_prominence": sb.prominence,
        "fringe_period_px": sb.fringe_period_px,
        "filter_shape": filter_shape,
        "filter_radius": radius,
        "filter_radius_from": "numerical_aperture" if numerical_aperture is not None else "filter_size",
        "filter_radius_limited_by_twin_order": limited,
        "unwrap": method,
        "unwrap_grid_step": guide_step(radius) if method == "skimage" else 1,
        "background_fit_applied": fit_applied,
        "background_fit": background_fit,  # what "auto" resolved to
        "background_fraction": None if bg_mask is None else float(bg_mask.mean()),
        # the subtracted surface (reference tilt/curvature) in Zernike terms, rad (retrieval/compensate.py)
        "background_coefficients_rad": surface_coefficients,
        "sign": chosen,
        "upsampling": UPSAMPLING,
        "timings": timings,
        "device": "cpu" if tdev is None else str(tdev),
        "fft": "scipy" if tdev is None else "torch",
    }
    return Result(phase=phase, amplitude=amplitude, metadata=meta)


TIE_PARAMS = (
    Param("wavelengths", "floats", DEFAULT_WAVELENGTHS_UM, length=3, unit="µm", minimum=0.2, maximum=2.0,
          help="Centre wavelength of the camera's red, green and blue channels."),
    Param("defocus", "floats", (-1.5, 0.0, 1.5), length=3, unit="µm", minimum=-100.0, maximum=100.0,
          help="Where each colour (R, G, B) is focused relative to the sample, from the "
               "objective's chromatic focal shift; positive = the image plane lies beyond the "
               "sample along the light. At least two must differ."),
    Param("pixel_size", "float", 0.2, unit="µm", minimum=1e-3, maximum=100.0,
          help="Camera pixel size in the sample plane (camera pixel / magnification)."),
    Param("regularization", "float", DEFAULT_REGULARIZATION, minimum=0.0, maximum=1e6,
          help="Suppresses slow, cloudy background errors (the TIE's weak point). 0 = none; "
               "1 halves the coarsest detail of the field of view (and flattens cells larger than "
               "about a quarter of it); raise it if the background is uneven, lower it to keep large "
               "smooth cells."),
    Param("focal_shift", "str", FOCAL_SHIFT_MODES[0], choices=FOCAL_SHIFT_MODES,
          help="What the defocus values are: 'per channel' = the focus each colour channel shows "
               "(e.g. measured by focusing each channel on a bead); 'at centre wavelengths' = the "
               "focus of each channel's centre wavelength on the objective's focal-shift curve, "
               "then averaged over the channel's spectral response (channel_bandwidth)."),
    Param("channel_bandwidth", "float", CHANNEL_SIGMA_UM, unit="µm", minimum=0.001, maximum=0.3,
          help="Standard deviation of each channel's (Gaussian) spectral response; used only with "
               "focal_shift='at centre wavelengths'."),
    Param("boundary", "str", "neumann", choices=BOUNDARIES,
          help="'neumann' (mirror edges) avoids artefacts where objects touch the image border; "
               "'periodic' assumes the image wraps around."),
    Param("reference_wavelength", "float", None, optional=True, unit="µm", minimum=0.2, maximum=2.0,
          help="Wavelength at which the phase is reported; empty = the green channel's."),
    Param("medium_index", "float", 1.33, minimum=1.0, maximum=2.0,
          help="Refractive index of the medium around the sample, in which the defocus is "
               "measured (1.33 for water or culture medium, 1.0 for air)."),
)


def run_tie(data, *, background=None, cache=None, wavelengths=DEFAULT_WAVELENGTHS_UM,
            defocus=(-1.5, 0.0, 1.5), pixel_size=0.2, regularization=DEFAULT_REGULARIZATION, boundary="neumann",
            reference_wavelength=None, medium_index=1.33, focal_shift=FOCAL_SHIFT_MODES[0],
            channel_bandwidth=CHANNEL_SIGMA_UM):
    """Chromatic RGB brightfield image (H x W x 3) -> phase (radians)."""
    t0 = time.perf_counter()
    ref = wavelengths[1] if reference_wavelength is None else reference_wavelength
    given = tuple(defocus)
    if focal_shift == FOCAL_SHIFT_MODES[1]:
        defocus = effective_defocus(wavelengths, defocus, channel_bandwidth)
    yield Progress("derivative", 1, 2, message="axial intensity derivative from R, G, B")
    phase = tie_phase(np.moveaxis(data, -1, 0), defocus, wavelengths, pixel_size,
                      reference_wavelength_um=ref, regularization=regularization,
                      boundary=boundary, medium_index=medium_index)
    yield Progress("solve", 2, 2, preview=phase, message=f"{boundary} Poisson solve")
    meta = {"reference_wavelength_um": ref, "timings": {"total_s": time.perf_counter() - t0},
            "defocus_given_um": given, "defocus_used_um": tuple(float(v) for v in defocus),
            "device": "cpu", "phase_offset": "median (of every 2nd pixel each way) set to 0; TIE cannot measure the mean"}
    return Result(phase=phase, amplitude=None, metadata=meta)


register(Method(
    name="fourier", modality="hologram", title="Fourier filtering (off-axis)",
    description="Classic off-axis reconstruction: find the +1 order, filter it, shift it to the "
                "centre, inverse transform; optional background hologram, unwrapping and "
                "background flattening.",
    params=FOURIER_PARAMS, run=run_fourier, uses_background=True, tags=("conventional",)),
    replace=True)

register(Method(
    name="tie", modality="rgb", title="Transport of intensity (chromatic RGB)",
    description="Treats the R, G, B channels of one brightfield image as a focus stack (chromatic "
                "focal shift) and solves the transport-of-intensity equation.",
    params=TIE_PARAMS, run=run_tie, tags=("conventional",)), replace=True)
