"""The RGB consistency steps with the exact partial coherence in their forward model (issue 8,
session 10): ZMD (4 samples) on camera windows rendered with the source sum, its consistency
steps using either the disk blur (the default) or a sum over N condenser directions with K
wavelengths. The swap replaces ``rgb_consistency.brightfield_simulator``, which the in-sampler
guidance (guidance 1 here) also builds its model from, so both use the source sum. Tried, not
adopted (docs/benchmarks.md).

    cd benchmarks && python diag_rgb_consistency_sources.py --variant sources:19:24 --seed0 30000000 \
        --rows "normal order" "defocus ±0.5 µm" --out ../runs/i10/consistency_sources.json

``--variant``: ``blur`` or ``sources:N:K``. Scores: PSNR and the signed dry-mass error per image
(bench_rgb.mass_error) with their medians, seconds per image (one thread).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench_rgb import ROWS, make_set, mass_error, optics_params


def sources_simulator(n_sources: int, n_wavelengths: int):
    """rgb_consistency.brightfield_simulator with the source sum instead of the disk blur."""
    import torch

    from napari_diffpr.models.rgb_inputs import check_optics
    from napari_diffpr.optics import brightfield

    def factory(optics, n_wavelengths_default=None, **_):   # replaces whatever model was asked for
        o = check_optics(optics)
        model = o.get("focal_shift_model", "channel")
        defocus = o["defocus_given_um"] if model == "wavelength" else o["defocus_um"]

        def simulate(phase):
            n = phase.shape[0]
            img = brightfield.forward(
                phase, pixel_size_um=o["pixel_size_um"], wavelengths=o["wavelengths_um"],
                defocus_um=torch.tensor([tuple(defocus)], dtype=torch.float32).expand(n, 3),
                na_illumination=torch.full((n,), o["na_illumination"]), na_detection=o["na_detection"],
                n_medium=o["medium_index"], reference_wavelength=o["wavelengths_um"][1],
                n_wavelengths=n_wavelengths, photons=None, read_noise=torch.zeros(n), generator=None,
                channel_sigma_um=float(o.get("channel_bandwidth_um", 0.05)), defocus_model=model,
                illumination="sources", n_sources=n_sources)
            return img / img.mean(dim=(2, 3), keepdim=True)
        return simulate
    return factory


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="blur")
    p.add_argument("--rows", nargs="*", default=None)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed0", type=int, default=30_000_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/i10/consistency_sources.json")
    args = p.parse_args(argv)

    import torch

    import napari_diffpr as dp
    from napari_diffpr.models import rgb_consistency

    torch.set_num_threads(args.threads)
    if args.variant.startswith("sources"):
        _, n_src, n_wl = args.variant.split(":")
        rgb_consistency.brightfield_simulator = sources_simulator(int(n_src), int(n_wl))
    out = {}
    for rname, row in ROWS.items():
        if args.rows is not None and rname not in args.rows:
            continue
        cfg, data = make_set(row, args.n, 128, args.seed0, window=True, illumination="sources")
        params = dict(optics_params(cfg), na_illumination=cfg["na_illumination"], na_detection=cfg["na_detection"],
                      samples=4, guidance=1.0,   # the session-9 default the comparison was made with
                      coherence_model="disk blur")   # one model in the steps: the swapped one (session 11)
        per, times = [], []
        for img, truth in data:
            t0 = time.perf_counter()
            r = dp.reconstruct(img, "zmd", **params)
            times.append(time.perf_counter() - t0)
            per.append((dp.compare(r, truth)["psnr"], mass_error(r.phase, truth, cfg["pixel_size"])))
        out[rname] = {"psnr": statistics.median(x[0] for x in per), "scale": statistics.median(x[1] for x in per),
                      "s": statistics.median(times), "per": per}
        print(args.variant, rname, round(out[rname]["psnr"], 2), f"{100 * out[rname]['scale']:+.1f}%",
              round(out[rname]["s"], 1), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"variant": args.variant, "seed0": args.seed0, "results": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
