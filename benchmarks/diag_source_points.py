"""How many condenser directions the exact partial coherence needs (issue 8, session 12): the
relative image error of the source sum (optics.brightfield, ``illumination="sources"``) with n
directions against a 401-direction sum, the continuum's stand-in, over condenser and detection NAs,
and the error law that optics.brightfield.source_points_needed uses.

    python benchmarks/diag_source_points.py --out benchmarks/results_source_points.json

Image: a 128² validation-seed phantom of the base microscope of bench_rgb.py (R/G/B focused at
-1.5/0/+1.5 µm, pixel 0.2 µm, water), 12 wavelengths, no noise. Error: ||image_n - image_401|| /
||image_401 - 1||.
"""
from __future__ import annotations

import argparse

from bench_rgb import add_set_arguments, make_set, optics_params, save_results

COUNTS = (7, 19, 37, 61, 127, 241)
APERTURES = ((0.1, 0.55), (0.1, 0.8), (0.2, 0.55), (0.2, 0.8), (0.3, 0.55), (0.3, 0.8), (0.4, 0.55), (0.4, 0.8),
             (0.45, 0.55), (0.45, 0.8), (0.5, 0.55), (0.5, 0.8))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(p, n=1, seed0=30_000_000)
    p.add_argument("--reference", type=int, default=401)
    p.add_argument("--out", default="runs/diag_source_points.json")
    args = p.parse_args(argv)
    import torch

    from napari_diffpr.models.methods import rgb_optics
    from napari_diffpr.models.rgb_consistency import brightfield_simulator
    from napari_diffpr.optics.brightfield import source_sum_error

    torch.set_num_threads(args.threads)
    results: dict = {}
    for na, det in APERTURES:
        cfg, data = make_set({"na_illumination": na, "na_detection": det}, 1, args.size, args.seed0)
        optics = rgb_optics(dict(optics_params(cfg), na_illumination=na, na_detection=det))
        phase = torch.from_numpy(data[0][1])[None, None]
        with torch.no_grad():
            def image(n, illumination="sources"):
                return brightfield_simulator(optics, n_wavelengths=12, illumination=illumination, n_sources=n)(phase)

            ref = image(args.reference)
            contrast = float(torch.linalg.vector_norm(ref - 1))
            errors = {str(n): float(torch.linalg.vector_norm(image(n) - ref)) / contrast for n in COUNTS}
            errors["disk blur"] = float(torch.linalg.vector_norm(image(1, "blur") - ref)) / contrast
        law = source_sum_error(na, det)
        label = f"NA {na} / {det}"
        results[label] = {"errors": errors, "law_19": law}
        print(label, " ".join(f"{k}: {v:.3f}" for k, v in errors.items()), f"law(19): {law:.3f}", flush=True)
        save_results(args, results)
    print(render(results))
    return 0


def render(results: dict) -> str:
    labels = [str(n) for n in COUNTS] + ["disk blur"]
    lines = ["| condenser / detection NA | " + " | ".join(f"{x} directions" if x[0].isdigit() else x for x in labels)
             + " | law for 19 |", "|---" * (len(labels) + 2) + "|"]
    for row, a in results.items():
        lines.append(f"| {row} | " + " | ".join(f"{100 * a['errors'][x]:.1f} %" for x in labels)
                     + f" | {100 * a['law_19']:.1f} % |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
