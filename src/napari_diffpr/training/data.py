"""Simulated training data from napari_diffpr.optics.simulate, seeded, with disjoint splits.

Phantoms (and their RGB renderings) are the expensive part of the simulator on a CPU (about
2–4 s per 16 images of 128² here), so training draws from a *pool*: ``pool_size`` phantoms of
``pool_image`` pixels simulated once per split (cached in ``runs/cache``), each batch a seeded
random choice of pool images with a random crop and one of the 8 flips/rotations (the optics
are isotropic, so the pairs stay physically valid). Holograms are simulated on the fly for
every batch — fresh carrier direction and frequency, pupil, visibility and noise each step —
from the full pool image, demodulated, then cropped, so the network sees the same input it
will see on a whole image.

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


def simulate_rgb(split: str, phase: torch.Tensor) -> torch.Tensor:
    """RGB brightfield images (n, 3, H, W) of a phantom pool, rendered in seeded chunks of 16
    (their own seed stream, so they do not depend on how the phantoms were obtained)."""
    from ..optics import simulate

    return torch.cat([
        simulate.rgb_batch(phase[c:c + CHUNK], randomize=True,
                           generator=batch_generator(split, c // CHUNK, phase.device, salt=3)).float()
        for c in range(0, phase.shape[0], CHUNK)])


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


def load_pool(split: str, n: int, size: int, rgb: bool, cache_dir: str | Path | None = "runs/cache",
              device="cpu") -> dict[str, torch.Tensor]:
    """The pool of ``split``: {"phase": (n, 1, size, size)} plus {"rgb": (n, 3, size, size)} if
    ``rgb``; each part cached as a .pt file in ``cache_dir`` (None: no cache)."""
    base = None if cache_dir is None else Path(cache_dir) / f"pool-{split}-{n}x{size}"
    phase = _cached(None if base is None else base.with_suffix(".phase.pt"),
                    lambda: simulate_phantoms(split, n, size, device), device)
    out = {"phase": phase}
    if rgb:
        out["rgb"] = _cached(None if base is None else base.with_suffix(".rgb.pt"),
                             lambda: simulate_rgb(split, phase), device)
    return out


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 rotations/flips of (…, H, W)."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def make_batch(task: str, pool: dict[str, torch.Tensor], index: int, batch_size: int, crop: int,
               split: str = "train", config: dict | None = None) -> dict[str, torch.Tensor]:
    """Batch ``index`` for ``task`` ("prior", "hologram" or "rgb") drawn from ``pool``.

    Returns ``target`` (B, 1, crop, crop) phase in network units, ``target_lr`` its 4 x 4
    average pool (the reduced U-Net's Down operator), ``phase`` in radians and, for the
    stage-1 tasks, ``input`` (B, 3, crop, crop). Half of each hologram batch is demodulated
    with its background hologram, half without, so the models work either way."""
    from ..optics import simulate

    device = pool["phase"].device
    g = batch_generator(split, index, device)
    n, _, size, _ = pool["phase"].shape
    idx = torch.randint(0, n, (batch_size,), generator=g, device=device)
    k = torch.randint(0, 8, (batch_size,), generator=g, device=device).tolist()
    oy = torch.randint(0, size - crop + 1, (batch_size,), generator=g, device=device).tolist()
    ox = torch.randint(0, size - crop + 1, (batch_size,), generator=g, device=device).tolist()
    full = torch.stack([_dihedral(pool["phase"][i], kk) for i, kk in zip(idx.tolist(), k)])

    def cut(x):
        return torch.stack([x[b, :, y:y + crop, xx:xx + crop] for b, (y, xx) in enumerate(zip(oy, ox))])

    with torch.no_grad():
        if task == "hologram":
            holo, bg = simulate.hologram_batch(full, generator=g, randomize=True)
            h = batch_size // 2
            parts = []
            if h:
                parts.append(hologram_features(holo[:h], bg[:h], config))
            if batch_size - h:
                parts.append(hologram_features(holo[h:], None, config))
            inp = cut(torch.cat(parts).float())
        elif task == "rgb":
            rgb = torch.stack([_dihedral(pool["rgb"][i], kk) for i, kk in zip(idx.tolist(), k)])
            inp = cut(rgb_features(rgb, config).float())
        elif task == "prior":
            inp = None
        else:
            raise ValueError(f"task must be 'prior', 'hologram' or 'rgb'; got {task!r}")
    phase = cut(full)
    out = {"phase": phase, "target": phase_to_network(phase, config)}
    out["target_lr"] = down4(out["target"])
    if inp is not None:
        out["input"] = inp
    return out
