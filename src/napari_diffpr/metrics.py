"""Image-quality metrics of a phase map against a reference (ground truth or another result).

The numbers follow the DiffPR paper's convention (Zhang, DiffPR, §5.1: "target phase maps are linearly
rescaled to the [0, 1] range"): the *reference's* minimum and maximum define one linear map
``x -> (x - ref_min) / (ref_max - ref_min)`` that is applied to **both** maps, so the reference
spans exactly [0, 1] and the result is judged on that same scale (it is not rescaled on its own,
which would hide a wrong phase amplitude). PSNR and SSIM then use ``data_range = 1``.

Only numpy and scikit-image are used; nothing here imports torch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, ParameterError

#: Names of the numbers :func:`compare` returns, in display order.
METRIC_NAMES = ("psnr", "ssim", "mae", "hf_error")

#: Default high-frequency cutoff in cycles per pixel (Nyquist is 0.5).
DEFAULT_HF_CUTOFF = 0.1

_SSIM_MIN_SIDE = 7  # scikit-image's default SSIM window


def _phase_of(obj: Any, what: str) -> np.ndarray:
    """A float64 copy of a Result's phase or of an array (the caller's data is never touched)."""
    data = getattr(obj, "phase", obj)
    try:
        arr = np.array(data, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a Result or a numeric array; got {type(obj).__name__}: {exc}") from None
    if arr.ndim not in (2, 3):
        raise InputError(f"{what} must be a 2-D phase map (H x W) or a stack (N x H x W); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{what} contains {int((~np.isfinite(arr)).sum())} NaN or infinite pixel(s)")
    return arr


def _check_shapes(result: np.ndarray, reference: np.ndarray, mask) -> np.ndarray | None:
    if result.shape != reference.shape:
        raise InputError(f"the result has shape {result.shape} but the reference has shape {reference.shape}; "
                         "compare maps of the same size (crop or resample one of them first)")
    if min(result.shape[-2:]) < _SSIM_MIN_SIDE:
        raise InputError(f"phase maps of {result.shape[-2]} x {result.shape[-1]} pixels are too small for SSIM; "
                         f"at least {_SSIM_MIN_SIDE} x {_SSIM_MIN_SIDE} is needed")
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise InputError("mask must be boolean (True = pixels to score) or contain only 0 and 1")
        m = m.astype(bool)
    if m.shape != result.shape[-2:] and m.shape != result.shape:
        raise InputError(f"mask has shape {m.shape}; expected the phase map's {result.shape[-2:]}"
                         + (f" or the stack's {result.shape}" if result.ndim == 3 else ""))
    if not m.any():
        raise InputError("mask selects no pixels; nothing to compare")
    return np.broadcast_to(m, result.shape)


def rescale_to_reference(result, reference, *, data_range: float | None = None, mask=None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(result01, reference01)``: both maps mapped with the reference's linear [0, 1]
    scaling (minimum -> 0; ``data_range`` radians -> 1, by default the reference's max - min,
    both taken over ``mask`` when given). float64 copies; inputs are not modified."""
    res = _phase_of(result, "result")
    ref = _phase_of(reference, "reference")
    m = _check_shapes(res, ref, mask)
    return _rescale_frame(res, ref, data_range, m)


def _rescale_frame(res, ref, data_range, m):
    vals = ref[m] if m is not None else ref
    low = float(vals.min())
    if data_range is None:
        span = float(vals.max()) - low
        if span <= 0:
            raise InputError("the reference phase map is constant (its minimum equals its maximum), so it cannot "
                             "be rescaled to [0, 1]; pass data_range= (radians) to set the scale yourself")
    else:
        if isinstance(data_range, (bool, str, bytes)) or not np.isscalar(data_range) \
                or not np.issubdtype(type(data_range), np.number) or not np.isfinite(data_range) \
                or float(data_range) <= 0:
            raise ParameterError(f"data_range must be a positive number of radians; got {data_range!r}")
        span = float(data_range)
    return (res - low) / span, (ref - low) / span


