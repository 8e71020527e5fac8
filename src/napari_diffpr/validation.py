"""Checks on measurements before any method sees them. Each returns a float32 *copy*, so no
method can modify the caller's array, and each error says what was wrong and what was expected."""
from __future__ import annotations

import numbers

import numpy as np

from .errors import InputError

MIN_SIZE = 32


def as_array(data, what: str) -> np.ndarray:
    """``data`` as a numpy array without copying when it already is one; InputError for ragged
    lists, objects, strings, complex or empty data."""
    if isinstance(data, (str, bytes)):
        raise InputError(f"{what} must be a numeric array, got text {data[:40]!r}")
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:  # ragged nested lists, objects without __array__
        raise InputError(f"{what} must be a rectangular numeric array (H x W ...), got "
                         f"{type(data).__name__}: {exc}") from None
    if arr.dtype.kind == "c":
        raise InputError(f"{what} is complex ({arr.dtype}); napari-diffpr needs measured intensities, "
                         "not a field: pass abs(field)**2 for a hologram or np.angle(field) if you "
                         "already have the phase")
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{what} must be numeric, got {arr.dtype} data of shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{what} is empty (shape {arr.shape})")
    return arr


def _as_float_copy(data, what: str) -> np.ndarray:
    arr = as_array(data, what)
    return np.array(arr, dtype=np.float32, copy=True)


def _check_frame(frame: np.ndarray, what: str) -> None:
    h, w = frame.shape[:2]
    if h < MIN_SIZE or w < MIN_SIZE:
        raise InputError(f"{what} is {h} x {w} pixels; at least {MIN_SIZE} x {MIN_SIZE} is needed")
    # min and max pass NaN on and hold any infinity: two passes, no mask, in the common case
    lo, hi = float(frame.min()), float(frame.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = ~np.isfinite(frame)
        raise InputError(f"{what} contains {int(bad.sum())} NaN or infinite pixel(s) (as float32); "
                         "replace or crop them before reconstructing")
    if hi == lo:
        raise InputError(f"{what} is constant (every pixel = {float(frame.flat[0])!r}); "
                         "it carries no fringes or intensity contrast to reconstruct from")


def _check_intensity(frame: np.ndarray, what: str) -> None:
    """Methods that normalise by the mean intensity need a positive mean: an image whose mean
    is <= 0 is not a camera intensity (e.g. a sign-flipped or offset-subtracted image)."""
    mean = float(frame.mean(dtype=np.float64))
    if not mean > 0:
        raise InputError(f"{what} has mean {mean:.4g} <= 0, so it is not a measured intensity (camera "
                         "counts are >= 0); this method divides by the mean intensity. Pass the raw "
                         "image (undo any sign flip or offset subtraction)")


def as_hologram_stack(data, what: str = "hologram", *, intensity: bool = False) -> np.ndarray:
    """Return an N x H x W float32 copy of a 2-D hologram (N = 1) or a 3-D stack (T or Z first).
    ``intensity=True`` (methods that divide by the mean) also requires a positive mean."""
    arr = _as_float_copy(data, what)
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim != 3:
        raise InputError(f"{what} must be a 2-D image (H x W) or a 3-D stack (N x H x W); "
                         f"got {arr.ndim}-D data of shape {arr.shape}")
    if arr.shape[-1] in (3, 4) and arr.ndim == 3 and arr.shape[0] >= MIN_SIZE:
        raise InputError(f"{what} has shape {arr.shape}, which looks like an RGB image; "
                         "use an RGB method (e.g. 'tie') or convert it to grey first")
    for i, frame in enumerate(arr):
        name = what if len(arr) == 1 else f"{what} frame {i}"
        _check_frame(frame, name)
        if intensity:
            _check_intensity(frame, name)
    return arr


def as_rgb_stack(data, what: str = "RGB image") -> np.ndarray:
    """Return an N x H x W x 3 float32 copy of an H x W x 3 image (N = 1) or N x H x W x 3 stack.
    Every channel must have a positive mean: the methods divide each channel by its mean."""
    arr = _as_float_copy(data, what)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        raise InputError(f"{what} has 4 channels (RGBA, shape {arr.shape}); drop the alpha channel first")
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    elif not (arr.ndim == 4 and arr.shape[-1] == 3):
        raise InputError(f"{what} must be H x W x 3 (R, G, B last) or N x H x W x 3; "
                         f"got shape {arr.shape}")
    for i, frame in enumerate(arr):
        name = what if len(arr) == 1 else f"{what} frame {i}"
        # One flat channel is legitimate (a noise-free in-focus plane of a pure phase object has
        # no contrast); only an image with no contrast at all is rejected, by _check_frame.
        _check_frame(frame, name)
        for c, colour in enumerate("RGB"):
            _check_intensity(frame[..., c], f"{name}, channel {colour},")
    return arr


def check_background(background, frames: np.ndarray, what: str = "background hologram", *,
                     intensity: bool = False) -> np.ndarray:
    """Background must match one frame (H x W) or the whole stack; returns an N x H x W copy."""
    bg = _as_float_copy(background, what)
    frame_shape = frames.shape[1:]
    if bg.shape == frame_shape:
        bg = np.broadcast_to(bg, frames.shape)
    elif bg.shape != frames.shape:
        raise InputError(f"{what} has shape {bg.shape} but the hologram frames are {frame_shape} "
                         f"(stack {frames.shape}); record the background with the same camera ROI")
    for frame in bg[:1] if bg.strides[0] == 0 else bg:
        _check_frame(frame, what)
        if intensity:
            _check_intensity(frame, what)
    return bg


def is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
