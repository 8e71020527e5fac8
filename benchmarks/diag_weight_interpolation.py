"""Weight-space interpolation between a model and its fine-tune (WiSE-FT, Wortsman et al. 2022):
``(1 - alpha) * start + alpha * fine-tuned``, tensor by tensor, for every weight file present in
both folders. A fine-tune that gains in its own domain often loses on data unlike it (issue 8: the
held-out beads); the interpolation is a known way to keep part of the gain and part of the start's
robustness, without training. Writes a weights folder to score with ``NAPARI_DIFFPR_WEIGHTS_DIR``:

    python benchmarks/diag_weight_interpolation.py --start <folder> --tuned src/napari_diffpr/weights \\
        --alpha 0.5 --names zmd-rgb unet-rgb --out runs/wise050

Both files of a name must hold the same tensors (same architecture); the fine-tune's config is
kept, with the interpolation and both files' SHA-256 recorded in it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def interpolate(start: Path, tuned: Path, alpha: float, out: Path) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    a, b = safe_open(str(start), "pt"), safe_open(str(tuned), "pt")
    if set(a.keys()) != set(b.keys()):
        raise SystemExit(f"{start} and {tuned} hold different tensors: not the same architecture")
    tensors = {}
    for k in b.keys():
        x, y = a.get_tensor(k), b.get_tensor(k)
        if x.shape != y.shape:
            raise SystemExit(f"{k}: shape {tuple(x.shape)} in {start}, {tuple(y.shape)} in {tuned}")
        # float32 arithmetic, stored in the fine-tune's dtype (float16 for the shipped files)
        tensors[k] = ((1 - alpha) * x.float() + alpha * y.float()).to(y.dtype) if y.is_floating_point() else y
    config = json.loads(b.metadata()["config"])
    config["weight_interpolation"] = {"alpha": alpha, "start": str(start), "start_sha256": sha256(start),
                                      "tuned": str(tuned), "tuned_sha256": sha256(tuned)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"config": json.dumps(config)})
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", type=Path, required=True, help="folder with the weights the fine-tune started from")
    p.add_argument("--tuned", type=Path, required=True, help="folder with the fine-tuned weights")
    p.add_argument("--alpha", type=float, required=True, help="0 = start, 1 = fine-tune")
    p.add_argument("--names", nargs="+", default=["zmd-rgb", "unet-rgb"])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha must be in [0, 1]; got {args.alpha}")
    for name in args.names:
        path = interpolate(args.start / f"{name}.safetensors", args.tuned / f"{name}.safetensors", args.alpha,
                           args.out / f"{name}.safetensors")
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
