"""`napari-diffpr train MODEL ...`: train one of the shipped models on simulated data.

Examples (the exact commands used for the shipped weights are in docs/models.md):

    napari-diffpr train prior --steps 3000 --out runs/prior
    napari-diffpr train reduced-unet-hologram --steps 1200 --resume --install   # into your weights folder
    napari-diffpr train reduced-unet-hologram --steps 1200 --resume --ship      # developers: the shipped ones
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

from .loop import MODEL_SPECS, TrainConfig, Trainer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="napari-diffpr train",
        description="Train a DiffPR network on simulated phantoms, holograms or RGB images "
                    "(generated on the fly, seeded; resumable from runs/<model>/checkpoint.pt).")
    p.add_argument("model", choices=sorted(MODEL_SPECS), help="which network to train")
    p.add_argument("--steps", type=int, default=1000, help="total optimiser steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--size", type=int, default=None, help="training crop in pixels, a multiple of 16 "
                   "(default 48 for the prior, 64 for the U-Nets)")
    p.add_argument("--base-channels", type=int, default=None, help="network width (default per model)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate (cosine decay)")
    p.add_argument("--t-max-train", type=int, default=600,
                   help="prior only: most training timesteps are drawn below this noise level")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this long")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0, help="salt of the diffusion-noise stream")
    p.add_argument("--pool-size", type=int, default=1024, help="simulated phantoms in the training pool")
    p.add_argument("--pool-image", type=int, default=128, help="pixels of each pool image")
    p.add_argument("--cache-dir", default="runs/cache", help="where simulated pools are cached")
    p.add_argument("--camera-windows", action="store_true",
                   help="RGB models: pool images cut from the centre of twice-wider fields, as a camera sees a dish")
    p.add_argument("--source-sum", action="store_true",
                   help="RGB models: render the partial coherence as a sum over condenser directions (Abbe) "
                        "instead of the disk blur; ~20x the simulation cost")
    p.add_argument("--out", default=None, help="run folder (default runs/<model>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt if present")
    p.add_argument("--init-from", default=None, metavar="WEIGHTS",
                   help="start from these exported weights (.safetensors of the same network) instead of a "
                        "random initialisation: fine-tuning, e.g. on larger frames; ignored when --resume "
                        "finds a checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--install", action="store_true",
                   help="copy the exported weights into your per-user weights folder (used in preference "
                        "to the shipped ones; $NAPARI_DIFFPR_WEIGHTS_DIR overrides where it is)")
    p.add_argument("--ship", action="store_true",
                   help="developers: copy the exported weights into the weights folder of a source "
                        "checkout (src/napari_diffpr/weights), replacing the shipped ones; refused for an "
                        "installed package (never writes into site-packages)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--export-only", action="store_true",
                   help="export (and with --install, install) the weights of <out>/checkpoint.pt without "
                        "training, e.g. while a run continues in the background")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..device import resolve_device

    kwargs = {"base_channels": args.base_channels} if args.base_channels else {}
    cfg = TrainConfig(model=args.model, steps=args.steps, batch_size=args.batch_size, size=args.size,
                      lr=args.lr, seed=args.seed, model_kwargs=kwargs, t_max_train=args.t_max_train,
                      checkpoint_every=args.checkpoint_every, max_minutes=args.max_minutes,
                      device=str(resolve_device(args.device)), threads=args.threads,
                      pool_size=args.pool_size, pool_image=args.pool_image, cache_dir=args.cache_dir,
                      camera_windows=args.camera_windows, source_sum=args.source_sum)
    out = Path(args.out or Path("runs") / args.model)
    trainer = Trainer(cfg, out)
    if args.resume and trainer.checkpoint_path.is_file():
        trainer.load_checkpoint()
        print(f"resumed {args.model} at step {trainer.step} from {trainer.checkpoint_path}", file=sys.stderr)
    elif args.init_from:
        trainer.init_from(args.init_from)
        print(f"starting {args.model} from the weights in {args.init_from}", file=sys.stderr)
    if args.export_only:
        if not trainer.checkpoint_path.is_file():
            print(f"no checkpoint at {trainer.checkpoint_path} to export", file=sys.stderr)
            return 1
        trainer.load_checkpoint()
        summary = trainer.summary()
    else:
        summary = trainer.run(progress=not args.no_progress)
    command = "napari-diffpr train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
                                                if a != "--export-only")
    weights = trainer.export(out / f"{args.model}.safetensors", command=command)
    extra = []
    if args.model == "zmd-rgb":
        # ZMD's mean network is a vanilla U-Net trained with its own MSE loss: it is the unet-rgb
        extra.append(trainer.export_zmd_mean(out / "unet-rgb.safetensors", command=command))
    print(json.dumps({**summary, "weights": str(weights), "also": [str(e) for e in extra]}, indent=2))
    if args.install or args.ship:
        if trainer.step < cfg.steps:
            # the weight config records steps_done and steps_planned, so this stays visible
            print(f"note: installing after {trainer.step}/{cfg.steps} steps (run again with --resume to finish)",
                  file=sys.stderr)
        from ..models.weights import clear_cache, user_weights_dir, weights_dir

        folder = user_weights_dir() if args.install else weights_dir()
        if args.ship and "site-packages" in Path(folder).resolve().parts:
            print(f"--ship writes into a source checkout's weights folder; {folder} is an installed package. "
                  "Use --install for your own weights.", file=sys.stderr)
            return 2
        folder.mkdir(parents=True, exist_ok=True)
        for w in [weights, *extra]:
            dest = folder / w.name
            for src, dst in ((w, dest), (w.with_suffix(".json"), dest.with_suffix(".json"))):
                tmp = dst.with_name(dst.name + ".part")
                shutil.copyfile(src, tmp)
                tmp.replace(dst)  # atomic: a half-copied file never shadows the shipped weights
            print(f"installed {dest}", file=sys.stderr)
        clear_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
