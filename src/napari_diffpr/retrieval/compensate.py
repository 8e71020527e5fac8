"""Aberration compensation without a background hologram: fit a smooth wavefront (Zernike
polynomials or a plain polynomial) through the background of the phase map - pixels found
automatically, or a mask the user gives (e.g. drawn in napari) - subtract it, and report the
fitted coefficients.

Without a sample-free hologram the reference wave's tilt, curvature (the spherical phase of a
non-telecentric setup is, paraxially, the Zernike defocus term Z4) and astigmatism stay in the
reconstructed phase. Over the background, where the sample adds nothing, the phase *is* that
wavefront, so a least-squares fit there estimates it everywhere (as pyDHM's and Koala's
"background zones" do).

Zernike polynomials are in Noll's order and normalisation (Noll, *J. Opt. Soc. Am.* 66, 207,
1976): Z1 piston, Z2/Z3 tilt x/y, Z4 defocus, Z5/Z6 astigmatism, Z7/Z8 coma, Z9/Z10 trefoil,
Z11 primary spherical, ... on the unit disk that circumscribes the image (ρ = 1 at the corners),
so each coefficient is the RMS (rad) of its term over that disk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError

BASES = ("zernike", "poly")
ZERNIKE_NAMES = {1: "piston", 2: "tilt x", 3: "tilt y", 4: "defocus", 5: "astigmatism 45°",
                 6: "astigmatism 0°", 7: "coma y", 8: "coma x", 9: "trefoil y", 10: "trefoil x",
                 11: "primary spherical"}
_MAX_SAMPLES = 16384


def _sample_step(shape) -> int:
    """The grid stride that leaves at most _MAX_SAMPLES pixels to fit: plenty for <= 45 terms."""
    h, w = shape
    return max(1, int(math.ceil(math.sqrt(h * w / _MAX_SAMPLES))))


def noll_to_nm(j: int) -> tuple[int, int]:
    """Noll index j (1, 2, ...) -> radial order n and signed azimuthal frequency m."""
    if j < 1:
        raise ParameterError(f"Noll index must be >= 1, got {j}")
    n = 0
    while (n + 1) * (n + 2) // 2 < j:
        n += 1
    k = j - n * (n + 1) // 2 - 1  # 0-based position within order n
    ms = sorted({abs(m) for m in range(-n, n + 1, 2)})
    # Noll: within an order, |m| increases; even j gets cos (m > 0), odd j sin (m < 0)
    mags = [m for m in ms for _ in ((0,) if m == 0 else (0, 1))]
    m = mags[k]
    if m != 0:
        m = m if j % 2 == 0 else -m
    return n, m


def zernike(j: int, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Noll-normalised Zernike polynomial Z_j at (rho, theta)."""
    n, m = noll_to_nm(j)
    am = abs(m)
    radial = np.zeros_like(rho)
    for k in range((n - am) // 2 + 1):
        c = (-1) ** k * math.factorial(n - k) / (
            math.factorial(k) * math.factorial((n + am) // 2 - k) * math.factorial((n - am) // 2 - k))
        radial = radial + c * rho ** (n - 2 * k)
    if m == 0:
        return math.sqrt(n + 1) * radial
    trig = np.cos(am * theta) if m > 0 else np.sin(am * theta)
    return math.sqrt(2 * (n + 1)) * radial * trig


def n_terms(basis: str, order: int) -> int:
    """Number of basis functions up to radial order / total degree ``order``."""
    return (order + 1) * (order + 2) // 2


def _coords(shape, step: int = 1):
    h, w = shape
    y = (np.arange(0, h, step, dtype=np.float64) - (h - 1) / 2)
    x = (np.arange(0, w, step, dtype=np.float64) - (w - 1) / 2)
    r0 = math.hypot((h - 1) / 2, (w - 1) / 2) or 1.0
    return y[:, None] / r0, x[None, :] / r0


def design(shape, basis: str, order: int, step: int = 1) -> tuple[np.ndarray, list[str]]:
    """Basis images (K x H' x W', on every ``step``-th pixel) and their names."""
    yy, xx = _coords(shape, step)
    yy, xx = np.broadcast_arrays(yy, xx)
    if basis == "zernike":
        rho, theta = np.hypot(yy, xx), np.arctan2(yy, xx)
        js = range(1, n_terms(basis, order) + 1)
        return (np.stack([zernike(j, rho, theta) for j in js]),
                [f"Z{j} {ZERNIKE_NAMES.get(j, 'n=%d m=%+d' % noll_to_nm(j))}" for j in js])
    if basis == "poly":
        cols, names = [], []
        for total in range(order + 1):
            for py in range(total + 1):
                cols.append(yy ** py * xx ** (total - py))
                names.append(f"y^{py} x^{total - py}")
        return np.stack(cols), names
    raise ParameterError(f"basis must be one of {BASES}, got {basis!r}")


@dataclass
class AberrationFit:
    """The fitted wavefront ``surface`` (rad, H x W), the background ``mask`` used, and the
    ``coefficients`` (rad) by term name."""

    surface: np.ndarray
    mask: np.ndarray
    coefficients: dict = field(default_factory=dict)
    basis: str = "zernike"
    order: int = 2
    background_fraction: float = 0.0
    residual_rms: float = 0.0

    def as_dict(self) -> dict:
        return {"basis": self.basis, "order": self.order, "coefficients_rad": dict(self.coefficients),
                "background_fraction": self.background_fraction, "residual_rms_rad": self.residual_rms,
                "coordinates": "unit disk circumscribing the image, centred (ρ = 1 at the corners)"}


def fit_aberrations(phase: np.ndarray, *, basis: str = "zernike", order: int = 2, mask="auto",
                    iterations: int = 10) -> AberrationFit:
    """Least-squares fit of the ``basis`` terms up to ``order`` through the background of an
    unwrapped ``phase`` map. mask: a boolean H x W array (True = background, e.g. everything
    outside the cells the user drew), ``"auto"`` (iterative: start from a border band, keep the
    pixels within 3 robust sigma of the fit, refit, until stable) or None (every pixel)."""
    from .background import MIN_OUTLIER_RAD, _robust_sigma

    phase = np.asarray(phase, dtype=np.float64)
    if phase.ndim != 2:
        raise ParameterError(f"phase must be H x W, got shape {phase.shape}")
    if not isinstance(order, int) or not 0 <= order <= 8:
        raise ParameterError(f"order must be an integer 0-8, got {order!r}")
    step = _sample_step(phase.shape)
    basis_sub, names = design(phase.shape, basis, order, step)
    a = basis_sub.reshape(len(names), -1).T
    values = phase[::step, ::step].ravel()
    auto = isinstance(mask, str)
    if auto:
        if mask != "auto":
            raise ParameterError(f"mask must be a boolean array, 'auto' or None; got {mask!r}")
        sub_shape = basis_sub.shape[1:]
        band = max(1, int(round(0.06 * min(sub_shape))))
        border = np.zeros(sub_shape, dtype=bool)
        border[:band] = border[-band:] = True
        border[:, :band] = border[:, -band:] = True
        keep = border.ravel()
    elif mask is None:
        keep = np.ones(values.shape, dtype=bool)
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != phase.shape:
            raise ParameterError(f"background mask has shape {mask.shape}, the phase is {phase.shape}")
        keep = mask[::step, ::step].ravel()
    if keep.sum() < 4 * len(names):
        raise ParameterError(f"only {int(keep.sum())} background samples for {len(names)} terms: "
                             "give a larger background region or a lower order")
    coef = np.linalg.lstsq(a[keep], values[keep], rcond=None)[0]
    for _ in range(iterations if auto else 0):
        resid = values - a @ coef
        sigma = _robust_sigma(resid[keep])
        new_keep = np.abs(resid - np.median(resid[keep])) <= max(3.0 * sigma, MIN_OUTLIER_RAD)
        if new_keep.sum() < 4 * len(names) or np.count_nonzero(new_keep != keep) <= 1e-3 * keep.size:
            break
        keep = new_keep
        coef = np.linalg.lstsq(a[keep], values[keep], rcond=None)[0]
    full, _ = design(phase.shape, basis, order, 1)
    surface = np.tensordot(coef, full, axes=1).astype(np.float32)
    resid_full = phase - surface
    if auto:
        sigma = _robust_sigma(resid_full[::step, ::step].ravel()[keep])
        used = np.abs(resid_full - np.median(resid_full[::step, ::step].ravel()[keep])) <= max(3.0 * sigma, MIN_OUTLIER_RAD)
    elif mask is None:
        used = np.ones(phase.shape, dtype=bool)
    else:
        used = mask
    rms = float(np.sqrt(np.mean(resid_full[used] ** 2))) if used.any() else float("nan")
    return AberrationFit(surface=surface, mask=used, coefficients={n: float(c) for n, c in zip(names, coef)},
                         basis=basis, order=order, background_fraction=float(used.mean()), residual_rms=rms)


def compensate(phase_or_result, *, mask="auto", basis: str = "zernike", order: int = 2, sign: str = "auto"):
    """Subtract the wavefront fitted through the background (see :func:`fit_aberrations`) from
    a phase map or a Result (2-D, unwrapped); returns a Result whose metadata has
    ``aberration_fit`` (the coefficients in rad, the basis, the background fraction and
    residual RMS). ``sign="auto"`` then flips the phase if needed so cells come out positive
    (a raw reconstruction's sign is only decided reliably once the curvature is gone);
    ``"keep"`` leaves it."""
    from ..result import Result
    from .background import choose_sign

    if sign not in ("auto", "keep"):
        raise ParameterError(f"sign must be 'auto' or 'keep', got {sign!r}")
    if hasattr(phase_or_result, "phase"):
        phase, amplitude = phase_or_result.phase, getattr(phase_or_result, "amplitude", None)
        md = dict(getattr(phase_or_result, "metadata", {}) or {})
    else:
        phase, amplitude, md = phase_or_result, None, {}
    fit = fit_aberrations(np.asarray(phase), basis=basis, order=order, mask=mask)
    out = np.asarray(phase, dtype=np.float32) - fit.surface
    flip = sign == "auto" and choose_sign(out, fit.mask) < 0
    if flip:
        out = -out
    md["aberration_fit"] = dict(fit.as_dict(), sign_flipped=bool(flip))
    md["aberration_mask"] = "auto" if isinstance(mask, str) else ("none" if mask is None else "given")
    return Result(phase=out, amplitude=amplitude, metadata=md)


def surface_coefficients(surface: np.ndarray, order: int, basis: str = "zernike") -> dict:
    """The coefficients (rad) of a fitted polynomial background surface of total degree
    ``order`` in ``basis`` (Zernike terms up to the same radial order span the same
    polynomials, so this is exact): the report for a fit done elsewhere."""
    if order < 0:
        return {}
    # A polynomial is fitted exactly by its values on the subsampled grid: no full-size design
    # matrix (at 1024² that was 0.1-0.2 s, more than the background fit itself).
    surface = np.asarray(surface)
    step = _sample_step(surface.shape)
    basis_sub, names = design(surface.shape, basis, order, step)
    values = surface[::step, ::step].astype(np.float64).ravel()
    coef = np.linalg.lstsq(basis_sub.reshape(len(names), -1).T, values, rcond=None)[0]
    return {n: round(float(c), 6) for n, c in zip(names, coef)}
