"""Issue 8's reversed-focal-shift claim for ZMD on the windows of tests/test_rgb_shipped.py, over
seeds 0-5: the RMS difference between the results for the normal and the reversed order, divided
by the difference between two noise draws of the normal order (the test asks for < 1.5).

    python benchmarks/diag_rgb_reversed.py --exact --coherence-model "source sum" "disk blur"

``--exact`` renders the windows with the condenser's exact partial coherence (37 directions, 31
wavelengths; the test does), otherwise with the simulator's disk blur. Prints one line per
coherence model: (rms normal-reversed, rms between noise draws, ratio) per seed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exact", action="store_true")
    p.add_argument("--coherence-model", nargs="+", default=["source sum"])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "tests"))
    import test_rgb_shipped as t

    import napari_diffpr as dp

    for model in args.coherence_model:
        out = []
        for seed in range(args.seeds):
            _, (normal, reversed_) = t._window_pair(seed=seed, exact=args.exact)
            _, (normal2, _) = t._window_pair(seed=seed, noise_seed=1, exact=args.exact)
            kw = dict(pixel_size=0.2, device="cpu", coherence_model=model)
            a = dp.reconstruct(normal, "zmd", defocus=(-1.5, 0, 1.5), **kw).phase
            b = dp.reconstruct(reversed_, "zmd", defocus=(1.5, 0, -1.5), **kw).phase
            a2 = dp.reconstruct(normal2, "zmd", defocus=(-1.5, 0, 1.5), **kw).phase
            out.append((round(t._rms(a - b), 4), round(t._rms(a - a2), 4), round(t._rms(a - b) / t._rms(a - a2), 2)))
        print(f"{'exact' if args.exact else 'disk-blur'} rendering, coherence_model {model!r}: {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
