"""The design choices of the RGB measurement-consistency step (models/rgb_consistency.py), on
the validation images of the RGB stress matrix (bench_rgb.py rows, other phantoms and noise:
``--seed0 30000000``), so that the test rows stay unseen while choosing.

    python benchmarks/diag_rgb_consistency.py --n 4 --threads 1 --out runs/i8/diag_consistency.json

For each image ZMD with 4 samples is sampled once without the step (``consistency=0``), then each
variant is applied to that same phase: unmasked or confined to the cells, the preconditioner's
k0, the number of steps (8 unless stated), steepest descent or conjugate gradients, and whether
the steps follow the image's noise. Scores: PSNR, SSIM, MAE
(``napari_diffpr.compare``) and |dry-mass error| (bench_rgb.mass_error), medians per row.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from bench_rgb import ROWS, add_set_arguments, make_set, mass_error, optics_params, save_results

EXTRA_ROWS = {"100 photons": {"photons": 100.0}, "30 photons": {"photons": 30.0}}
VARIANTS = {   # "SD": preconditioned steepest descent, "CG": preconditioned nonlinear conjugate gradients
    "SD, unmasked, k0 0.05 (session 6)": dict(low_cutoff=0.05, masked=False, conjugate=False),
    "SD, k0 0.05": dict(low_cutoff=0.05, conjugate=False),
    "SD, k0 0.03": dict(low_cutoff=0.03, conjugate=False),
    "SD, k0 0.02": dict(low_cutoff=0.02, conjugate=False),
    "SD, k0 0.03, 16 steps": dict(low_cutoff=0.03, max_steps=16, conjugate=False),
    "CG, k0 0.03": dict(low_cutoff=0.03),
    "CG, k0 0.03, 16 steps (default)": dict(low_cutoff=0.03, max_steps=16),
    "CG, k0 0.03, 16 steps at any noise": dict(low_cutoff=0.03, max_steps=16, adapt_to_noise=False),
    # session 8: on fields one large cell fills, the mask kept the dry mass 13-30 % off
    "CG, k0 0.03, 16 steps, mask floor 0.25": dict(low_cutoff=0.03, max_steps=16, mask_floor=0.25),
    "CG, k0 0.03, 16 steps, unmasked": dict(low_cutoff=0.03, max_steps=16, masked=False),
    "CG, k0 0.03, 32 steps": dict(low_cutoff=0.03, max_steps=32),
    "CG, k0 0.03, 16 steps, margin 6 px": dict(low_cutoff=0.03, max_steps=16, mask_margin_px=6),
    "CG, k0 0.03, 16 steps, margin 10 px": dict(low_cutoff=0.03, max_steps=16, mask_margin_px=10),
    # session 9: the networks' cells sit on a broad halo that lifts the image median, so a mask
    # measured from the median left the halo (the dry-mass excess) outside the steps' reach
    "CG, k0 0.03, 16 steps, mask from the 5th percentile": dict(low_cutoff=0.03, max_steps=16, mask_reference="p5"),
    "CG, k0 0.03, 16 steps, mask from the fitted background": dict(low_cutoff=0.03, max_steps=16,
                                                                  mask_reference="background"),
    "CG, k0 0.03, 16 steps, mask from the smoothed 5th percentile": dict(low_cutoff=0.03, max_steps=16,
                                                                        mask_reference="p5 smoothed"),
    "CG, k0 0.03, 16 steps, mask from the 5th percentile smoothed over 4 px": dict(
        low_cutoff=0.03, max_steps=16, mask_reference="p5 smoothed 4 px"),
    "CG, k0 0.03, 16 steps, mask from the lower mode": dict(low_cutoff=0.03, max_steps=16,
                                                           mask_reference="lower mode"),
    # session 9: a camera frame is a window on a larger field; the periodic model wraps the
    # defocus fringes of cells cut by the frame edge across the frame
    "CG, k0 0.03, 16 steps, window boundary": dict(low_cutoff=0.03, max_steps=16, boundary="window"),
    # session 10: on some low-light images the steps lowered the misfit while PSNR fell from 20.6
    # to 11.0 dB (fitting the noise); Morozov's discrepancy principle stops at the noise's misfit
    "CG, k0 0.03, 16 steps, stop at the noise": dict(low_cutoff=0.03, max_steps=16, discrepancy=1.0),
    "CG, k0 0.03, 16 steps, stop at 1.2x the noise": dict(low_cutoff=0.03, max_steps=16, discrepancy=1.2),
    "CG, k0 0.03, 16 steps at any noise, stop at the noise": dict(low_cutoff=0.03, max_steps=16,
                                                                   adapt_to_noise=False, discrepancy=1.0),
    # session 11: the exact partial coherence (source sum) in the steps fixed the dry mass on 3 of
    # 5 validation rows but cost 7x; a defect correction takes the steps on the disk blur plus the
    # two models' difference at the current phase, refreshed every few steps
    "CG, 16 steps, window, source sum": dict(low_cutoff=0.03, max_steps=16, illumination="sources"),
    "CG, 16 steps, window, blur + source-sum defect every 4 steps": dict(
        low_cutoff=0.03, max_steps=16, illumination="blur + sources defect", refresh_every=4, n_sources=19),
    "CG, 16 steps, window, blur + source-sum defect every 2 steps": dict(
        low_cutoff=0.03, max_steps=16, illumination="blur + sources defect", refresh_every=2, n_sources=19),
    # session 11: do the rows whose dry mass stays low (small defocus, open condenser) need more steps?
    "CG, 32 steps, window, blur + source-sum defect every 4 steps": dict(
        low_cutoff=0.03, max_steps=32, illumination="blur + sources defect", refresh_every=4, n_sources=19),
    # session 12: 19 condenser directions are 48 % off the continuum at condenser NA 0.5 (5 % at 0.3);
    # the source sum takes as many as the microscope needs (rgb_consistency.condenser_directions)
    "defect, directions by NA": dict(low_cutoff=0.03, max_steps=16, illumination="blur + sources defect"),
    # session 12: at 0.1 µm pixels cells span 2x the pixels and their scale sits below k0 = 0.03 c/px
    "defect, directions by NA, k0 0.15 c/µm": dict(max_steps=16, illumination="blur + sources defect",
                                                  low_cutoff_per_um=0.15),
    # session 12: with a model within 5 % of the continuum the misfit can reach the noise, so more
    # steps where it has not and a stop where it has (Morozov)
    "defect, directions by NA, 32 steps, stop at the noise": dict(
        low_cutoff=0.03, max_steps=32, illumination="blur + sources defect", discrepancy=1.0),
    "defect, directions by NA, k0 0.15 c/µm, 32 steps, stop at the noise": dict(
        max_steps=32, illumination="blur + sources defect", discrepancy=1.0, low_cutoff_per_um=0.15),
    "defect, directions by NA, k0 0.15 c/µm, 32 steps": dict(
        max_steps=32, illumination="blur + sources defect", low_cutoff_per_um=0.15),
    # session 12: the stop at the noise cost dry mass where it came before the broad shape converged
    # (low light, ±0.5 µm); here the 16 steps of the default always run and up to 16 more follow
    # while the misfit is above the noise (the open condenser, far from the image after 16)
    "defect, directions by NA, 16 steps, then up to 32 while above the noise": dict(
        low_cutoff=0.03, max_steps=32, illumination="blur + sources defect", discrepancy=1.0, min_steps=16),
    # session 13: with the fine-tuned ZMD (a nearer start), does the physical k0 help the 0.3 µm pixels
    # (+4.6 % on test) without the loss it had at 0.1 µm with the session-12 weights?
    "defect, directions by NA, k0 0.15 c/µm, 16 steps, then up to 32 while above the noise": dict(
        max_steps=32, illumination="blur + sources defect", discrepancy=1.0, min_steps=16, low_cutoff_per_um=0.15),
    # session 12: at ~100 photons/px the 32-step design took 10 steps and lost 0.75 dB against 16 (5 steps)
    "defect, directions by NA, k0 0.15 c/µm, 32 steps, stop at the noise, steps fall as SNR^4": dict(
        max_steps=32, illumination="blur + sources defect", discrepancy=1.0, low_cutoff_per_um=0.15,
        noise_power=4.0),
}


def _drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(p, n=4, seed0=30_000_000)
    p.add_argument("--rows", nargs="*", default=None, help="row names (default: all, plus 100 and 30 photons)")
    p.add_argument("--variants", nargs="*", default=None, help="variant labels (default all)")
    p.add_argument("--out", default="runs/i8/diag_consistency.json")
    p.add_argument("--render", nargs="*", default=None, help="print the markdown table of these result files")
    args = p.parse_args(argv)
    if args.render:
        print(render(args.render))
        return 0

    import torch

    import napari_diffpr as dp
    from napari_diffpr.models.methods import rgb_optics
    from napari_diffpr.models.rgb_consistency import consistent

    torch.set_num_threads(args.threads)
    all_rows = {**ROWS, **EXTRA_ROWS}
    rows = {k: v for k, v in all_rows.items() if args.rows is None or k in args.rows}
    results: dict = {}
    for rname, row in rows.items():
        cfg, data = make_set(row, args.n, args.size, args.seed0, args.window, args.illumination)
        params = dict(optics_params(cfg), na_illumination=cfg["na_illumination"], na_detection=cfg["na_detection"])
        optics = rgb_optics(params)
        scores: dict = {}
        for img, truth in data:
            base = dp.reconstruct(img, "zmd", samples=4, consistency=0, **params).phase
            phases = {"none (consistency=0)": base}
            seconds: dict = {}
            for label, kw in VARIANTS.items():
                if args.variants is not None and label not in args.variants:
                    continue
                kw = dict(kw)
                t0 = time.perf_counter()
                phases[label] = _drain(consistent(base, img, optics, kw.pop("max_steps", 8), **kw))
                seconds[label] = time.perf_counter() - t0
            for label, ph in phases.items():
                s = dp.compare(ph, truth)
                scores.setdefault(label, []).append(
                    {"psnr": s["psnr"], "ssim": s["ssim"], "mae": s["mae"],
                     "abs_mass_error": abs(mass_error(ph, truth, cfg["pixel_size"])),
                     "mass_error": mass_error(ph, truth, cfg["pixel_size"]), "s_steps": seconds.get(label, 0.0)})
        results[rname] = {lab: {k: statistics.median(x[k] for x in v) for k in v[0]} for lab, v in scores.items()}
        for lab, a in results[rname].items():
            print(f"{rname:34s} {lab:40s} psnr {a['psnr']:6.2f} ssim {a['ssim']:.3f} mae {a['mae']:.4f} "
                  f"|mass| {100 * a['abs_mass_error']:5.1f}%", flush=True)
        save_results(args, results)
    print(render([args.out]))
    return 0


def render(paths) -> str:
    """One markdown table (PSNR dB / SSIM / |dry-mass error| per row and variant) from result
    files, with medians over the stress-matrix rows (the extra photon rows left out of them)."""
    results: dict = {}
    commands = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        commands.append(f"`python {doc['command']}`")
        for rname, variants in doc["results"].items():    # files may add variants to the same rows
            results.setdefault(rname, {}).update(variants)
    labels = list(dict.fromkeys(lab for m in results.values() for lab in m))
    labels = [lab for lab in labels if all(lab in m for m in results.values())]   # measured on every row
    out = ["Produced by " + "; ".join(commands) + f" (n = {doc['n']}, {doc['size']}², seeds from {doc['seed0']}). "
           "PSNR dB / SSIM / |dry-mass error|, medians over each row's images:", "",
           "| row | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for rname, m in results.items():
        out.append(f"| {rname} | " + " | ".join(f"{m[lab]['psnr']:.1f} / {m[lab]['ssim']:.2f} / "
                                                f"{100 * m[lab]['abs_mass_error']:.1f} %" for lab in labels) + " |")
    matrix = [m for r, m in results.items() if r not in EXTRA_ROWS]
    for key, name, fmt in (("psnr", "median PSNR", "{:.2f}"), ("ssim", "median SSIM", "{:.3f}"),
                           ("abs_mass_error", "median abs. dry-mass error %", "{:.1f}")):
        scale = 100 if key == "abs_mass_error" else 1
        out.append(f"| {name} ({len(matrix)} matrix rows) | " + " | ".join(
            fmt.format(scale * float(np.median([m[lab][key] for m in matrix]))) for lab in labels) + " |")
    if all("mass_error" in m[lab] for m in matrix for lab in labels):   # files from session 11 on
        out.append("| rows whose median signed dry-mass error is within ±3 % | " + " | ".join(
            f"{sum(abs(m[lab]['mass_error']) <= 0.03 for m in matrix)} of {len(matrix)}" for lab in labels) + " |")
        out.append("| median s for the steps (1 thread) | " + " | ".join(
            f"{float(np.median([m[lab]['s_steps'] for m in matrix])):.1f}" for lab in labels) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
