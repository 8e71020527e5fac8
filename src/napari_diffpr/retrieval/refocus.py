"""Numerical refocusing of a reconstructed complex field and autofocus (NumPy/SciPy, no torch).

Propagation: the angular spectrum in the medium (Goodman, *Introduction to Fourier Optics*,
3rd ed., §3.10),

    U_z = F⁻¹{ F{U_0} · exp(i 2π z (sqrt((n/λ)² − fx² − fy²) − n/λ)) },

with λ the vacuum wavelength, n the medium's refractive index and (fx, fy) in cycles/µm.
The constant ``− n/λ`` removes the piston ``exp(i 2π z n/λ)`` that every plane wave shares, so
the background phase does not drift with z (as in nrefocus' "helmholtz" kernel). Evanescent
frequencies (f > n/λ) are set to zero. A positive distance propagates downstream (towards the
camera), a negative one back towards the light source: a sample recorded with the camera
focused ``d`` µm *beyond* it (the recorded field is the in-focus field propagated by ``+d``) is
brought back into focus with ``refocus = −d``. This is the same convention as
:func:`napari_diffpr.optics.propagation.propagate`, which the simulator uses.

Autofocus: a focus metric of the refocused amplitude is evaluated on a coarse grid of
distances, then minimised with a bounded Brent search (``scipy.optimize.minimize_scalar``)
inside the coarse grid cell around the best coarse point. For a pure phase object (cells in
medium) propagation conserves ``Σ|U|²`` and the amplitude is flattest in focus, so every metric
here is *minimal* in focus:

- ``"variance"``: normalised amplitude variance ``var(|U|) / mean(|U|)²``. Because ``Σ|U|²`` is
  conserved this is equivalent to Dubois et al.'s integrated-amplitude criterion (Opt. Express
  14, 5895, 2006), whose extremum marks the focus of phase objects.
- ``"tamura"``: Tamura coefficient ``sqrt(std(|U|) / mean(|U|))`` (Memmolo et al., Opt. Lett.
  36, 1945, 2011), a contrast measure with a sharper minimum on noisy fields.
- ``"gradient"``: mean squared gradient of the amplitude (nrefocus' "average gradient",
  Langehanenberg et al., Appl. Opt. 47, D176, 2008).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as _fft
from scipy.optimize import minimize_scalar

from ..errors import ParameterError
from .fftutil import workers

FOCUS_METRICS = ("tamura", "variance", "gradient")
DEFAULT_RANGE_UM = 25.0


def _check_optics(wavelength_um, pixel_size_um, medium_index) -> None:
    for name, v, unit in (("wavelength", wavelength_um, "µm"), ("pixel_size", pixel_size_um, "µm"),
                          ("medium_index", medium_index, "")):
        if v is None:
            raise ParameterError(
                f"refocusing needs the {name}{' in ' + unit if unit else ''}: propagation depends on it "
                "(give wavelength and pixel size in the sample plane, in µm, and the medium index)")
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ParameterError(f"{name} must be a positive finite number, got {v!r}")


def kz_grid(shape, wavelength_um: float, pixel_size_um: float, medium_index: float) -> np.ndarray:
    """``sqrt((n/λ)² − f²) − n/λ`` in cycles/µm (float64, H x W, fftfreq order), NaN where
    the frequency is evanescent."""
    _check_optics(wavelength_um, pixel_size_um, medium_index)
    h, w = shape[-2:]
    fy = np.fft.fftfreq(h, d=pixel_size_um).reshape(h, 1)
    fx = np.fft.fftfreq(w, d=pixel_size_um).reshape(1, w)
    k = medium_index / wavelength_um
    k2 = k * k - fy * fy - fx * fx
    with np.errstate(invalid="ignore"):
        return np.where(k2 > 0, np.sqrt(np.maximum(k2, 0.0)) - k, np.nan)


class Propagator:
    """Refocuses one field to many distances cheaply: its spectrum and the kz grid are computed
    once; each distance costs one multiply and one inverse FFT."""

    def __init__(self, field: np.ndarray, wavelength_um: float, pixel_size_um: float,
                 medium_index: float = 1.333):
        field = np.asarray(field)
        if field.ndim != 2 or not np.iscomplexobj(field):
            raise ParameterError(f"field must be a complex H x W array, got {field.dtype} {field.shape}")
        self.shape = field.shape
        self.wavelength_um, self.pixel_size_um, self.medium_index = wavelength_um, pixel_size_um, medium_index
        kz = kz_grid(field.shape, wavelength_um, pixel_size_um, medium_index)
        self._propagating = np.isfinite(kz)
        self._kz = np.where(self._propagating, kz, 0.0) * (2.0 * math.pi)
        self._spectrum = _fft.fft2(field.astype(np.complex128), workers=workers())

    def __call__(self, distance_um: float) -> np.ndarray:
        """The field propagated by ``distance_um`` (complex64)."""
        tf = np.exp(1j * float(distance_um) * self._kz) * self._propagating
        return _fft.ifft2(self._spectrum * tf, workers=workers()).astype(np.complex64)

    def band_limited(self, energy: float = 0.999) -> "Propagator":
        """A propagator for the same field on a coarser grid that still holds its whole band:
        the spectrum cropped to twice the radius that carries ``energy`` of it (so |U|, whose band
        is twice the field's, is not aliased either). Exact band-limited resampling; for the
        autofocus search, whose metrics do not depend on the sampling of a band-limited field,
        it costs (crop/size)² of the full grid per plane. Returns ``self`` when nothing is gained."""
        h, w = self.shape
        power = np.abs(self._spectrum) ** 2
        ky = np.abs(np.fft.fftfreq(h))[:, None]
        kx = np.abs(np.fft.fftfreq(w))[None, :]
        # radius in cycles/pixel, measured as a square (Chebyshev) box: what a crop keeps
        box = np.maximum(ky, kx).ravel()
        order = np.argsort(box)
        cum = np.cumsum(power.ravel()[order])
        if cum[-1] <= 0:
            return self
        r = float(box[order][min(len(order) - 1, np.searchsorted(cum, energy * cum[-1]))])
        half_y = int(math.ceil(2 * r * h)) + 2
        half_x = int(math.ceil(2 * r * w)) + 2
        if 2 * half_y >= h or 2 * half_x >= w or (4 * half_y * half_x) > 0.6 * h * w:
            return self
        iy = np.r_[0:half_y, h - half_y:h]
        ix = np.r_[0:half_x, w - half_x:w]
        small = object.__new__(Propagator)
        small.shape = (2 * half_y, 2 * half_x)
        small.wavelength_um, small.medium_index = self.wavelength_um, self.medium_index
        small.pixel_size_um = self.pixel_size_um * h / (2 * half_y)  # nominal (y); x may differ
        small._propagating = self._propagating[np.ix_(iy, ix)]
        small._kz = self._kz[np.ix_(iy, ix)]
        small._spectrum = self._spectrum[np.ix_(iy, ix)]
        return small


def refocus_field(field: np.ndarray, distance_um: float, wavelength_um: float, pixel_size_um: float,
                  medium_index: float = 1.333) -> np.ndarray:
    """``field`` (complex H x W) propagated by ``distance_um`` in a medium of index
    ``medium_index`` (angular spectrum; see the module docstring for the sign)."""
    if distance_um == 0:
        return np.asarray(field, dtype=np.complex64)
    return Propagator(field, wavelength_um, pixel_size_um, medium_index)(distance_um)


def _amplitude_metric(amplitude: np.ndarray, metric: str) -> float:
    a = amplitude.astype(np.float64, copy=False)
    mean = float(a.mean())
    if mean <= 0:
        return float("inf")
    if metric == "variance":
        return float(a.var()) / (mean * mean)
    if metric == "tamura":
        return math.sqrt(float(a.std()) / mean)
    if metric == "gradient":
        gy, gx = np.gradient(a / mean)
        return float(np.mean(gy * gy + gx * gx))
    raise ParameterError(f"focus metric must be one of {', '.join(FOCUS_METRICS)}; got {metric!r}")


def focus_metric(field: np.ndarray, metric: str = "tamura", roi=None) -> float:
    """The focus metric (lower = sharper for phase objects) of a complex field's amplitude,
    over ``roi`` (a tuple of slices) when given."""
    amp = np.abs(field)
    if roi is not None:
        amp = amp[roi]
    return _amplitude_metric(amp, metric)


def default_roi(shape, margin: float = 0.1):
    """The field without a band of ``margin`` x its size along each edge, where the periodic
    propagation wraps light around from the opposite side."""
    h, w = shape[-2:]
    my, mx = int(round(margin * h)), int(round(margin * w))
    return (slice(my, h - my), slice(mx, w - mx))


@dataclass
class FocusSearch:
    """What autofocus found: the best ``distance_um`` (to pass as ``refocus``), and every
    distance evaluated with its metric value (``curve_um``, ``curve_metric``, sorted by
    distance)."""

    distance_um: float
    metric: str
    curve_um: list = field(default_factory=list)
    curve_metric: list = field(default_factory=list)
    coarse_step_um: float = 0.0
    range_um: tuple = (0.0, 0.0)
    seconds: float = 0.0
    at_range_edge: bool = False

    def as_dict(self) -> dict:
        return {"distance_um": self.distance_um, "metric": self.metric,
                "curve_um": self.curve_um, "curve_metric": self.curve_metric,
                "coarse_step_um": self.coarse_step_um, "range_um": list(self.range_um),
                "seconds": self.seconds, "at_range_edge": self.at_range_edge}


def autofocus(field: np.ndarray, wavelength_um: float, pixel_size_um: float, medium_index: float = 1.333,
              *, metric: str = "tamura", range_um=DEFAULT_RANGE_UM, coarse_step_um: float | None = None,
              tolerance_um: float = 0.02, roi=None) -> FocusSearch:
    """Find the refocusing distance (µm) that minimises ``metric`` over ``range_um`` (a number
    r for −r…r, or (lo, hi)): a coarse grid (step ``coarse_step_um``, default the depth of field
    ``λ / (n · NA_eff²)`` clipped to 0.25–2 µm, where NA_eff is the field's measured spectral
    extent), then a bounded Brent search to ``tolerance_um`` in the grid cell around the best
    coarse point. ``roi`` (tuple of slices) defaults to the field without a 10 % border."""
    t0 = time.perf_counter()
    if metric not in FOCUS_METRICS:
        raise ParameterError(f"focus metric must be one of {', '.join(FOCUS_METRICS)}; got {metric!r}")
    if isinstance(range_um, (int, float)):
        lo, hi = -abs(float(range_um)), abs(float(range_um))
    else:
        lo, hi = (float(v) for v in range_um)
    if not hi > lo:
        raise ParameterError(f"autofocus range must have hi > lo, got {range_um!r}")
    prop = Propagator(field, wavelength_um, pixel_size_um, medium_index)
    if coarse_step_um is None:
        coarse_step_um = _default_step(prop, field)
    if roi is None:
        if metric in ("tamura", "variance"):
            # moments of |U| do not depend on how a band-limited field is sampled: search on
            # the coarser grid that holds its band (the finite-difference gradient does
            # depend on it, so "gradient" keeps the full grid, as nrefocus does)
            prop = prop.band_limited()
        roi = default_roi(prop.shape)
    if coarse_step_um <= 0:
        raise ParameterError(f"coarse_step_um must be > 0, got {coarse_step_um}")
    evaluated: dict[float, float] = {}

    def cost(z: float) -> float:
        z = float(z)
        if z not in evaluated:
            evaluated[z] = focus_metric(prop(z), metric, roi)
        return evaluated[z]

    n = max(2, int(math.ceil((hi - lo) / coarse_step_um)) + 1)
    grid = np.linspace(lo, hi, n)
    values = [cost(z) for z in grid]
    i = int(np.argmin(values))
    step = float(grid[1] - grid[0])
    a, b = max(lo, grid[i] - step), min(hi, grid[i] + step)
    best = minimize_scalar(cost, bounds=(a, b), method="bounded", options={"xatol": tolerance_um})
    z_best = float(best.x) if cost(best.x) <= values[i] else float(grid[i])
    zs = sorted(evaluated)
    return FocusSearch(distance_um=z_best, metric=metric, curve_um=[float(z) for z in zs],
                       curve_metric=[float(evaluated[z]) for z in zs], coarse_step_um=step,
                       range_um=(lo, hi), seconds=time.perf_counter() - t0,
                       at_range_edge=i in (0, n - 1))


def _default_step(prop: Propagator, field: np.ndarray) -> float:
    """Depth of field λ/(n·NA²) from the band the field occupies (99 % of its spectral energy
    lies within NA/λ), clipped to 0.25–2 µm: the focus curve's features are about this wide."""
    power = np.abs(prop._spectrum) ** 2
    h, w = prop.shape
    fy = np.fft.fftfreq(h, d=prop.pixel_size_um).reshape(h, 1)
    fx = np.fft.fftfreq(w, d=prop.pixel_size_um).reshape(1, w)
    f = np.sqrt(fy * fy + fx * fx).ravel()
    p = power.ravel().copy()
    p[f == 0] = 0.0  # the plane wave carries no focus information
    if p.sum() <= 0:
        return 1.0
    order = np.argsort(f)
    cum = np.cumsum(p[order]) / p.sum()
    f99 = float(f[order][np.searchsorted(cum, 0.99)])
    na = min(prop.medium_index * 0.99, max(1e-3, f99 * prop.wavelength_um))
    dof = prop.wavelength_um * prop.medium_index / (na * na)
    return float(np.clip(dof / 2, 0.25, 2.0))


def _parse_refocus(refocus):
    if isinstance(refocus, str):
        text = refocus.strip().lower()
        if text == "auto":
            return "auto"
        try:
            return float(text)
        except ValueError:
            raise ParameterError(f"refocus must be a distance in µm or 'auto', got {refocus!r}") from None
    if isinstance(refocus, bool) or not isinstance(refocus, (int, float)) or not math.isfinite(refocus):
        raise ParameterError(f"refocus must be a distance in µm or 'auto', got {refocus!r}")
    return float(refocus)


def refocus_phase(phase: np.ndarray, amplitude: np.ndarray | None, refocus, *, wavelength_um: float,
                  pixel_size_um: float, medium_index: float = 1.333, metric: str = "tamura",
                  range_um=DEFAULT_RANGE_UM, unwrap: str = "skimage", band_limit: float | None = None,
                  background_fit: str = "plane", background_mask: str = "auto"):
    """Refocus a reconstructed phase map (radians; unwrapped, background-flattened, cells
    positive, so that ``amplitude · exp(i phase)`` is the object field with the reference's
    aberrations already removed) by ``refocus`` µm or ``"auto"``; returns ``(phase, amplitude,
    metadata)``. After propagation the phase is unwrapped with ``unwrap`` and flattened with
    ``background_fit`` again (the in-focus cells leave more clean background to fit).
    ``metadata`` holds ``refocus_um`` (the distance used), ``refocus_requested`` and, for
    ``"auto"``, ``focus_search`` (metric, the whole metric curve, time)."""
    from .background import BACKGROUND_FITS, fit_background
    from .unwrap import unwrap as unwrap_phase

    request = _parse_refocus(refocus)
    _check_optics(wavelength_um, pixel_size_um, medium_index)
    phase = np.asarray(phase, dtype=np.float32)
    amp = np.ones_like(phase) if amplitude is None else np.asarray(amplitude, dtype=np.float32)
    field = (amp * np.exp(1j * phase)).astype(np.complex64)
    meta: dict = {"refocus_requested": request, "medium_index": float(medium_index),
                  "refocus_convention": "angular spectrum in the medium; positive = downstream "
                                        "(towards the camera), a sample recorded d µm before the "
                                        "focal plane is refocused with -d"}
    if request == "auto":
        search = autofocus(field, wavelength_um, pixel_size_um, medium_index, metric=metric,
                           range_um=range_um)
        distance = search.distance_um
        meta["focus_search"] = search.as_dict()
    else:
        distance = request
    meta["refocus_um"] = float(distance)
    if distance == 0:
        return phase, amp, meta
    out = refocus_field(field, distance, wavelength_um, pixel_size_um, medium_index)
    new_amp = np.abs(out).astype(np.float32)
    new_phase = np.angle(out).astype(np.float32)
    if unwrap != "none":
        new_phase = unwrap_phase(new_phase, unwrap, band_limit=band_limit)
        order = BACKGROUND_FITS.get(background_fit, 1)
        if order >= 0:
            surface, _ = fit_background(new_phase, order, mask="auto" if background_mask == "auto" else None)
            new_phase = new_phase - surface
    return new_phase.astype(np.float32), new_amp, meta


def refocus_result(result, refocus, *, wavelength_um: float | None = None, pixel_size_um: float | None = None,
                   medium_index: float | None = None, metric: str = "tamura", range_um=DEFAULT_RANGE_UM,
                   unwrap: str | None = None, background_fit: str | None = None):
    """A new Result: ``result`` (a hologram reconstruction, 2-D, with its amplitude) refocused
    by ``refocus`` µm or ``"auto"``, relative to the plane it is at. Optics default to the
    result's record (``parameters.wavelength``/``pixel_size``/``medium_index``). Propagation
    composes, so refocusing a refocused result by d adds d to its ``refocus_um``."""
    from ..result import Result

    md = dict(getattr(result, "metadata", {}) or {})
    params = dict(md.get("parameters", {}) or {})
    wl = wavelength_um if wavelength_um is not None else params.get("wavelength", md.get("wavelength_um"))
    px = pixel_size_um if pixel_size_um is not None else params.get("pixel_size", md.get("pixel_size_um"))
    nm = medium_index if medium_index is not None else params.get("medium_index", md.get("medium_index", 1.333))
    phase = np.asarray(result.phase)
    if phase.ndim != 2:
        raise ParameterError(f"refocus_result works on one 2-D phase map, got shape {phase.shape}")
    uw = unwrap or params.get("unwrap", "skimage")
    # the fit the reconstruction used (what "auto" resolved to), else the one it was asked for
    bf = background_fit or md.get("background_fit") or params.get("background_fit", "plane")
    new_phase, amp, meta = refocus_phase(phase, result.amplitude, refocus, wavelength_um=wl, pixel_size_um=px,
                                         medium_index=nm, metric=metric, range_um=range_um, unwrap=uw,
                                         background_fit=bf)
    before = float(md.get("refocus_um", 0.0) or 0.0)
    out_md = dict(md, **meta)
    out_md["refocus_um"] = before + meta["refocus_um"]
    out_md["refocus_step_um"] = meta["refocus_um"]
    return Result(phase=new_phase, amplitude=amp, metadata=out_md)
