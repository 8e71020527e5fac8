"""Simulated training data from napari_diffpr.optics.simulate, seeded, with disjoint splits.

On this shared 2-core CPU the simulator and the demodulation cost more than a training step
(about 1–4 s per 16 images of 128²), so training draws from a *pool*: ``pool_size`` phantoms of
``pool_image`` pixels, each with one randomised hologram (its own carrier direction and
frequency, pupil, visibility, noise; half demodulated with their background hologram) or RGB
rendering, simulated once per split and cached in ``runs/cache``. Each batch is a seeded random
choice of pool images, one of the 8 flips/rotations (the optics are isotropic and a flipped
hologram is the hologram of the flipped object with a flipped carrier, so pairs stay valid) and
a random crop. Inputs are computed on the whole pool image and then cropped, so the network
sees what it sees on a whole image.

Seeds: batch or pool chunk ``i`` of a split uses ``SPLIT_SEEDS[split] + i``; the train,
validation and test ranges are 10 million apart, so the sets are disjoint, and a resumed run
draws exactly the batches an uninterrupted one would.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..models.inputs import down4, hologram_features, phase_to_network, rgb_features

SPLIT_SEEDS = {"train": 0, "validation": 10_000_000, "test": 20_000_000}
SPLIT_SIZE = 10_000_000
CHUNK = 16

# The wide randomisation of the physics-anchored hologram models (issue 7, data variant "wide").
# Held out of training, reported separately by benchmarks/bench_models.py: the phantom family
# "beads" (also no "mixed" fields, which contain beads) and carriers above 0.30 cycles/px.
WIDE = {
    "kinds": ("bcell", "wbc", "hela", "3t3"),
    "zoom": (0.5, 2.5),             # cell size x this (rendered at size/zoom, resampled)
    "phase_gain": (0.15, 2.0),      # peak phase x this: phantom peaks 1-6 rad -> 0.15-12 rad
    "carrier": (0.08, 0.30),        # cycles/px, any direction; low carriers included
    "pupil_fraction": (0.6, 1.0),   # of |carrier|/3 (1.0: the orders touch)
    "visibility": (0.2, 0.95),
    "photons": (30.0, 20000.0),     # log-uniform
    "read_noise": (0.0, 5.0),
    "aberration": (0.0, 2.0),       # rad peak-to-valley on the reference
    "falloff": (0.0, 0.4),
}
HELD_OUT = {"kind": "beads", "carrier": (0.30, 0.38)}


def batch_generator(split: str, index: int, device="cpu", salt: int = 0) -> torch.Generator:
    """The seeded generator of item ``index`` of ``split`` (``salt`` separates streams, e.g.
    the pool from the batch choice and the diffusion noise of the same step)."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_SEEDS)}; got {split!r}")
    if not 0 <= index < SPLIT_SIZE:
        raise ValueError(f"index must be in [0, {SPLIT_SIZE}); got {index}")
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(SPLIT_SEEDS[split] + index + salt * 7_919 * SPLIT_SIZE)
    return g


