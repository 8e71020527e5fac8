"""Checks on measurements before any method sees them. Each returns a float32 *copy*, so no
method can modify the caller's array, and each error says what was wrong and what was expected."""
from __future__ import annotations

import numpy as np

from .errors import InputError

MIN_SIZE = 32


def _as_float_copy(data, what: str) -> np.ndarray:
    try:
        arr = np.array(data, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a numeric array, got {type(data).__name__}: {exc}") from None
    if arr.dtype.kind not in "fiu" or arr.size == 0:
        raise InputError(f"{what} is empty or not numeric (shape {arr.shape})")
    return arr


def _check_frame(frame: np.ndarray, what: str) -> None:
    h, w = frame.shape[:2]
    if h < MIN_SIZE or w < MIN_SIZE:
        raise InputError(f"{what} is {h} x {w} pixels; at least {MIN_SIZE} x {MIN_SIZE} is needed")
    bad = ~np.isfinite(frame)
    if bad.any():
        raise InputError(f"{what} contains {int(bad.sum())} NaN or infinite pixel(s); "
                         "replace or crop them before reconstructing")
    if float(frame.max()) == float(frame.min()):
        raise InputError(f"{what} is constant (every pixel = {float(frame.flat[0])!r}); "
                         "it carries no fringes or intensity contrast to reconstruct from")


def as_hologram_stack(data, what: str = "hologram") -> np.ndarray:
    """Return an N x H x W float32 copy of a 2-D hologram (N = 1) or a 3-D stack (T or Z first)."""
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
        _check_frame(frame, what if len(arr) == 1 else f"{what} frame {i}")
    return arr


def as_rgb_stack(data, what: str = "RGB image") -> np.ndarray:
    """Return an N x H x W x 3 float32 copy of an H x W x 3 image (N = 1) or N x H x W x 3 stack."""
    arr = _as_float_copy(data, what)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        raise InputError(f"{what} has 4 channels (RGBA, shape {arr.shape}); drop the alpha channel first")
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    elif not (arr.ndim == 4 and arr.shape[-1] == 3):
        raise InputError(f"{what} must be H x W x 3 (R, G, B last) or N x H x W x 3; "
                         f"got shape {arr.shape}")
    for i, frame in enumerate(arr):
        # One flat channel is legitimate (a noise-free in-focus plane of a pure phase object has
        # no contrast); only an image with no contrast at all is rejected, by _check_frame.
        _check_frame(frame, what if len(arr) == 1 else f"{what} frame {i}")
    return arr


def check_background(background, frames: np.ndarray, what: str = "background hologram") -> np.ndarray:
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
    return bg
