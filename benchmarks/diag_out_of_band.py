"""Diagnostic for issue 7: is there detail beyond the measured band that a network can restore?

    python benchmarks/diag_out_of_band.py --threads 1 --out benchmarks/results_out_of_band.json

Issue 7's low-light bar (DiffPR >= Fourier filtering + 1.5 dB) lies above the band-limited truth
in four cells of the lean stress matrix, and the paper's claim (DiffPR >= its stage 1 + 1 dB)
lies above it in most cells <= 256², so meeting them needs phase beyond the demodulation band,
where the measurement says nothing. The vanilla U-Net is trained with an MSE loss against the
raw phantom phase at full resolution, so its output beyond the band is the best (posterior-mean)
guess that network can make there. This script adds that out-of-band part
(``alone - band_limit(alone)``, the network without the measurement fusion) to results limited to
the band (the fused U-Net, default DiffPR and the noise-free band-limited truth itself) and scores
all of them like the stress matrix (PSNR against the phantom phase, same images and seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench_models import stress_cells, stress_data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cells", type=int, nargs="*", default=None, help="indices into the lean matrix (default all)")
    p.add_argument("--out", default="runs/diag_out_of_band.json")
    args = p.parse_args(argv)

    import torch

    import napari_diffpr as nd
    from napari_diffpr.models.inputs import band_limit

    torch.set_num_threads(args.threads)
    cells, kinds = stress_cells(False, True)
    rows = []
    for ci, cell in enumerate(cells):
        if args.cells is not None and ci not in args.cells:
            continue
        holos, bgs, refs, truths = stress_data(cell, kinds, ci)
        scores: dict = {}
        for holo, bg, ref, truth in zip(holos, bgs, refs, truths):
            fused = nd.reconstruct(holo, "unet", background=bg, device="cpu")
            alone = nd.reconstruct(holo, "unet", background=bg, device="cpu", guidance=0.0).phase
            radius = float(fused.metadata["band_limit_cycles_per_px"])
            t = torch.from_numpy(alone.astype(np.float32))[None, None]
            beyond = alone - band_limit(t, radius)[0, 0].numpy()
            diffpr = nd.reconstruct(holo, "diffpr", background=bg, device="cpu").phase
            results = {"Fourier filtering": nd.reconstruct(holo, "fourier", background=bg).phase,
                       "U-Net alone (guidance 0)": alone,
                       "U-Net (fused, band-limited)": fused.phase,
                       "U-Net fused + its out-of-band part": fused.phase + beyond,
                       "DiffPR default": diffpr,
                       "DiffPR default + U-Net out-of-band part": diffpr + beyond,
                       "band-limited truth": truth,
                       "band-limited truth + U-Net out-of-band part": truth + beyond}
            for label, phase in results.items():
                scores.setdefault(label, []).append(nd.compare(phase, ref)["psnr"])
        row = {"cell": cell, "psnr": {k: float(np.mean(v)) for k, v in scores.items()}}
        rows.append(row)
        print(json.dumps({"cell": ci, **{k: round(v, 2) for k, v in row["psnr"].items()}}), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"command": " ".join(["python"] + sys.argv), "cells": rows}, indent=1))
    print(render(rows))
    return 0


def render(rows) -> str:
    labels = list(rows[0]["psnr"])
    out = ["| size | light | bg | carrier | family | " + " | ".join(labels) + " |", "|---" * (len(labels) + 5) + "|"]
    for r in rows:
        c = r["cell"]
        out.append(f"| {c['size']}² | {c['light']} | {'yes' if c['background'] else 'no'} | {c['carrier']} | "
                   f"{c['family']} | " + " | ".join(f"{r['psnr'][k]:.2f}" for k in labels) + " |")
    gain = [r["psnr"]["band-limited truth + U-Net out-of-band part"] - r["psnr"]["band-limited truth"] for r in rows]
    out.append(f"\nOut-of-band part added to the band-limited truth: {min(gain):+.2f} ... {max(gain):+.2f} dB "
               f"(median {float(np.median(gain)):+.2f}).")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