def simulate_phantoms(split: str, n: int, size: int, device="cpu", variant: str = "default") -> torch.Tensor:
    """``n`` phantoms (n, 1, size, size) in radians, simulated in seeded chunks of 16.
    ``variant="wide"``: the training families of ``WIDE`` only, each chunk rendered at
    size / zoom and resampled to ``size`` (cells from ~5 to ~150 px), each phantom's phase
    multiplied by a log-uniform gain."""
    from ..optics import simulate

    if variant == "default":
        return torch.cat([
            simulate.phantom_batch(min(CHUNK, n - c), size, generator=batch_generator(split, c // CHUNK, device, salt=2),
                                   device=device).float()
            for c in range(0, n, CHUNK)])
    if variant != "wide":
        raise ValueError(f"variant must be 'default' or 'wide'; got {variant!r}")
    return torch.cat([wide_phantoms(min(CHUNK, n - c), size, batch_generator(split, c // CHUNK, device, salt=2),
                                    WIDE["kinds"], device) for c in range(0, n, CHUNK)])


def _log_uniform(n, lo, hi, g, device):
    import math
    return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(n, generator=g, device=device))


def wide_phantoms(n: int, size: int, g: torch.Generator, kinds, device="cpu") -> torch.Tensor:
    """``n`` phantoms of ``kinds`` with a random zoom (one per call) and phase gain (per image)."""
    import torch.nn.functional as F

    from ..optics import simulate

    zoom = float(_log_uniform(1, *WIDE["zoom"], g, device))
    render = max(32, int(round(size / zoom)))
    ph = simulate.phantom_batch(n, render, kinds=list(kinds), generator=g, device=device).float()
    if render != size:
        ph = F.interpolate(ph, size=(size, size), mode="bilinear", align_corners=False,
                           antialias=render > size).clamp_min(0)
    return ph * _log_uniform(n, *WIDE["phase_gain"], g, device)[:, None, None, None]


def wide_holograms(phase: torch.Tensor, g: torch.Generator, carrier_range=None):
    """Holograms and backgrounds (n, 1, H, W) of ``phase`` with per-sample settings drawn from
    ``WIDE`` (``carrier_range`` overrides the carrier frequencies, e.g. the held-out regime)."""
    import math

    from ..optics._random import uniform
    from ..optics.hologram import forward, illumination_envelope, reference_aberration

    n, device = phase.shape[0], phase.device
    lo, hi = carrier_range or WIDE["carrier"]
    norm = uniform((n,), lo, hi, g, device)
    ang = uniform((n,), 0.0, 2 * math.pi, g, device)
    carrier = torch.stack([norm * torch.sin(ang), norm * torch.cos(ang)], dim=1)
    pupil = norm / 3.0 * uniform((n,), *WIDE["pupil_fraction"], g, device)
    vis = uniform((n,), *WIDE["visibility"], g, device)
    photons = _log_uniform(n, *WIDE["photons"], g, device)
    rn = uniform((n,), *WIDE["read_noise"], g, device)
    aber = reference_aberration(phase.shape, uniform((n,), *WIDE["aberration"], g, device), g, device)
    env = illumination_envelope(phase.shape, uniform((n,), *WIDE["falloff"], g, device), g, device)
    holo, bg, _, _ = forward(phase, None, carrier, vis, pupil, photons, rn, 8, g, aber, env, with_truth=False)
    return holo, bg


def simulate_inputs(task: str, split: str, phase: torch.Tensor, config: dict | None = None,
                    variant: str = "default") -> torch.Tensor:
    """Network inputs (n, 3, H, W) for a phantom pool, simulated in seeded chunks of 16 on their
    own seed stream (so they do not depend on how the phantoms were obtained).

    hologram: each phantom gets its own random setup (carrier 0.1–0.3 cycles/px at any angle,
    pupil, visibility, photons, read noise); in each chunk the first half is demodulated with
    its background hologram and the second half without. rgb: a randomised RGB rendering."""
    from ..optics import simulate

    out = []
    for c in range(0, phase.shape[0], CHUNK):
        ph = phase[c:c + CHUNK]
        g = batch_generator(split, c // CHUNK, phase.device, salt=3)
        with torch.no_grad():
            if task == "hologram":
                if variant == "wide":
                    holo, bg = wide_holograms(ph, g)
                else:
                    holo, bg = simulate.hologram_batch(ph, generator=g, randomize=True)
                h = max(1, ph.shape[0] // 2)
                parts = [hologram_features(holo[:h], bg[:h], config)]
                if ph.shape[0] > h:
                    parts.append(hologram_features(holo[h:], None, config))
                out.append(torch.cat(parts).float())
            elif task == "rgb":
                out.append(rgb_features(simulate.rgb_batch(ph, generator=g, randomize=True), config).float())
            else:
                raise ValueError(f"task must be 'hologram' or 'rgb'; got {task!r}")
    return torch.cat(out)


def _cached(path: Path | None, make, device):
    if path is not None and path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True).to(device)
    value = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(value.cpu(), tmp)
        tmp.replace(path)
    return value


def load_pool(split: str, n: int, size: int, task: str = "prior", cache_dir: str | Path | None = "runs/cache",
              device="cpu", config: dict | None = None, variant: str = "default") -> dict[str, torch.Tensor]:
    """The pool of ``split``: {"phase": (n, 1, size, size) radians} plus, for the "hologram" and
    "rgb" tasks, {"input": (n, C, size, size)} network inputs in ``config``'s representation;
    each part cached as a .pt file in ``cache_dir`` (None: no cache). ``variant`` "wide": the
    wide randomisation of ``WIDE`` (the physics-anchored hologram models)."""
    from ..models.inputs import HOLOGRAM_INPUT_UNWRAPPED, input_representation

    tag = "" if variant == "default" else f"-{variant}"
    base = None if cache_dir is None else Path(cache_dir) / f"pool-{split}-{n}x{size}{tag}"
    phase = _cached(None if base is None else base.with_suffix(".phase.pt"),
                    lambda: simulate_phantoms(split, n, size, device, variant), device)
    out = {"phase": phase}
    if task != "prior":
        rep = "" if task != "hologram" or input_representation(config) != HOLOGRAM_INPUT_UNWRAPPED else "-unwrapped"
        out["input"] = _cached(None if base is None else base.with_suffix(f".{task}{rep}.pt"),
                               lambda: simulate_inputs(task, split, phase, config, variant), device)
    return out


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 rotations/flips of (…, H, W)."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def make_batch(task: str, pool: dict[str, torch.Tensor], index: int, batch_size: int, crop: int,
               split: str = "train", config: dict | None = None) -> dict[str, torch.Tensor]:
    """Batch ``index`` for ``task`` ("prior", "hologram" or "rgb") drawn from ``pool``: seeded
    choice of pool images, one of 8 flips/rotations each and a random ``crop``² window.

    Returns ``target`` (B, 1, crop, crop) phase in network units, ``target_lr`` its 4 x 4
    average pool (the reduced U-Net's Down operator), ``phase`` in radians and, for the
    stage-1 tasks, ``input`` (B, 3, crop, crop)."""
    if task not in ("prior", "hologram", "rgb"):
        raise ValueError(f"task must be 'prior', 'hologram' or 'rgb'; got {task!r}")
    device = pool["phase"].device
    g = batch_generator(split, index, device)
    n, _, size, _ = pool["phase"].shape
    idx = torch.randint(0, n, (batch_size,), generator=g, device=device).tolist()
    k = torch.randint(0, 8, (batch_size,), generator=g, device=device).tolist()
    oy = torch.randint(0, size - crop + 1, (batch_size,), generator=g, device=device).tolist()
    ox = torch.randint(0, size - crop + 1, (batch_size,), generator=g, device=device).tolist()

    def take(x):
        # crop first, then flip/rotate: the same window of input and target either way
        return torch.stack([_dihedral(x[i, :, y:y + crop, xx:xx + crop], kk)
                            for i, kk, y, xx in zip(idx, k, oy, ox)])

    phase = take(pool["phase"])
    out = {"phase": phase, "target": phase_to_network(phase, config)}
    out["target_lr"] = down4(out["target"])
    if task != "prior":
        out["input"] = take(pool["input"])
    return out
