"""Tiled inference for the network methods on frames too large for memory (issue 12).

The method runs unchanged on overlapping square tiles (its own generator, tile by tile); the
tiles are blended with weights that fall smoothly (raised cosine) to zero across the overlap,
so there is no seam, and each tile's phase is first shifted by a constant so that it agrees
with the tiles already placed (a network's phase, like any phase, is defined up to an offset,
and each tile's background fit picks its own). The tile size comes from the memory budget
(:mod:`napari_diffpr.memory`): the largest tile whose estimated peak fits after the
full-frame arrays (input copy, blended sums, result). Nothing here changes the pipeline: it
wraps ``Method.run`` from outside.
"""
from __future__ import annotations

import math
import time
from typing import Any, Generator

import numpy as np

from .. import memory
from ..result import Progress, Result, relay

DEFAULT_OVERLAP = 64    # px on each side shared by neighbouring tiles (a few network receptive fields' tails)
TILE_MULTIPLE = 32      # tile sides are multiples of this (the networks' downsampling)
MIN_TILE = 256       # smaller tiles spend most of their area on overlap
_MAPS = ("amplitude", "uncertainty", "residual")


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering 0..n with at least ``overlap`` shared
    pixels between neighbours; the last tile ends at n (all tiles have the same size)."""
    if tile >= n:
        return [0]
    step = tile - overlap
    count = math.ceil((n - tile) / step) + 1
    # spread the starts evenly so every overlap is >= overlap
    return [round(i * (n - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D weight: raised-cosine rise over ``overlap`` px at each end that meets a neighbour,
    flat 1 elsewhere (and at the image border). Strictly positive."""
    w = np.ones(length, np.float64)
    if overlap > 0:
        t = (np.arange(overlap) + 0.5) / overlap
        rise = 0.5 - 0.5 * np.cos(np.pi * t)
        if not at_start:
            w[:overlap] = rise
        if not at_end:
            w[length - overlap:] = rise[::-1]
    return w


def tiles(shape: tuple[int, int], tile: int, overlap: int) -> list[tuple[slice, slice, np.ndarray]]:
    """(row slice, column slice, blend weights) of every tile of an H x W frame. Every pixel
    gets a positive total weight; inside the image the weights of overlapping tiles cross-fade."""
    h, w = shape
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    oy, ox = min(_shared(ys, th), th // 2), min(_shared(xs, tw), tw // 2)  # ramps never cross
    out = []
    for i, y0 in enumerate(ys):
        wy = _ramp(th, oy, i == 0, i == len(ys) - 1)
        for j, x0 in enumerate(xs):
            wx = _ramp(tw, ox, j == 0, j == len(xs) - 1)
            out.append((slice(y0, y0 + th), slice(x0, x0 + tw), np.outer(wy, wx)))
    return out


def _shared(starts: list[int], tile: int) -> int:
    """Blend width: the smallest overlap between neighbouring tiles (0 for a single tile)."""
    if len(starts) == 1:
        return 0
    return min(tile - (b - a) for a, b in zip(starts, starts[1:]))


def frame_bytes(frame: np.ndarray, n_frames: int = 1) -> float:
    """Full-frame memory of a tiled run besides one tile: input copy, the blended sums (phase,
    amplitude, maps) and their weights, the result."""
    h, w = frame.shape[:2]
    return 4.0 * frame.size * n_frames + (4 * 8.0 + 8.0 + 4 * 4.0) * h * w


def tile_for_budget(method, frame: np.ndarray, params: dict, *, background: bool = False,
                    overlap: int = DEFAULT_OVERLAP, budget: float | None = None, n_frames: int = 1) -> int | None:
    """Largest tile side (a multiple of TILE_MULTIPLE, >= MIN_TILE) whose estimated peak plus
    the full-frame arrays fits ``budget`` (default: the memory budget); None if none fits."""
    budget = memory.budget_bytes() if budget is None else budget
    left = budget - frame_bytes(frame, n_frames)
    h, w = frame.shape[:2]
    side = TILE_MULTIPLE * (max(h, w) // TILE_MULTIPLE + 1)
    while side >= max(MIN_TILE, 2 * overlap + TILE_MULTIPLE):
        shape = (side, side) + frame.shape[2:]
        need = memory.estimate_bytes(method, np.broadcast_to(np.float32(0), shape), params, background=background)
        if need <= left:
            return side
        side -= TILE_MULTIPLE
    return None


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).
    Tiles free and re-allocate the same large temporaries; without this the resident set of a
    long tiled run creeps up with heap fragmentation."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run_tiled(method, frame: np.ndarray, background: np.ndarray | None, params: dict[str, Any], *,
              tile: int, overlap: int = DEFAULT_OVERLAP) -> Generator[Progress, None, Result]:
    """Run ``method`` on overlapping tiles of ``frame`` and blend them; yields the tiles'
    progress (stage prefixed with the tile number) and returns one Result for the frame."""
    t0 = time.perf_counter()
    h, w = frame.shape[:2]
    overlap = max(0, min(int(overlap), int(tile) // 2 - 1))
    plan = tiles((h, w), int(tile), overlap)
    acc = np.zeros((h, w), np.float64)
    weight = np.zeros((h, w), np.float64)
    maps: dict[str, np.ndarray | None] = {}
    first_meta: dict = {}
    offsets = []
    for k, (sy, sx, wt) in enumerate(plan):
        sub = np.ascontiguousarray(frame[sy, sx])
        bg = None if background is None else np.ascontiguousarray(background[sy, sx])
        gen = method.run(sub, background=bg, cache={}, **params)
        # a tile's preview is not the frame's: pass the progress on without it
        res: Result = yield from relay(gen, f"tile {k + 1}/{len(plan)}: ", keep_preview=False)
        phase = res.phase.astype(np.float64)
        # agree with the tiles already placed: the weighted mean difference over the overlap
        placed = weight[sy, sx] > 0
        offset = 0.0
        if placed.any():
            mine = acc[sy, sx][placed] / weight[sy, sx][placed]
            offset = float(np.median(mine - phase[placed]))
        offsets.append(offset)
        acc[sy, sx] += (phase + offset) * wt
        weight[sy, sx] += wt
        for name in _MAPS:
            value = getattr(res, name, None)
            if k == 0:
                maps[name] = None if value is None else np.zeros((h, w), np.float64)
            if maps.get(name) is not None and value is not None:
                maps[name][sy, sx] += value * wt
        if k == 0:
            first_meta = dict(res.metadata)
        del res, phase, gen
        value = mine = placed = None  # noqa: F841 - drop the last references before trimming
        release_freed_memory()
    phase = (acc / weight).astype(np.float32)
    extra = {name: (m / weight).astype(np.float32) for name, m in maps.items() if m is not None}
    meta = dict(first_meta)
    meta["tiling"] = {"tile_px": int(plan[0][0].stop - plan[0][0].start), "overlap_px": overlap,
                      "n_tiles": len(plan), "blend": "raised cosine over the overlap",
                      "tile_offsets_rad": [round(o, 6) for o in offsets],
                      "note": "per-tile records other than the first are not kept"}
    meta.setdefault("timings", {})
    meta["timings"] = {**meta["timings"], "total_s": time.perf_counter() - t0}
    return Result(phase=phase, metadata=meta, **extra)
