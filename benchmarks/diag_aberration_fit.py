"""Diagnostic for issue 7: how to fit the setup's aberration without a background hologram.

    python benchmarks/diag_aberration_fit.py --threads 2 --out benchmarks/results_aberration_fit.json

Without a background hologram the learned hologram methods divide a poly2 aberration surface out
of the measured field before fusing it with stage 1 (``DiffPRPipeline._aberration_removed``). This
compares, on the six no-background cells of the lean stress matrix but with **validation** seeds
(so the choice does not look at the test images), three images per cell:

- ``measured phase`` (shipped): retrieval's robust poly2 background fit of the measured phase;
- ``measured minus stage 1`` (the first version): the same fit of the measured phase minus stage 1;
- ``none``: no aberration fit before the fusion (before session 9; the final poly2 fit only).

Fourier filtering with a poly2 background fit is the reference. Scores: mean PSNR against the
phantom phase and the dry-mass ratio per image (bench_models.phase_scale).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench_models import CARRIER, phase_scale, stress_cells, stress_data


def variants():
    """label -> replacement for DiffPRPipeline._aberration_removed (None: the shipped one)."""
    from dataclasses import replace

    import torch

    from napari_diffpr.retrieval.background import fit_background

    def minus_stage1(self, s1):
        m = s1.measurement
        h, w = s1.crop["height"], s1.crop["width"]
        x = s1.upsampled_rad.to("cpu", torch.float32)[..., :h, :w]
        y = self._unwrapped_near(torch.angle(m["field"])[None].float(), x)
        surface, _ = fit_background((y - x)[0, 0].numpy(), 2, "auto")
        field = m["field"] * torch.exp(-1j * torch.from_numpy(surface).to(torch.float32))[None]
        return replace(s1, measurement=dict(m, field=field.to(m["field"].dtype))), {}

    return {"measured phase (shipped)": None, "measured minus stage 1": minus_stage1,
            "none": lambda self, s1: (s1, None)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--out", default="runs/diag_aberration_fit.json")
    args = p.parse_args(argv)

    import torch

    import napari_diffpr as nd
    from napari_diffpr.models.pipeline import DiffPRPipeline

    torch.set_num_threads(args.threads)
    shipped = DiffPRPipeline._aberration_removed
    cells, kinds = stress_cells(False, True)
    rows = []
    for ci, cell in enumerate(cells):
        if cell["background"]:
            continue
        holos, _, refs, _ = stress_data(dict(cell, n=args.n), kinds, ci, split="validation")
        row = {"cell": cell, "scores": {}}
        fourier = [nd.reconstruct(h, "fourier", background_fit="poly2").phase for h in holos]
        row["scores"]["Fourier filtering, poly2 background fit"] = _score(fourier, refs, cell)
        for label, fn in variants().items():
            DiffPRPipeline._aberration_removed = shipped if fn is None else fn
            try:
                for method in ("unet", "reduced-unet", "diffpr"):
                    res = [nd.reconstruct(h, method, device="cpu").phase for h in holos]
                    row["scores"][f"{method}, {label}"] = _score(res, refs, cell)
            finally:
                DiffPRPipeline._aberration_removed = shipped
        rows.append(row)
        print(json.dumps({"cell": [cell[k] for k in ("light", "carrier")],
                          **{k: v["psnr"] for k, v in row["scores"].items()}}), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"command": " ".join(["python"] + sys.argv), "n": args.n,
                                              "rows": rows}, indent=1))
    print(render(rows))
    return 0


def _score(phases, refs, cell) -> dict:
    import napari_diffpr as nd

    return {"psnr": round(float(np.mean([nd.compare(p, r)["psnr"] for p, r in zip(phases, refs)])), 3),
            "scale": [round(phase_scale(p, r, CARRIER[cell["carrier"]]), 4) for p, r in zip(phases, refs)]}


def render(rows) -> str:
    labels = list(rows[0]["scores"])
    out = ["| light | carrier | " + " | ".join(labels) + " |", "|---" * (len(labels) + 2) + "|"]
    for r in rows:
        out.append(f"| {r['cell']['light']} | {r['cell']['carrier']} | "
                   + " | ".join(f"{r['scores'][k]['psnr']:.2f} ({min(r['scores'][k]['scale']):.3f}–"
                                f"{max(r['scores'][k]['scale']):.3f})" for k in labels) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
