"""The headless API: one code path for scripts, the CLI and the napari dock.

``run_method`` is the generator the dock runs in a worker; ``reconstruct`` drains it.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Generator

import numpy as np

from . import __version__, memory
from .caching import CallCache
from .errors import Cancelled, InputError, ParameterError, RetrievalError
from .methods import Method, get_method
from .result import Progress, Result, relay
from .validation import as_array, as_hologram_stack, as_rgb_stack, check_background

# Smallest spread of the planes' defocus values (µm) that TIE can difference: the phase scales
# as 1 / spread, so values closer than this give phases of millions of radians (pure noise).
MIN_DEFOCUS_SPREAD_UM = 0.01


def _pick_method(method: str | Method, data: np.ndarray) -> Method:
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise ParameterError(f"method must be a name (e.g. 'fourier') or a Method; got {type(method).__name__} {method!r}")
    shape = data.shape
    looks_rgb = len(shape) >= 3 and shape[-1] == 3  # H x W x 3, N x H x W x 3, T x Z x H x W x 3...
    return get_method(method, modality="rgb" if looks_rgb else None)


def _cross_check(m: Method, resolved: dict[str, Any]) -> None:
    """Checks that involve several values of one parameter (each value alone is in range)."""
    z = resolved.get("defocus")
    if isinstance(z, tuple) and len(z) >= 2:
        spread = max(z) - min(z)
        if 0 < spread < MIN_DEFOCUS_SPREAD_UM:
            raise ParameterError(
                f"the planes' defocus values {z} µm differ by only {spread:.3g} µm; TIE divides by this "
                f"difference, so it must be at least {MIN_DEFOCUS_SPREAD_UM} µm (chromatic focal shifts "
                "are typically 0.3-3 µm)")


def run_method(data, method: str | Method = "fourier", *, background=None,
               cache: dict | None = None, tile: int | None = None, tile_overlap: int | None = None,
               previews: bool = True, **params: Any) -> Generator[Progress, None, Result]:
    """Validate ``data`` and parameters, then run ``method`` frame by frame, yielding
    Progress events; return a Result (phase stacked to N x H x W when the input was a stack).
    ``previews=False`` leaves the events' previews out (nobody to show them: no copies).

    The caller's arrays are never modified: they are copied to float32 first. Before any
    large allocation the memory the run will need is estimated; above the budget
    (:mod:`napari_diffpr.memory`) it raises ResourceError and computes nothing."""
    if cache is not None and not isinstance(cache, dict):
        raise ParameterError(f"cache must be a dict (or None); got {type(cache).__name__}")
    arr = as_array(data, "the measurement")
    m = _pick_method(method, arr)
    resolved = m.resolve_params(params)
    _cross_check(m, resolved)
    # N-D (issue 12): leading axes (T, Z, position...: TZYX, T...YXC) are flattened to one frame
    # axis here and restored on the result, so every method sees N x H x W (x 3) as before.
    arr, background, lead = _flatten_leading(arr, background, rgb=m.modality == "rgb")
    if m.modality == "rgb":
        frames = as_rgb_stack(arr)
        single = arr.ndim == 3
        if background is not None:
            raise InputError(f"method {m.name!r} works on RGB images and takes no background hologram")
        backgrounds = [None] * len(frames)
    else:
        frames = as_hologram_stack(arr, intensity=m.uses_torch)
        single = arr.ndim == 2
        if background is not None and not m.uses_background:
            raise InputError(f"method {m.name!r} does not use a background hologram")
        backgrounds = (check_background(background, frames, intensity=m.uses_torch) if background is not None
                       else [None] * len(frames))

    cache = CallCache() if cache is None else cache  # our own, for this call only: no fingerprints
    frame_meta: list[dict] = []
    maps: dict[str, list] = {"uncertainty": [None], "residual": [None]}
    phases, amplitudes = [None], [None]
    t0 = time.perf_counter()
    n = len(frames)
    stack = ahead = None
    if m.name == "fourier" and n > 1:  # issue 12: batched row FFTs, optionally one sideband search
        from .retrieval.stack import FourierStack, FramesAhead

        # Without previews to show, frames run two at a time (one core each): each computes its
        # own row spectra, so nothing is batched ahead of them.
        ahead = FramesAhead() if not previews and isinstance(cache, CallCache) else None
        stack = FourierStack(frames, resolved, prefill=isinstance(cache, CallCache) and ahead is None)

    def finish(i: int, res: Result) -> None:
        """Check and keep frame ``i``'s result (frames finish in order)."""
        # a float64 sum of float32 values is finite exactly when every value is: one pass, no mask
        if not np.isfinite(res.phase.sum(dtype=np.float64)):
            bad = ~np.isfinite(res.phase)
            raise RetrievalError(f"method {m.name!r} produced {int(bad.sum())} NaN or infinite phase value(s)"
                                 + (f" in frame {i}" if n > 1 else "")
                                 + "; the parameters do not fit this measurement (check the sideband, "
                                   "filter size, defocus and pixel size)")
        if stack is not None:
            stack.after(i, res.metadata)
        if n > 1 and isinstance(cache, CallCache):
            cache.pop(i, None)  # nobody re-runs from a call-local cache: free the frame's spectra
        _keep(phases, i, None if single else n, res.phase)
        _keep(amplitudes, i, None if single else n, res.amplitude)
        for key in maps:
            _keep(maps[key], i, None if single else n, getattr(res, key, None))
        frame_meta.append(res.metadata)

    for i, (frame, bg) in enumerate(zip(frames, backgrounds)):
        frame_cache = cache.setdefault(i, CallCache() if isinstance(cache, CallCache) else {}) if n > 1 else cache
        if not isinstance(frame_cache, dict):
            raise ParameterError(f"cache[{i}] must be a dict (the per-frame cache); got {type(frame_cache).__name__}")
        frame_params = resolved if stack is None else stack.before(i, frame_cache, resolved)
        need = memory.run_bytes(m, frame, frame_params, background=bg is not None, cache=frame_cache, n_frames=n)
        tile_px = _tile_for(m, frame, resolved, bg is not None, need, n, tile, tile_overlap)
        if tile_px:  # issue 12: networks on overlapping, blended tiles sized by the memory budget
            from .models import tiling

            gen = tiling.run_tiled(m, frame, bg, resolved, tile=tile_px,
                                   overlap=tiling.DEFAULT_OVERLAP if tile_overlap is None else tile_overlap)
        else:
            memory.check(need, f"method {m.name!r} on a {frame.shape[0]} x {frame.shape[1]} image"
                         + (f" (stack of {n})" if n > 1 else ""), _memory_hint(m, resolved, tiling_off=tile == 0))
            gen = m.run(frame, background=bg, cache=frame_cache, **frame_params)
        if ahead is None:
            finish(i, (yield from relay(gen, f"frame {i + 1}/{n}: " if n > 1 else "", keep_preview=previews)))
            continue
        ahead.submit(i, gen)
        # "first frame" search: the later frames need frame 0's sideband before they start
        for j, res in ahead.done(wait_all=stack.once and i == 0):
            finish(j, res)
            yield Progress(f"frame {j + 1}/{n}: done", 1, 1)
    for j, res in (ahead.done(wait_all=True) if ahead is not None else ()):
        finish(j, res)
        yield Progress(f"frame {j + 1}/{n}: done", 1, 1)
    phase = phases[0]
    amplitude = amplitudes[0]
    # optional per-pixel maps (learned hologram methods), stacked like the phase
    extra = {k: v[0] for k, v in maps.items() if v[0] is not None}
    metadata = dict(frame_meta[0])
    metadata.update({
        "method": m.name,
        "modality": m.modality,
        "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()},
        "background_used": background is not None,
        "n_frames": n,
        "seconds": time.perf_counter() - t0,
        "napari_diffpr_version": __version__,
        "input_shape": list(arr.shape),
    })
    if n > 1:
        metadata["frames"] = frame_meta
    if lead is not None:
        metadata["input_shape"] = list(lead) + list(arr.shape[1:])
        metadata["leading_shape"] = list(lead)
        phase = phase.reshape(lead + phase.shape[1:])
        amplitude = None if amplitude is None else amplitude.reshape(lead + amplitude.shape[1:])
        extra = {k: v.reshape(lead + v.shape[1:]) for k, v in extra.items()}
    return Result(phase=phase, amplitude=amplitude, metadata=metadata, **extra)


