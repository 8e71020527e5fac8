"""Timings of the simulator (napari_diffpr.optics.simulate): the batched generators called at
every training step and the single-image helpers behind napari's sample data.

    python benchmarks/bench_simulator.py [--threads 1] [--device cpu] [--repeats 7]

Prints a Markdown table: best and median wall-clock time, and the process CPU time per call
(on a shared machine the CPU time is the steadier number). Use --threads 1 where other jobs share
the cores: torch's thread pool spinning against them can be 50x slower than one thread.
"""
from __future__ import annotations

import argparse
import statistics
import time


def _time(fn, repeats, sync):
    fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * min(wall), 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import torch

    from napari_diffpr import simulate as s

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    g = torch.Generator(device=device).manual_seed(0)
    rows = []
    for size in (64, 128):
        x = s.phantom_batch(16, size, generator=g, device=device)
        rows.append((f"phantom_batch(16, {size})",
                     lambda size=size: s.phantom_batch(16, size, generator=g, device=device)))
        rows.append((f"hologram_batch 16 x {size}²", lambda x=x: s.hologram_batch(x, generator=g)))
        rows.append((f"rgb_batch 16 x {size}² (12 λ)", lambda x=x: s.rgb_batch(x, generator=g)))
    p = s.phantom(256, "mixed", 0)
    rows += [("phantom 256²", lambda: s.phantom(256, "mixed", 0)),
             ("hologram 256²", lambda: s.hologram(p)),
             ("rgb_brightfield 256² (50 λ)", lambda: s.rgb_brightfield(p)),
             ("sample('hologram', 256)", lambda: s.sample("hologram", 256)),
             ("sample('rgb', 256)", lambda: s.sample("rgb", 256))]
    print(f"torch {torch.__version__}, device {device}, {args.threads} thread(s)\n")
    print("| call | best wall ms | median wall ms | median CPU ms |")
    print("|---|---|---|---|")
    for name, fn in rows:
        best, med, cpu = _time(fn, args.repeats, sync)
        print(f"| {name} | {best:.1f} | {med:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
