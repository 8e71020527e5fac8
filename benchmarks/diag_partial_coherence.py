"""Issue 8, item 5: does modelling partially coherent Köhler illumination as a disk blur (the
simulator's default, ``optics.brightfield``) instead of the exact sum over condenser directions
(``illumination="sources"``) change the images, and the methods' results?

    python benchmarks/diag_partial_coherence.py [--n 3] [--methods tie zmd] [--out runs/diag_pc.json]

For the RGB stress matrix's base microscope (benchmarks/bench_rgb.py: R/G/B 0.63/0.55/0.45 µm at
-1.5/0/+1.5 µm, pixel 0.2 µm, water, NA_det 0.55, 5000 photons, per-wavelength focus, 31
wavelengths) and condenser NAs 0.1, 0.3 (the base) and 0.5, it renders the same phantoms (test
seeds) both ways with the same noise, and prints (1) the image difference relative to the image
contrast, noise-free, and (2) PSNR and dry-mass error of each method on both renderings, given
the true optics.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_rgb import BASE, TRAIN_KINDS, mass_error, optics_params  # noqa: E402


def render(phase, cfg, na_ill, illumination, photons, seed):
    import torch

    from napari_diffpr.optics.brightfield import forward

    g = torch.Generator().manual_seed(seed)
    img = forward(phase, pixel_size_um=cfg["pixel_size"], wavelengths=cfg["wavelengths"],
                  defocus_um=torch.tensor([cfg["defocus"]]), na_illumination=torch.tensor([na_ill]),
                  na_detection=cfg["na_detection"], n_medium=cfg["medium_index"],
                  reference_wavelength=cfg["wavelengths"][1], n_wavelengths=31,
                  photons=None if photons is None else torch.tensor([photons]), read_noise=torch.tensor([2.0]),
                  generator=g, channel_sigma_um=cfg["channel_sigma"], defocus_model="wavelength",
                  illumination=illumination, n_sources=37)
    return img[0].permute(1, 2, 0).numpy().copy()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3, help="phantoms per condenser NA")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--methods", nargs="*", default=["tie", "zmd"])
    p.add_argument("--nas", nargs="*", type=float, default=[0.1, 0.3, 0.5])
    p.add_argument("--out", default="runs/diag_partial_coherence.json")
    args = p.parse_args(argv)

    import torch

    import napari_diffpr as dp
    from napari_diffpr.optics import rgb_random

    torch.set_num_threads(1)
    cfg = dict(BASE)
    results = []
    for na in args.nas:
        row = {"na_illumination": na, "image_difference": [], "scores": {}}
        for i in range(args.n):
            g = torch.Generator().manual_seed(20_000_000 + 1000 * i + 7)
            phase = rgb_random.phantom(TRAIN_KINDS[i % len(TRAIN_KINDS)], args.size, cfg["pixel_size"], g,
                                       cfg["wavelengths"][1])
            clean = {m: render(phase, cfg, na, m, None, 0) for m in ("blur", "sources")}
            row["image_difference"].append(float(np.linalg.norm(clean["blur"] - clean["sources"])
                                                 / np.linalg.norm(clean["sources"] - 1)))
            truth = phase[0, 0].numpy()
            params = dict(optics_params(cfg), na_illumination=na, na_detection=cfg["na_detection"])
            for model in ("blur", "sources"):
                img = render(phase, cfg, na, model, cfg["photons"], 1 + i)
                for method in args.methods:
                    kw = dict(params)
                    if method == "tie":
                        kw.pop("na_illumination"), kw.pop("na_detection")
                    r = dp.reconstruct(img, method, **kw)
                    s = row["scores"].setdefault(f"{method} on {model}", {"psnr": [], "mass_error": []})
                    s["psnr"].append(dp.compare(r, truth)["psnr"])
                    s["mass_error"].append(mass_error(r.phase, truth, cfg["pixel_size"]))
        print(f"NA_ill {na}: image difference (disk blur vs source sum) / image contrast: median "
              f"{statistics.median(row['image_difference']):.2f}", flush=True)
        for label, s in row["scores"].items():
            print(f"   {label:20s} PSNR {statistics.median(s['psnr']):6.2f} dB   dry-mass error "
                  f"{100 * statistics.median(s['mass_error']):+6.1f} %", flush=True)
        results.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": shlex.join(sys.argv), "base": cfg, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