def _keep(store: list, i: int, n: int | None, frame: np.ndarray | None) -> None:
    """Put frame ``i``'s map into ``store[0]``: the map itself for a single frame (``n`` None),
    else row ``i`` of an N x ... stack allocated at frame 0 (written while the frame is still in the cache, and no
    list of frames plus a stacked copy at the end). A map missing from any frame is dropped."""
    if frame is None or (i > 0 and store[0] is None):
        store[0] = None
    elif n is None:
        store[0] = frame
    else:
        if i == 0:
            store[0] = np.empty((n,) + frame.shape, dtype=frame.dtype)
        store[0][i] = frame


def _flatten_leading(arr: np.ndarray, background, *, rgb: bool):
    """(N x H x W [x 3] view, background to match, leading shape or None) for input with more
    than one leading axis; unchanged input and None otherwise. A background may be one frame or
    have the input's full shape."""
    spatial = 3 if rgb else 2
    if arr.ndim <= spatial + 1:
        return arr, background, None
    lead = tuple(arr.shape[:-spatial])
    flat = arr.reshape((-1,) + arr.shape[-spatial:])
    if background is not None and np.shape(background) == arr.shape:
        background = np.reshape(np.asarray(background), flat.shape)
    return flat, background, lead


def reconstruct(data, method: str | Method = "fourier", *, background=None,
                progress: Callable[[Progress], Any] | None = None,
                cache: dict | None = None, tile: int | None = None, tile_overlap: int | None = None,
                **params: Any) -> Result:
    """Reconstruct a phase map (radians) from ``data`` with ``method``.

    data: a 2-D off-axis hologram (H x W), a hologram stack (N x H x W), an RGB chromatic
    brightfield image (H x W x 3) or a stack of them (N x H x W x 3); any number of leading
    axes (T x Z x H x W, T x P x H x W x 3...) is accepted and kept on the result. A dask
    array gives a :class:`napari_diffpr.lazy.LazyResult` whose phase is a dask array computed
    frame by frame on demand (each frame's record kept as it is computed).
    method: a name from ``napari_diffpr.methods()`` ("fourier", "tie", "unet",
    "reduced-unet", "diffpr"...). Names shared by both modalities pick the RGB variant for
    H x W x 3 input.
    background: a sample-free hologram of the same size (hologram methods only).
    progress: called with each Progress event; return False from it to cancel
    (raises napari_diffpr.errors.Cancelled).
    tile, tile_overlap: network methods on large frames run on overlapping tiles blended
    without seams (:mod:`napari_diffpr.models.tiling`): by default only when the whole frame
    would exceed the memory budget, with the largest tile that fits; ``tile=N`` forces N px
    tiles, ``tile=0`` never tiles. ``tile_overlap`` (px, default 64) is the cross-fade width.
    **params: the method's parameters; see ``napari_diffpr.methods()[name].params``.
    """
    if progress is not None and not callable(progress):
        raise ParameterError(f"progress must be a function called with each Progress event (or None); "
                             f"got {type(progress).__name__} {progress!r}")
    if _is_dask(data):  # issue 12: a lazy result, computed frame by frame on demand
        from .lazy import reconstruct_lazy

        if tile is not None or tile_overlap is not None:
            params.update(tile=tile, tile_overlap=tile_overlap)
        return reconstruct_lazy(data, method, background=background, **params)
    gen = run_method(data, method, background=background, cache=cache, tile=tile, tile_overlap=tile_overlap,
                     previews=progress is not None, **params)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None and progress(event) is False:
            gen.close()
            raise Cancelled("reconstruction cancelled by the progress callback")


