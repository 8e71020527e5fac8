"""Argument checks shared by the forward models: each raises a ParameterError or InputError that
names the argument, what it got and what was expected."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InputError, ParameterError

MIN_IMAGE_SIZE = 8  # the simulator accepts small test images; methods enforce their own minimum


def number(name: str, value, *, minimum=None, maximum=None, strict_min=False, strict_max=False,
           unit: str = "") -> float:
    """``value`` as a finite float inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ParameterError(f"{name} must be a number{unit and ' in ' + unit}, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be finite, got {v}")
    low_bad = minimum is not None and (v <= minimum if strict_min else v < minimum)
    high_bad = maximum is not None and (v >= maximum if strict_max else v > maximum)
    if low_bad or high_bad:
        lo = "" if minimum is None else f"{'>' if strict_min else '>='} {minimum}"
        hi = "" if maximum is None else f"{'<' if strict_max else '<='} {maximum}"
        rng = " and ".join(s for s in (lo, hi) if s)
        raise ParameterError(f"{name} must be {rng}{unit and ' ' + unit}; got {v}")
    return v


def optional_number(name: str, value, **kw) -> float | None:
    return None if value is None else number(name, value, **kw)


def triple(name: str, value, *, positive=False, unit: str = "") -> tuple[float, float, float]:
    """Three finite numbers (one per R, G, B channel)."""
    try:
        items = [value[i] for i in range(len(value))]
    except TypeError:
        raise ParameterError(f"{name} must be three numbers (R, G, B){unit and ' in ' + unit}, "
                             f"got {value!r}") from None
    if len(items) != 3:
        raise ParameterError(f"{name} must have exactly 3 values (R, G, B), got {len(items)}: {value!r}")
    return tuple(number(f"{name}[{i}]", v, minimum=0.0 if positive else None, strict_min=positive,
                        unit=unit) for i, v in enumerate(items))


def image(name: str, value, *, allow_negative=True) -> np.ndarray:
    """A finite 2-D float32 *copy* of ``value`` (the caller's array is never touched)."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric 2-D array, got {type(value).__name__}: {exc}") from None
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D image (H x W), got shape {arr.shape}")
    if min(arr.shape) < MIN_IMAGE_SIZE:
        raise InputError(f"{name} is {arr.shape[0]} x {arr.shape[1]} pixels; "
                         f"at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE} is needed")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{name} contains {int(bad.sum())} NaN or infinite pixel(s)")
    if not allow_negative and (arr < 0).any():
        raise InputError(f"{name} must be >= 0 everywhere (it is an amplitude); min is {arr.min()}")
    return arr


def carrier(value) -> tuple[float, float]:
    """A (fy, fx) carrier in cycles/pixel with 0 < |carrier| <= 0.5."""
    fy, fx = triple_like_pair("carrier", value)
    norm = math.hypot(fy, fx)
    if norm == 0.0 or norm > 0.5:
        raise ParameterError(f"carrier (fy, fx) = ({fy}, {fx}) cycles/pixel has length {norm:.3g}; "
                             "it must be > 0 and <= 0.5 cycles/pixel (the Nyquist limit)")
    return fy, fx


def triple_like_pair(name: str, value) -> tuple[float, float]:
    try:
        items = [value[i] for i in range(len(value))]
    except TypeError:
        raise ParameterError(f"{name} must be two numbers (fy, fx), got {value!r}") from None
    if len(items) != 2:
        raise ParameterError(f"{name} must have exactly 2 values (fy, fx), got {len(items)}: {value!r}")
    return tuple(number(f"{name}[{i}]", v) for i, v in enumerate(items))


def seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ParameterError(f"seed must be an integer, got {value!r}")
    return int(value)
