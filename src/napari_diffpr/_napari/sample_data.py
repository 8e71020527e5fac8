"""npe2 sample data made by the project's simulator (no downloads): the measurement, its
background hologram where there is one, and the ground-truth phase, all with physical scale."""
from __future__ import annotations

from .layer_data import image_layer_data

SAMPLE_NAMES = {"hologram": "hologram", "rgb": "RGB brightfield"}


def sample_layers(kind: str = "hologram", size: int = 256, seed: int = 0) -> list[tuple]:
    """LayerData for the simulated ``kind`` ("hologram" or "rgb") sample of ``size`` pixels."""
    from ..optics import simulate

    s = simulate.sample(kind, size=size, seed=seed)
    # one dataset label for the sample's layers: the docks pair and compare only within it
    meta = dict(s["meta"], simulated=True, seed=seed, dataset=f"simulated {kind} sample (size {size}, seed {seed})")
    base = SAMPLE_NAMES[kind]
    layers = [image_layer_data(s["measurement"], base, kind, meta)]
    if s.get("background") is not None:
        layers.append(image_layer_data(s["background"], f"{base} background", "background", meta))
    layers.append(image_layer_data(s["phase"], f"{base} ground truth", "ground_truth", meta))
    return layers


def sample_hologram() -> list[tuple]:
    return sample_layers("hologram")


def sample_rgb() -> list[tuple]:
    return sample_layers("rgb")
