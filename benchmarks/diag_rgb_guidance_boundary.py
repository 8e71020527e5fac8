"""The RGB in-sampler guidance on camera windows (issue 8, session 10): the periodic forward
model it used until session 10, the window model (the phase mirrored beyond the frame, a band
along the frame out of the misfit; the default since), and no guidance, for ZMD (4 samples) and
DiffPR-rgb with their default consistency steps.

    cd benchmarks && python diag_rgb_guidance_boundary.py --n 4 --threads 1 --window --illumination sources \
        --seed0 30000000 --out ../runs/i10/guidance_boundary_val.json

Rows and scores as benchmarks/bench_rgb.py (PSNR, SSIM, dry-mass error); validation seeds by default.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time

from bench_rgb import ROWS, add_set_arguments, make_set, mass_error, optics_params, save_results

# guidance 1 explicitly: ZMD's default is 0 since session 10
VARIANTS = {"window guidance (default)": {"boundary": "window", "guidance": 1.0},
            "periodic guidance (before session 10)": {"boundary": "periodic", "guidance": 1.0},
            "unguided": {"guidance": 0.0}}
METHODS = {"zmd (4 samples)": ("zmd", {"samples": 4}), "diffpr-rgb": ("diffpr-rgb", {})}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(p, n=4, seed0=30_000_000)
    p.add_argument("--rows", nargs="*", default=None)
    p.add_argument("--methods", nargs="*", default=None)
    p.add_argument("--variants", nargs="*", default=None, help="variant labels (default all)")
    p.add_argument("--out", default="runs/i10/guidance_boundary.json")
    args = p.parse_args(argv)

    import torch

    import napari_diffpr as dp
    from napari_diffpr.models import rgb_guidance

    torch.set_num_threads(args.threads)
    original = rgb_guidance.rgb_forward_guide
    results: dict = {}
    for rname, row in ROWS.items():
        if args.rows is not None and rname not in args.rows:
            continue
        cfg, data = make_set(row, args.n, args.size, args.seed0, args.window, args.illumination)
        params = dict(optics_params(cfg), na_illumination=cfg["na_illumination"], na_detection=cfg["na_detection"])
        res_row = {}
        for mlabel, (method, extra) in METHODS.items():
            if args.methods is not None and mlabel not in args.methods:
                continue
            for vlabel, variant in VARIANTS.items():
                if args.variants is not None and vlabel not in args.variants:
                    continue
                variant = dict(variant)
                boundary = variant.pop("boundary", "window")
                rgb_guidance.rgb_forward_guide = functools.partial(original, boundary=boundary)
                scores, times = [], []
                try:
                    for img, truth in data:
                        t0 = time.perf_counter()
                        r = dp.reconstruct(img, method, **params, **extra, **variant)
                        times.append(time.perf_counter() - t0)
                        s = dp.compare(r, truth)
                        scores.append({"psnr": s["psnr"], "ssim": s["ssim"], "mae": s["mae"],
                                       "scale_error": mass_error(r.phase, truth, cfg["pixel_size"])})
                finally:
                    rgb_guidance.rgb_forward_guide = original
                agg = {k: statistics.median(x[k] for x in scores) for k in scores[0]}
                agg["abs_scale_error"] = statistics.median(abs(x["scale_error"]) for x in scores)
                agg["s_per_image"] = statistics.median(times)
                res_row[f"{mlabel}, {vlabel}"] = agg
                print(f"{rname:34s} {mlabel}, {vlabel:40s} psnr {agg['psnr']:6.2f} ssim {agg['ssim']:.3f} "
                      f"scale {100 * agg['scale_error']:+6.1f}% {agg['s_per_image']:.2f} s", flush=True)
        results[rname] = res_row
        save_results(args, results)
    labels = list(next(iter(results.values())))
    print("\n| variant | median PSNR | median SSIM | median abs. dry-mass error |\n|---|---|---|---|")
    for lab in labels:
        print(f"| {lab} | {statistics.median(r[lab]['psnr'] for r in results.values()):.2f} | "
              f"{statistics.median(r[lab]['ssim'] for r in results.values()):.3f} | "
              f"{100 * statistics.median(r[lab]['abs_scale_error'] for r in results.values()):.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
