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


def simulate_phantoms(split: str, n: int, size: int, device="cpu") -> torch.Tensor:
    """``n`` phantoms (n, 1, size, size) in radians, simulated in seeded chunks of 16."""
    from ..optics import simulate

    return torch.cat([
        simulate.phantom_batch(min(CHUNK, n - c), size, generator=batch_generator(split, c // CHUNK, device, salt=2),
                               device=device).float()
        for c in range(0, n, CHUNK)])


def simulate_inputs(task: str, split: str, phase: torch.Tensor, config: dict | None = None) -> torch.Tensor:
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
        return torch.load(path, map_location="cpu").to(device)
    value = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(value.cpu(), tmp)
        tmp.replace(path)
    return value


def load_pool(split: str, n: int, size: int, task: str = "prior", cache_dir: str | Path | None = "runs/cache",
              device="cpu") -> dict[str, torch.Tensor]:
    """The pool of ``split``: {"phase": (n, 1, size, size) radians} plus, for the "hologram" and
    "rgb" tasks, {"input": (n, 3, size, size)} network inputs; each part cached as a .pt file
    in ``cache_dir`` (None: no cache)."""
    base = None if cache_dir is None else Path(cache_dir) / f"pool-{split}-{n}x{size}"
    phase = _cached(None if base is None else base.with_suffix(".phase.pt"),
                    lambda: simulate_phantoms(split, n, size, device), device)
    out = {"phase": phase}
    if task != "prior":
        out["input"] = _cached(None if base is None else base.with_suffix(f".{task}.pt"),
                               lambda: simulate_inputs(task, split, phase), device)
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
