"""Flattening the phase background (offset, plane or low-order polynomial fit, optionally
ignoring the cells) and choosing the sign that makes cells positive."""
from __future__ import annotations

import numpy as np

from ..errors import ParameterError

BACKGROUND_FITS = {"none": -1, "offset": 0, "plane": 1, "poly2": 2, "poly3": 3}
# "auto": a background hologram already removes the reference's curvature, so only a tilt is
# left to take out; without one the setup's defocus and astigmatism stay in the phase and need
# a curved fit (docs/benchmarks.md, "The default background fit": simulated and measured HL60).
BACKGROUND_FIT_CHOICES = ("auto",) + tuple(BACKGROUND_FITS)
_MAX_FIT_SAMPLES = 16384  # a fit of <= 10 coefficients needs no more points than this
# Pixels closer than this to the fit always count as background: on clean data the robust
# sigma collapses, and a cell's faint rim is background for any practical purpose.
MIN_OUTLIER_RAD = 0.05


def resolve_fit(name: str, has_background_hologram: bool) -> str:
    """The fit that ``name`` stands for: "auto" is "plane" with a background hologram, "poly2"
    without one."""
    if name == "auto":
        return "plane" if has_background_hologram else "poly2"
    if name not in BACKGROUND_FITS:
        raise ParameterError(f"background_fit must be one of {', '.join(BACKGROUND_FIT_CHOICES)}; got {name!r}")
    return name


def _design(y: np.ndarray, x: np.ndarray, order: int) -> np.ndarray:
    cols = [np.ones_like(x)]
    for total in range(1, order + 1):
        for py in range(total + 1):
            cols.append(y ** py * x ** (total - py))
    return np.stack(cols, axis=1)


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares by the normal equations: with coordinates scaled to [-1, 1] and degree
    <= 3 they are well conditioned in float64, and far cheaper than an SVD of the tall
    design matrix (which dominated the fit)."""
    return np.linalg.solve(a.T @ a, a.T @ b)


def _robust_sigma(values: np.ndarray) -> float:
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def fit_background(phase: np.ndarray, order: int = 1, mask: np.ndarray | str | None = "auto",
                   iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares polynomial surface of total degree ``order`` (0 offset, 1 plane, 2-3
    curved) through the background of ``phase`` (radians).

    mask: boolean H x W array, True where the pixel is background; ``"auto"`` finds the
    background itself: a first fit through a band along the image border, then repeated
    fits through every pixel within 3 robust standard deviations (and at least
    MIN_OUTLIER_RAD) of the previous fit, which leaves the cells out; None uses every pixel.
    Returns (surface float32 H x W, background mask used)."""
    phase = np.asarray(phase, dtype=np.float32)
    h, w = phase.shape
    if order < 0 or order > 3:
        raise ParameterError(f"background fit order must be 0-3, got {order}")
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_FIT_SAMPLES))))
    ys = (np.arange(0, h, step, dtype=np.float64) - h / 2) / (h / 2)
    xs = (np.arange(0, w, step, dtype=np.float64) - w / 2) / (w / 2)
    sub = phase[::step, ::step].astype(np.float64)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    a = _design(yy.ravel(), xx.ravel(), order)
    if isinstance(mask, str):
        if mask != "auto":
            raise ParameterError(f"mask must be a boolean array, 'auto' or None; got {mask!r}")
        # Start from a band along the frame: cells usually sit inside the field of view, and a
        # cell covering most of it would otherwise pull the first fit (and the median) inside.
        band = max(1, int(round(0.06 * min(sub.shape))))
        border = np.zeros(sub.shape, dtype=bool)
        border[:band] = border[-band:] = True
        border[:, :band] = border[:, -band:] = True
        keep = border.ravel()
        auto = True
    elif mask is None:
        keep = np.ones(sub.size, dtype=bool)
        auto = False
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != phase.shape:
            raise ParameterError(f"background mask has shape {mask.shape}, the phase is {phase.shape}")
        keep = mask[::step, ::step].ravel().copy()
        auto = False
        if keep.sum() < a.shape[1] * 4:
            raise ParameterError(f"background mask keeps only {int(keep.sum())} sampled pixels; "
                                 f"too few for an order-{order} fit")
    values = sub.ravel()
    for _ in range(iterations if auto else 1):
        coef = _solve(a[keep], values[keep])
        if not auto:
            break
        resid = values - a @ coef
        sigma = _robust_sigma(resid[keep])
        new_keep = np.abs(resid - np.median(resid[keep])) <= max(3.0 * sigma, MIN_OUTLIER_RAD)
        # stop once (almost) no pixel changes side: noise flips a few on every pass
        if new_keep.sum() < a.shape[1] * 4 or np.count_nonzero(new_keep != keep) <= 1e-3 * keep.size:
            break
        keep = new_keep
    # Evaluate on the full grid as sum_py y^py * (sum_px c * x^px): one outer product per
    # power of y instead of one full-size product per coefficient.
    fy = (np.arange(h, dtype=np.float64) - h / 2) / (h / 2)
    fx = (np.arange(w, dtype=np.float64) - w / 2) / (w / 2)
    rows = {py: np.zeros(w) for py in range(order + 1)}
    i = 0
    for total in range(order + 1):
        for py in range(total + 1):
            rows[py] += coef[i] * fx ** (total - py)
            i += 1
    surface = np.zeros((h, w), dtype=np.float32)
    for py, row in rows.items():
        surface += (fy ** py).astype(np.float32)[:, None] * row.astype(np.float32)[None, :]
    if auto:
        resid_full = phase - surface
        sigma = _robust_sigma(resid_full[::step, ::step])
        used = np.abs(resid_full - np.median(resid_full[::step, ::step])) <= max(3.0 * sigma, MIN_OUTLIER_RAD)
    elif mask is None:
        used = np.ones((h, w), dtype=bool)
    else:
        used = mask
    return surface, used


def choose_sign(phase: np.ndarray, background: np.ndarray | None = None) -> int:
    """+1 or -1: the sign that makes the objects (what stands out from the background)
    positive. ``background`` is a boolean mask of background pixels; without one the image
    border is taken as background. Returns +1 when nothing stands out."""
    # ~65k pixels are plenty for a sign decision.
    phase = np.asarray(phase, dtype=np.float32)
    step = max(1, int(np.sqrt(phase.size / 65536)))
    phase = phase[::step, ::step]
    if background is not None:
        background = np.asarray(background, dtype=bool)[::step, ::step]
    if background is None or background.all() or not background.any():
        border = np.concatenate([phase[0], phase[-1], phase[:, 0], phase[:, -1]])
        ref, sigma = float(np.median(border)), _robust_sigma(border)
    else:
        bg = phase[background]
        ref, sigma = float(np.median(bg)), _robust_sigma(bg)
    dev = phase - ref
    standout = np.abs(dev) > max(4.0 * sigma, 1e-3)
    if not standout.any():
        return 1
    return 1 if float(dev[standout].sum()) >= 0 else -1
