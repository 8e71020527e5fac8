"""Training pools for the physics-aware RGB models (issue 8): every pool image has its own
random microscope (optics.rgb_random.RGB_WIDE), and its network input is the physics-normalised
feature stack computed with that microscope's optics (models.rgb_inputs), exactly as at inference.

Seeds as in training.data: image ``i`` of ``split`` uses ``batch_generator(split, i, salt=4)``, so
train/validation/test never share a sample. ``held_out=True`` draws only the held-out family
(beads), for the benchmark. Cached as .pt files (phase, input) plus a .json of the optics.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .data import batch_generator

RGB_PHYSICS_VARIANT = "rgb-physics-cellsize"   # cache tag: bumped when the pools change (physical cell size, 2026-12-05)


def simulate_pool(split: str, n: int, size: int, config: dict | None = None, kinds=None,
                  optics_override: dict | None = None, noise: bool = True, window: bool = False,
                  illumination: str = "blur"):
    """(phase (n, 1, size, size) rad, input (n, 7, size, size), optics list, rgb (n, 3, size, size)).
    ``window``: each image is the centre of a field twice as wide, as a camera frame is a window on
    the dish (cells cut by its edge, none of the periodic propagation's wrap-around; session 9).
    ``illumination``: ``"blur"`` or ``"sources"`` (the exact partial coherence; rgb_random.render)."""
    from ..models.rgb_inputs import physics_features
    from ..optics import rgb_random

    phases, feats, optics, rgbs = [], [], [], []
    for i in range(n):
        g = batch_generator(split, i, "cpu", salt=4)
        with torch.no_grad():
            img, ph, o = rgb_random.sample(2 * size if window else size, g, kinds=kinds,
                                           optics=optics_override, noise=noise, illumination=illumination)
        if window:
            c = slice(size // 2, size // 2 + size)
            img, ph = img[..., c, c].contiguous(), ph[..., c, c].contiguous()
        phases.append(ph[0])
        rgbs.append(img[0])
        given = dict(o, defocus_um=o["defocus_per_channel_um"])   # what a user gives (per channel)
        feats.append(torch.from_numpy(physics_features(img[0].numpy(), given, config)))
        optics.append(o)
    return torch.stack(phases), torch.stack(feats), optics, torch.stack(rgbs)


def load_rgb_pool(split: str, n: int, size: int, cache_dir: str | Path | None = "runs/cache",
                  device="cpu", config: dict | None = None, held_out: bool = False, window: bool = False,
                  illumination: str = "blur") -> dict:
    """{"phase", "input"} tensors on ``device`` (+ "optics" list), cached in ``cache_dir``."""
    from ..optics.rgb_random import HELD_OUT_KIND

    kinds = (HELD_OUT_KIND,) if held_out else None
    tag = f"pool-{split}-{n}x{size}-{RGB_PHYSICS_VARIANT}{'-heldout' if held_out else ''}{'-window' if window else ''}{'-sources-by-na' if illumination == 'sources' else ''}"
    base = None if cache_dir is None else Path(cache_dir) / tag
    if base is not None and base.with_suffix(".pt").is_file():
        data = torch.load(base.with_suffix(".pt"), map_location="cpu", weights_only=True)
        optics = json.loads(base.with_suffix(".json").read_text())
    else:
        phase, feats, optics, rgb = simulate_pool(split, n, size, config, kinds, window=window,
                                                    illumination=illumination)
        data = {"phase": phase, "input": feats}
        if base is not None:
            base.parent.mkdir(parents=True, exist_ok=True)
            tmp = base.with_suffix(".tmp")
            torch.save(data, tmp)
            base.with_suffix(".json").write_text(json.dumps(optics))
            tmp.replace(base.with_suffix(".pt"))
    return {"phase": data["phase"].to(device), "input": data["input"].to(device), "optics": optics}
