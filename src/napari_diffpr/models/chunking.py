"""Spatially chunked network evaluation: bounded memory for the diffusion prior on large frames.

The prior's activations take ~1 kB per pixel, so one evaluation on a 2048² frame needs ~4 GB.
Large frames are therefore evaluated on overlapping windows of at most ``CHUNK_PIXELS`` pixels
and blended with linear ramps across the overlap (no seams). Everything around the network
(demodulation, the measurement guide, the band limit, the sampler's arithmetic) still sees the
whole frame, unlike whole-method tiling (models.tiling), which re-demodulates each tile.

Frames up to ``CHUNK_PIXELS`` are evaluated whole, exactly as before. A window's GroupNorm
statistics differ slightly from the whole frame's; the prior was trained on 48² crops, so
neither is the training condition (docs/models.md measures the effect at 2048²).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

CHUNK_PIXELS = 1152 * 1152   # the most pixels (H x W) of one prior evaluation
CHUNK_OVERLAP = 64           # px shared by neighbouring windows (the prior's receptive tails)


def window_plan(n: int, max_side: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of equal windows covering 0..n: as few windows as fit ``max_side`` with at
    least ``overlap`` shared px, each side a multiple of ``multiple``. One window when n fits."""
    if n <= max_side:
        return [0]
    if not 0 <= overlap < max_side:
        raise ValueError(f"the overlap ({overlap}) must be smaller than the window ({max_side})")
    k = math.ceil((n - overlap) / max(1, max_side - overlap))
    side = window_side(n, k, overlap, multiple)
    return [round(i * (n - side) / (k - 1)) for i in range(k)]


def window_side(n: int, k: int, overlap: int, multiple: int) -> int:
    """The side of each of ``k`` windows over ``n`` px that share ``overlap`` px."""
    if k <= 1:
        return n
    side = math.ceil((n + (k - 1) * overlap) / k)
    return min(n, multiple * math.ceil(side / multiple))


def _ramp(length: int, ramp: int, at_start: bool, at_end: bool, device) -> torch.Tensor:
    w = torch.ones(length, device=device)
    if ramp > 0:
        rise = (torch.arange(ramp, device=device, dtype=torch.float32) + 0.5) / ramp
        if not at_start:
            w[:ramp] = rise
        if not at_end:
            w[length - ramp:] = torch.minimum(w[length - ramp:], rise.flip(0))
    return w


def chunked(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, max_pixels: int | None = None,
            overlap: int = CHUNK_OVERLAP, multiple: int = 1) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(x, t)`` (an eps-prediction network: same shape out as in) evaluated on overlapping
    windows of x (B, C, H, W) when H x W exceeds ``max_pixels``; ``multiple``: the network's
    size multiple (window sides are multiples of it). ``max_pixels`` defaults to CHUNK_PIXELS."""
    max_pixels = CHUNK_PIXELS if max_pixels is None else int(max_pixels)
    max_side = multiple * max(1, int(math.isqrt(max_pixels)) // multiple)
    overlap = min(int(overlap), max_side // 4)   # windows must advance

    def run(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h * w <= max_pixels:
            return fn(x, t)
        ys = window_plan(h, max_side, overlap, multiple)
        xs = window_plan(w, max_side, overlap, multiple)
        th = window_side(h, len(ys), overlap, multiple)
        tw = window_side(w, len(xs), overlap, multiple)
        out = torch.zeros_like(x)
        norm = torch.zeros((h, w), device=x.device, dtype=x.dtype)
        for i, y0 in enumerate(ys):
            shared_y = th - (ys[1] - ys[0]) if len(ys) > 1 else 0
            wy = _ramp(th, min(shared_y, th // 2), i == 0, i == len(ys) - 1, x.device)
            for j, x0 in enumerate(xs):
                shared_x = tw - (xs[1] - xs[0]) if len(xs) > 1 else 0
                wx = _ramp(tw, min(shared_x, tw // 2), j == 0, j == len(xs) - 1, x.device)
                wgt = (wy[:, None] * wx[None, :]).to(x.dtype)
                y = fn(x[..., y0:y0 + th, x0:x0 + tw], t)
                out[..., y0:y0 + th, x0:x0 + tw] += y * wgt
                norm[y0:y0 + th, x0:x0 + tw] += wgt
                del y
        return out / norm

    run.size_multiple = multiple  # type: ignore[attr-defined]
    return run
