"""Score every installed method on one simulated sample against its ground truth.

    python examples/compare_methods.py [--kind hologram|rgb] [--size 256] [--seed 0]

Prints PSNR / SSIM / MAE / high-frequency error (DiffPR paper's convention: both maps scaled by
the ground truth's min..max to [0, 1]) and the time each method took. Methods whose network
weights are not installed are listed with the reason instead of a score.
"""
from __future__ import annotations

import argparse

import napari_diffpr as dp
from napari_diffpr.errors import DiffPRError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("hologram", "rgb"), default="hologram")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sample = dp.simulate.sample(args.kind, size=args.size, seed=args.seed)
    meta = sample["meta"]
    physical = {"pixel_size": meta.get("pixel_size_um"), "defocus": meta.get("defocus_um"),
                "wavelengths": meta.get("wavelengths_um"), "medium_index": meta.get("n_medium")}
    print(f"{args.kind} {args.size} x {args.size}, seed {args.seed}")
    print(f"{'method':<18}{'PSNR dB':>9}{'SSIM':>8}{'MAE':>9}{'HF err':>9}{'seconds':>9}")
    for name, method in dp.methods(args.kind).items():
        names = {p.name for p in method.params}
        # the simulator's physical settings, for the parameters this method has
        params = {k: v for k, v in physical.items() if k in names and v is not None}
        try:
            res = dp.reconstruct(sample["measurement"], method, background=sample["background"]
                                 if method.uses_background else None, **params)
        except DiffPRError as exc:
            print(f"{name:<18}not run: {exc}")
            continue
        s = dp.compare(res, sample["phase"])
        print(f"{name:<18}{s['psnr']:>9.2f}{s['ssim']:>8.3f}{s['mae']:>9.4f}{s['hf_error']:>9.4f}"
              f"{res.metadata['seconds']:>9.2f}")


if __name__ == "__main__":
    main()
