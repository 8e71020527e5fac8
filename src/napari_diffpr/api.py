"""The headless API: one code path for scripts, the CLI and the napari dock.

``run_method`` is the generator the dock runs in a worker; ``reconstruct`` drains it.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Generator

import numpy as np

from . import __version__
from .errors import Cancelled, InputError
from .methods import Method, get_method
from .result import Progress, Result
from .validation import as_hologram_stack, as_rgb_stack, check_background


def _pick_method(method: str | Method, data) -> Method:
    if isinstance(method, Method):
        return method
    shape = np.shape(data)
    looks_rgb = len(shape) in (3, 4) and shape[-1] == 3
    return get_method(method, modality="rgb" if looks_rgb else None)


def run_method(data, method: str | Method = "fourier", *, background=None,
               cache: dict | None = None, **params: Any) -> Generator[Progress, None, Result]:
    """Validate ``data`` and parameters, then run ``method`` frame by frame, yielding
    Progress events; return a Result (phase stacked to N x H x W when the input was a stack).

    The caller's arrays are never modified: they are copied to float32 first."""
    m = _pick_method(method, data)
    resolved = m.resolve_params(params)
    if m.modality == "rgb":
        frames = as_rgb_stack(data)
        single = np.ndim(data) == 3
        if background is not None:
            raise InputError(f"method {m.name!r} works on RGB images and takes no background hologram")
        backgrounds = [None] * len(frames)
    else:
        frames = as_hologram_stack(data)
        single = np.ndim(data) == 2
        if background is not None and not m.uses_background:
            raise InputError(f"method {m.name!r} does not use a background hologram")
        backgrounds = check_background(background, frames) if background is not None else [None] * len(frames)

    cache = {} if cache is None else cache
    phases, amplitudes, frame_meta = [], [], []
    maps: dict[str, list] = {"uncertainty": [], "residual": []}
    t0 = time.perf_counter()
    n = len(frames)
    for i, (frame, bg) in enumerate(zip(frames, backgrounds)):
        frame_cache = cache.setdefault(i, {}) if n > 1 else cache
        gen = m.run(frame, background=bg, cache=frame_cache, **resolved)
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                res: Result = stop.value
                break
            # a preview is the caller's to keep or edit: never a view of the result being built
            preview = None if event.preview is None else np.array(event.preview, copy=True)
            stage = f"frame {i + 1}/{n}: {event.stage}" if n > 1 else event.stage
            yield Progress(stage=stage, step=event.step, total=event.total, preview=preview,
                           message=event.message)
        phases.append(res.phase)
        amplitudes.append(res.amplitude)
        for key in maps:
            maps[key].append(getattr(res, key, None))
        frame_meta.append(res.metadata)
    phase = phases[0] if single else np.stack(phases)
    amplitude = None
    if all(a is not None for a in amplitudes):
        amplitude = amplitudes[0] if single else np.stack(amplitudes)
    # optional per-pixel maps (learned hologram methods), stacked like the phase
    extra = {k: (v[0] if single else np.stack(v)) for k, v in maps.items() if all(a is not None for a in v)}
    metadata = dict(frame_meta[0])
    metadata.update({
        "method": m.name,
        "modality": m.modality,
        "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()},
        "background_used": background is not None,
        "n_frames": n,
        "seconds": time.perf_counter() - t0,
        "napari_diffpr_version": __version__,
        "input_shape": list(np.shape(data)),
    })
    if n > 1:
        metadata["frames"] = frame_meta
    return Result(phase=phase, amplitude=amplitude, metadata=metadata, **extra)


def reconstruct(data, method: str | Method = "fourier", *, background=None,
                progress: Callable[[Progress], Any] | None = None,
                cache: dict | None = None, **params: Any) -> Result:
    """Reconstruct a phase map (radians) from ``data`` with ``method``.

    data: a 2-D off-axis hologram (H x W), a hologram stack (N x H x W), an RGB chromatic
    brightfield image (H x W x 3) or a stack of them (N x H x W x 3).
    method: a name from ``napari_diffpr.methods()`` ("fourier", "tie", "unet",
    "reduced-unet", "diffpr"...). Names shared by both modalities pick the RGB variant for
    H x W x 3 input.
    background: a sample-free hologram of the same size (hologram methods only).
    progress: called with each Progress event; return False from it to cancel
    (raises napari_diffpr.errors.Cancelled).
    **params: the method's parameters; see ``napari_diffpr.methods()[name].params``.
    """
    gen = run_method(data, method, background=background, cache=cache, **params)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None and progress(event) is False:
            gen.close()
            raise Cancelled("reconstruction cancelled by the progress callback")
