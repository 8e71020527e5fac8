"""Autofocus against nrefocus on the same reconstructed fields (issue 11).

Cells of known geometry (homogeneous spheres with soft rims, optics/cells.py) are recorded as
noisy off-axis holograms (2000 photo-electrons/px, no ADC clipping) with the camera focused
``d`` µm beyond them; each hologram is reconstructed once with the Fourier method (background
hologram divided out) and the same complex field is handed to

- napari-diffpr's ``autofocus`` (coarse grid + bounded Brent, metrics tamura / gradient), and
- nrefocus' ``RefocusNumpy(...).autofocus`` (coarse grid + lmfit, metric "average gradient",
  its default), with and without its edge padding,

both searching -25..25 µm. The right answer is ``-d``. Prints a Markdown table and writes JSON.

    python benchmarks/bench_refocus.py [--out benchmarks/results_refocus.json]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import napari_diffpr as dp
from napari_diffpr.optics.cells import defocused_hologram, sphere_phase
from napari_diffpr.retrieval.refocus import autofocus

PX, WL, NM = 0.2, 0.532, 1.333
CELLS = (((12.0, 12.0), 4.0), ((13.0, 34.0), 5.0), ((36.0, 17.0), 4.5), ((38.0, 25.4), 4.0),
         ((40.0, 41.0), 3.5))
DISTANCES = (-20.0, -12.0, -5.0, -2.0, 2.0, 5.0, 12.0, 20.0)
RANGE = 25.0


def scene():
    phase = sphere_phase(256, [c for c, _ in CELLS], [r for _, r in CELLS], n_cell=1.37, n_medium=1.335,
                         wavelength_um=WL, pixel_size_um=PX)
    return gaussian_filter(phase, 0.4 / PX).astype(np.float32)


def field_at(distance):
    s = defocused_hologram(scene(), distance, wavelength_um=WL, pixel_size_um=PX, medium_index=NM,
                           seed=7, bit_depth=None)
    res = dp.reconstruct(s.hologram, "fourier", background=s.background)
    return (res.amplitude * np.exp(1j * res.phase)).astype(np.complex128)


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_refocus.json")))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import nrefocus

    rows = []
    for d in DISTANCES:
        field = field_at(d)
        row = {"recorded_defocus_um": d, "expected_um": -d}
        for metric in ("tamura", "gradient"):
            found, sec = timed(lambda: autofocus(field, WL, PX, NM, metric=metric, range_um=RANGE))
            row[f"ours_{metric}"] = {"found_um": found.distance_um, "error_um": found.distance_um + d,
                                     "seconds": sec, "evaluations": len(found.curve_um)}
        for padding in (True, False):
            def run():
                rf = nrefocus.RefocusNumpy(field, wavelength=WL * 1e-6, pixel_size=PX * 1e-6,
                                           medium_index=NM, padding=padding)
                return rf.autofocus(interval=(-RANGE * 1e-6, RANGE * 1e-6), metric="average gradient",
                                    minimizer="lmfit")
            found, sec = timed(run)
            z = float(np.ravel(found)[0]) * 1e6
            row[f"nrefocus_pad{int(padding)}"] = {"found_um": z, "error_um": z + d, "seconds": sec}
        rows.append(row)
        print(f"d={d:+.0f}: " + ", ".join(f"{k} {v['found_um']:+.2f} µm ({v['seconds']:.2f} s)"
                                         for k, v in row.items() if isinstance(v, dict)), flush=True)
    keys = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    print("\n| recorded at d (µm) | " + " | ".join(f"{k}: error (µm) / time (s)" for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for r in rows:
        print(f"| {r['recorded_defocus_um']:+.0f} | " + " | ".join(
            f"{r[k]['error_um']:+.2f} / {r[k]['seconds']:.2f}" for k in keys) + " |")
    for k in keys:
        errs = np.abs([r[k]["error_um"] for r in rows])
        secs = [r[k]["seconds"] for r in rows]
        print(f"{k}: max |error| {errs.max():.2f} µm, median time {np.median(secs):.2f} s")
    meta = {"shape": [256, 256], "pixel_size_um": PX, "wavelength_um": WL, "medium_index": NM,
            "range_um": RANGE, "nrefocus_version": nrefocus.__version__, "napari_diffpr_version": dp.__version__,
            "timing": "best of 3, wall clock, same field for every tool"}
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