def high_frequency_error(result01: np.ndarray, reference01: np.ndarray, *,
                         cutoff: float = DEFAULT_HF_CUTOFF, mask=None) -> float:
    """RMS of the error's fine detail: the difference ``result - reference`` high-pass filtered
    at ``cutoff`` (cycles per pixel, an ideal radial filter), as an RMS over the image.

    Same units as the inputs (the [0, 1]-rescaled units in :func:`compare`, like MAE). 0 means
    the fine detail is exact; offsets, tilts and other slow errors do not count; white noise of
    standard deviation s scores ``s * sqrt(1 - pi * cutoff**2)`` (the share of the spectrum
    above the cutoff). Computed with Parseval's theorem from the orthonormal 2-D DCT-II
    (mirror boundaries): ``sqrt(sum_{|f| > cutoff} C[err]^2 / (H * W))``, ``f = (ky/2H, kx/2W)``.
    An absolute RMS rather than a ratio to the
    reference's own fine detail, because a band-limited reference (e.g. a simulated ground truth)
    has almost none and a ratio would explode. With ``mask``, pixels outside it are zeroed
    before the transform and the RMS is taken over the mask's pixel count.
    """
    if isinstance(cutoff, (bool, str, bytes)) or not np.isscalar(cutoff) or not (0 < cutoff < 0.5 * np.sqrt(2)):
        raise ParameterError(f"hf_cutoff must lie between 0 and {0.5 * np.sqrt(2):.3f} cycles per pixel "
                             f"(0.5 is the Nyquist frequency); got {cutoff!r}")
    err = result01 - reference01
    n_scored = err.size
    if mask is not None:
        err = np.where(mask, err, 0.0)
        n_scored = int(np.count_nonzero(mask))
    from scipy.fft import dctn

    # DCT, not FFT: its mirrored extension has no jump at the image border, so a slow error such
    # as a tilt is not mistaken for fine detail. Index k of an axis of n pixels is k / 2n cycles/px.
    fy = np.arange(err.shape[0])[:, None] / (2.0 * err.shape[0])
    fx = np.arange(err.shape[1])[None, :] / (2.0 * err.shape[1])
    high = np.hypot(fy, fx) > cutoff
    energy = float(np.sum(dctn(err, norm="ortho")[high] ** 2))  # orthonormal: Parseval holds
    return float(np.sqrt(energy / n_scored))


def _frame_metrics(res01, ref01, m, hf_cutoff) -> dict[str, float]:
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

    if m is None:
        mse = mean_squared_error(ref01, res01)
        # scikit-image divides by zero (with a warning) for identical maps; the answer is +inf.
        psnr = float("inf") if mse == 0 else float(peak_signal_noise_ratio(ref01, res01, data_range=1.0))
        ssim = float(structural_similarity(ref01, res01, data_range=1.0))
        mae = float(np.mean(np.abs(res01 - ref01)))
    else:
        diff = (res01 - ref01)[m]
        mse = float(np.mean(diff ** 2))
        psnr = float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))
        _, ssim_map = structural_similarity(ref01, res01, data_range=1.0, full=True)
        ssim = float(ssim_map[m].mean())
        mae = float(np.mean(np.abs(diff)))
    hf = high_frequency_error(res01, ref01, cutoff=hf_cutoff, mask=m)
    return {"psnr": psnr, "ssim": ssim, "mae": mae, "hf_error": hf}


def compare(result_or_array, reference, *, data_range: float | None = None, mask=None,
            hf_cutoff: float = DEFAULT_HF_CUTOFF) -> dict[str, float]:
    """Score a phase map against a reference.

    result_or_array: a :class:`~napari_diffpr.result.Result` (its ``.phase`` is used) or an
        array of phase in radians, H x W (or N x H x W: per-frame scores are averaged).
    reference: the ground truth (or any other phase map), same shape, radians; a Result works too.
    data_range: span of phase in radians that is mapped onto 1. Default: the reference's
        max - min. The reference's minimum always maps to 0; the *same* map is applied to the
        result (DiffPR paper convention, §5.1), so the reference lies in [0, 1] and the
        result is not rescaled independently.
    mask: optional boolean H x W (or N x H x W) array; only True pixels are scored (the [0, 1]
        scaling then uses the reference's min/max inside the mask; SSIM is the mean of
        scikit-image's SSIM map over the mask).
    hf_cutoff: cutoff of the high-frequency error in cycles per pixel (default 0.1; Nyquist 0.5).

    Returns ``{"psnr": dB (inf when identical), "ssim": -1..1, "mae": mean absolute error in
    [0, 1]-rescaled units (multiply by the reference's span for radians), "hf_error": RMS of
    the error's detail above hf_cutoff, same units as MAE, see :func:`high_frequency_error`}``.
    Raises InputError for shape mismatches, NaN/inf, too-small maps or a constant reference.
    """
    res = _phase_of(result_or_array, "result")
    ref = _phase_of(reference, "reference")
    m = _check_shapes(res, ref, mask)
    if res.ndim == 2:
        return _frame_metrics(*_rescale_frame(res, ref, data_range, m), m, hf_cutoff)
    per_frame = []
    for i in range(res.shape[0]):
        mi = None if m is None else m[i]
        per_frame.append(_frame_metrics(*_rescale_frame(res[i], ref[i], data_range, mi), mi, hf_cutoff))
    return {k: float(np.mean([f[k] for f in per_frame])) for k in METRIC_NAMES}


def abs_error(result, reference) -> np.ndarray:
    """Per-pixel ``|result - reference|`` in radians (float32, no rescaling, no offset removal):
    the error map shown as a layer next to the metrics. Shapes must match."""
    res = _phase_of(result, "result")
    ref = _phase_of(reference, "reference")
    if res.shape != ref.shape:
        raise InputError(f"the result has shape {res.shape} but the reference has shape {ref.shape}; "
                         "compare maps of the same size")
    return np.abs(res - ref).astype(np.float32)