def _tile_for(m: Method, frame, resolved: dict, background: bool, need: float, n: int, tile, overlap) -> int | None:
    """Tile side for a network method: ``tile`` when given (0: never tile), else only when the
    whole frame would exceed the memory budget, the largest tile that fits (None: none does,
    and the memory check refuses the run as before)."""
    if tile is not None and (not isinstance(tile, (int, np.integer)) or isinstance(tile, bool) or tile < 0):
        raise ParameterError(f"tile must be a whole number of pixels (0 = never tile) or None (automatic); got {tile!r}")
    if overlap is not None and (not isinstance(overlap, (int, np.integer)) or isinstance(overlap, bool) or overlap < 0):
        raise ParameterError(f"tile_overlap must be a whole number of pixels >= 0; got {overlap!r}")
    if not m.uses_torch or tile == 0:
        return None
    if tile:
        return int(tile) if int(tile) < max(frame.shape[:2]) else None
    if need <= memory.budget_bytes():
        return None
    from .models import tiling

    return tiling.tile_for_budget(m, frame, resolved, background=background, n_frames=n,
                                  overlap=tiling.DEFAULT_OVERLAP if overlap is None else overlap)


def _is_dask(data) -> bool:
    """A dask array, recognised without importing dask."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "map_blocks")


def _memory_hint(m: Method, params: dict[str, Any], tiling_off: bool = False) -> str:
    base = m.name[:-4] if m.name.endswith("-rgb") else m.name
    if m.uses_torch and tiling_off:
        return "Tiling is off (tile=0): leave tile unset to run on tiles that fit the budget, or crop the image."
    if base == "fourier":
        return ("A tiny filter radius (a numerical aperture far below the carrier, or a carrier at the "
                "Nyquist frequency whose twin order leaves no room) pads the image enormously: check "
                "sideband, numerical_aperture, wavelength and pixel_size, or use filter_size; or crop the image.")
    if base == "diffpr" and int(params.get("samples", 1) or 1) > 1:
        return ("Use fewer posterior samples, or crop the image: even the smallest tile (with the whole-frame "
                "arrays) does not fit the budget.")
    if m.uses_torch:
        return ("Crop or bin the image: even the smallest tile (with the whole-frame arrays) does not fit "
                "the budget.")
    return "Crop the image."
