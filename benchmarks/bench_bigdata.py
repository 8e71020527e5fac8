"""Big-data benchmarks of issue 12: Fourier filtering throughput on stacks (serial, batched,
LocalCluster with 1 and 2 workers, qpretrieve in the same run) and peak memory (RSS) of a
tiled DiffPR run and of a 200-frame lazy stack viewed frame by frame.

    python benchmarks/bench_bigdata.py                 # writes its section of docs/benchmarks.md
    python benchmarks/bench_bigdata.py --quick         # small, prints only
    python benchmarks/bench_bigdata.py --skip-rss      # throughput only

Throughput: the "same job" as bench_retrieval (detect the sideband, disk filter of 1/2 the
sideband distance, full-size wrapped phase and amplitude, no unwrapping); frames/s = frames /
median wall time of ``--repeats`` runs over the whole stack. LocalCluster: the stack is cut
into 4 chunks per worker, scattered to the workers before timing; the timed part is
map + gather of the phases (single-threaded worker processes). Peak RSS: each run in a fresh
subprocess, its VmHWM (/proc/self/status).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import _cpu_name, _version  # noqa: E402

BEGIN, END = "<!-- BEGIN bigdata -->", "<!-- END bigdata -->"
SAME_JOB = dict(filter_shape="disk", filter_size=0.5, unwrap="none", background_fit="none", sign="+1")


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section (between its own markers) in ``path``, or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def make_stack(n: int, size: int, seed: int = 7) -> np.ndarray:
    """n frames: one simulated hologram moved by a few pixels per frame, with fresh noise."""
    from napari_diffpr.optics import simulate

    phase = simulate.phantom((size, size), seed=seed)
    base = simulate.hologram(phase, carrier=(0.17, -0.21), seed=seed).hologram.astype(np.float32)
    rng = np.random.default_rng(seed)
    scale = float(base.std()) * 0.02
    return np.stack([np.roll(base, (i % 7, (3 * i) % 11), axis=(0, 1)) + rng.normal(0, scale, base.shape).astype(np.float32)
                     for i in range(n)])


def _chunk_job(chunk):
    from napari_diffpr.api import reconstruct

    return reconstruct(chunk, "fourier", **SAME_JOB).phase


def throughput(size: int, n: int, repeats: int, workers=(1, 2)) -> dict:
    import qpretrieve
    from qpretrieve.fourier import FFTFilterPyFFTW

    from napari_diffpr.api import reconstruct

    stack = make_stack(n, size)

    def qp():
        for f in stack:
            o = qpretrieve.OffAxisHologram(f.copy(), fft_interface=FFTFilterPyFFTW, padding=0,
                                           dtype_conversion=np.float32)
            o.run_pipeline(filter_name="disk", filter_size=0.5)
            o.phase, o.amplitude  # noqa: B018 - computed on access

    cands = {
        "qpretrieve pyFFTW float32 padding 0, frame by frame": qp,
        "ours, frame by frame": lambda: [reconstruct(f, "fourier", **SAME_JOB) for f in stack],
        "ours, stack, with progress previews (frames in turn, batched row FFTs)": lambda: reconstruct(
            stack, "fourier", progress=lambda e: None, **SAME_JOB),
        "ours, stack (two frames at a time)": lambda: reconstruct(stack, "fourier", **SAME_JOB),
        "ours, stack, sideband searched once": lambda: reconstruct(stack, "fourier", sideband_search="first frame",
                                                                    **SAME_JOB),
    }
    wall = {name: [] for name in cands}
    cpu = {name: [] for name in cands}
    for fn in cands.values():
        fn()  # warm-up
    for _ in range(repeats):  # candidates take turns, so load swings hit them alike
        for name, fn in cands.items():
            c, t = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    out = {name: n / statistics.median(wall[name]) for name in cands}
    out["_cpu_fps"] = {name: n / statistics.median(cpu[name]) for name in cands}
    from distributed import Client, LocalCluster

    for k in workers:
        t0 = time.perf_counter()
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            start_s = time.perf_counter() - t0
            chunks = client.scatter(np.array_split(stack, 4 * k), broadcast=False)
            client.gather(client.map(_chunk_job, chunks, pure=False))  # warm-up (imports in the workers)
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                client.gather(client.map(_chunk_job, chunks, pure=False))
                ts.append(time.perf_counter() - t)
            out[f"LocalCluster, {k} worker(s) x 1 thread"] = n / statistics.median(ts)
            out.setdefault("_startup_s", {})[k] = start_s
    return out


def single_frame_ratio(repeats: int) -> dict:
    """One 1024^2 frame: ours (same job) vs qpretrieve's fastest setting, interleaved medians."""
    import qpretrieve
    from bench_retrieval import interleaved_medians
    from qpretrieve.fourier import FFTFilterPyFFTW

    from napari_diffpr.api import reconstruct
    from napari_diffpr.retrieval.fftutil import rfft2

    holo = make_stack(1, 1024)[0]

    def qp():
        o = qpretrieve.OffAxisHologram(holo.copy(), fft_interface=FFTFilterPyFFTW, padding=0,
                                       dtype_conversion=np.float32)
        o.run_pipeline(filter_name="disk", filter_size=0.5)
        return o.phase, o.amplitude

    cands = {"qpretrieve pyFFTW float32 padding 0": qp,
             "ours, same job": lambda: reconstruct(holo, "fourier", **SAME_JOB),
             "one real FFT of the frame (scipy rfft2, float32)": lambda: rfft2(holo)}
    return {k: v[0] for k, v in interleaved_medians(cands, repeats).items()}


_RSS_LAZY = r"""
import sys, time, numpy as np
from napari_diffpr import io
def hwm():  # peak resident set of this process (VmHWM; ru_maxrss would include the parent's peak at fork)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
from napari_diffpr.api import reconstruct
path = sys.argv[1]
item, = io.read(path)
base = hwm()
lazy = reconstruct(item.data, "fourier", unwrap="none", background_fit="none")
t = time.perf_counter()
for i in range(item.data.shape[0]):
    np.asarray(lazy.phase[i].compute(scheduler="sync"))
print({"frames": int(item.data.shape[0]), "seconds": time.perf_counter() - t,
       "rss_after_imports_mb": base / 1024, "peak_rss_mb": hwm() / 1024})
"""

_RSS_TILED = r"""
import sys, time, numpy as np
import napari_diffpr as dp
from napari_diffpr import memory
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
from napari_diffpr.api import reconstruct
size, tile, steps, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base_size = min(size, 1024)  # larger frames: a simulated 1024^2 hologram repeated (memory, not quality)
s = dp.simulate.sample("hologram", size=base_size, seed=0)
reps = (size // base_size, size // base_size)
holo = np.tile(np.asarray(s["measurement"], np.float32), reps)
bg = np.tile(np.asarray(s["background"], np.float32), reps)
del s
memory.set_budget(budget)
base = hwm()
t = time.perf_counter()
r = reconstruct(holo, "diffpr", background=bg, tile=tile or None, steps=steps, device="cpu")
print({"size": size, "budget": budget, "tile": r.metadata.get("tiling"), "steps": steps, "seconds": time.perf_counter() - t,
       "rss_before_mb": base / 1024, "peak_rss_mb": hwm() / 1024})
"""


def _child(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    import ast

    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def rss_lazy(n: int, size: int) -> dict:
    from napari_diffpr import omezarr

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lapse.ome.zarr"
        base = (make_stack(1, size)[0]).astype(np.uint16)
        store = omezarr.FrameStore.create(path, (n,), (size, size), {"name": "lapse"}, kind="hologram", dtype="uint16")
        for i in range(n):
            store.write_frame((i,), np.roll(base, i % 9, axis=1))
        store.finish()
        res = _child(_RSS_LAZY, path)
    res["eager_stack_float32_mb"] = n * size * size * 4 / 1024**2
    res["size"] = size
    return res


def report(tp: dict, single: dict, lazy: dict | None, tiled: dict | None, command: str, load: tuple,
           date: str | None = None) -> str:
    lines = [BEGIN, "## Big data (issue 12): stacks, clusters, memory", "",
             f"Produced by `{command}` on {date or time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Machine: {_cpu_name()}, {os.cpu_count()} CPU cores shared with other jobs (load average "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start), numpy {_version('numpy')}, scipy "
             f"{_version('scipy')}, qpretrieve {_version('qpretrieve')}, pyFFTW {_version('pyFFTW')}, dask "
             f"{_version('dask')}, distributed {_version('distributed')}. Wall-clock numbers on a loaded 2-core "
             "machine vary by up to 2-3x between runs; all candidates of a table ran in the same process, one "
             "after the other.", "",
             "### Fourier filtering throughput (frames/s, same job as qpretrieve: wrapped phase + amplitude)", ""]
    sizes = list(tp)
    lines.append("| implementation | " + " | ".join(f"{s}² ({tp[s]['n']} frames): wall | {s}²: CPU" for s in sizes) + " |")
    lines.append("|---|" + "---:|---:|" * len(sizes))

    def cpu_fps(s, name):
        v = tp[s]["fps"].get("_cpu_fps", {}).get(name)
        return "" if v is None else f"{v:.0f}"

    for name in [k for k in tp[sizes[0]]["fps"] if not k.startswith("_")]:
        lines.append(f"| {name} | " + " | ".join(f"{tp[s]['fps'][name]:.0f} | {cpu_fps(s, name)}" for s in sizes) + " |")
    lines += ["", "frames/s from the median wall time, and from the median CPU time of this process (all its "
              "threads; what the work costs whatever else runs on the machine; not measurable for the "
              "cluster, whose work happens in the worker processes)."]
    qp_name = "qpretrieve pyFFTW float32 padding 0, frame by frame"
    best = {s: max(v for k, v in tp[s]["fps"].items()
                   if not k.startswith(("qpretrieve", "_")) and "Cluster" not in k) for s in sizes}
    startup = ", ".join(f"{k} worker(s) {v:.1f} s" for k, v in tp[sizes[0]]["fps"].get("_startup_s", {}).items())
    lines += ["", "Best in-process ours / qpretrieve: " + ", ".join(
        f"{s}²: {best[s] / tp[s]['fps'][qp_name]:.1f}x ({best[s]:.0f} frames/s)" for s in sizes) + ". "
        f"LocalCluster start-up (not counted): {startup}.", ""]
    q, o, f = (single["qpretrieve pyFFTW float32 padding 0"], single["ours, same job"],
               single["one real FFT of the frame (scipy rfft2, float32)"])
    small = min(sizes)
    lines += [f"Targets of issue 12 on this machine: >= 200 frames/s at 512² without unwrapping: "
              f"**{'met' if best.get(512, 0) >= 200 else 'not met'}** "
              f"({best.get(512, best[small]):.0f} frames/s wall at {512 if 512 in best else small}²).", ""]
    lines += ["### One 1024² frame (interleaved medians)", "",
              "| | wall (median) |", "|---|---:|",
              f"| qpretrieve pyFFTW float32 padding 0 | {q * 1e3:.1f} ms |",
              f"| ours, same job | {o * 1e3:.1f} ms |",
              f"| one real FFT of the frame (scipy rfft2) | {f * 1e3:.1f} ms |", "",
              f"**ours vs qpretrieve: {q / o:.1f}x** (target >= 5x: **{'met' if q / o >= 5 else 'not met'}**); "
              f"ours = {o / f:.1f} real FFTs of the frame.", "",
              "Where the time of one 1024² frame goes (line_profiler over 20 calls on an idle machine, "
              "2026-12-02, about 16 ms per call): the demodulation 7.6 ms (the column FFTs of the block around "
              "the sideband 1.6, the inverse along y 0.9, the full-size inverse along x 1.8, removing the "
              "carrier's sub-bin remainder 1.2, zero-filled buffers 1.0, the filter 0.4), the row rFFT of the "
              "zero-margined frame 2.0, wrapped phase and amplitude 2.4, the validated float32 copy with its "
              "checks 1.5, the coarse sideband search 1.2 and its refinement 0.5. The output is a full-size "
              "complex field, so one real forward FFT, one full-size complex inverse and the element-wise "
              "angle and modulus (about 5 ms here) are inherent to the job; a second thread helps these "
              "element-wise steps by only ~1.5x on this machine, which is why stacks run whole frames in "
              "parallel instead.", ""]
    if lazy or tiled:
        lines += ["### Peak memory (RSS of a fresh process)", "",
                  f"From `{(lazy or tiled).get('command', command)}`.", "",
                  "| run | peak RSS | notes |", "|---|---:|---|"]
    if lazy:
        lines.append(f"| {lazy['frames']}-frame {lazy.get('size', SIZE_LAZY)}² OME-Zarr time-lapse (uint16), lazy `reconstruct`, every frame "
                     f"computed in turn | {lazy['peak_rss_mb']:.0f} MiB | {lazy['rss_after_imports_mb']:.0f} MiB after "
                     f"imports; the stack as float32 alone would be {lazy['eager_stack_float32_mb']:.0f} MiB; "
                     f"{lazy['frames'] / lazy['seconds']:.1f} frames/s |")
    if tiled:
        t = tiled["tile"] or {}
        lines.append(f"| `diffpr` on a {tiled['size']}² hologram, tiles of {t.get('tile_px')} px "
                     f"({t.get('n_tiles')} tiles, overlap {t.get('overlap_px')}), {tiled['steps']} sampler steps, CPU, "
                     f"memory budget {tiled['budget']} | "
                     f"{tiled['peak_rss_mb']:.0f} MiB | {tiled['rss_before_mb']:.0f} MiB before the run; "
                     f"{tiled['seconds']:.0f} s |")
    lines.append(END)
    return "\n".join(lines) + "\n"


SIZE_LAZY = 1024


def main(argv=None) -> int:
    global SIZE_LAZY
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--tiled-size", type=int, default=1024)
    ap.add_argument("--tile", type=int, default=0, help="0: chosen from --budget (the claim); N: force N px tiles")
    ap.add_argument("--budget", default="3GB", help="memory budget of the tiled run (default 3GB)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--lazy-frames", type=int, default=200)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--from-json", action="store_true",
                    help="rewrite the docs section from benchmarks/results_bigdata.json without measuring")
    args = ap.parse_args(argv)
    if args.from_json:
        r = json.loads((REPO / "benchmarks" / "results_bigdata.json").read_text())
        tp = {int(k): v for k, v in r["throughput"].items()}
        write_section(args.out, report(tp, r["single"], r["lazy"], r["tiled"], r["command"], tuple(r["load"]),
                                       r.get("date")))
        return 0
    load = os.getloadavg()
    plan = {512: 64, 1024: 16} if not args.quick else {256: 8}
    tp = {}
    for size, n in plan.items():
        tp[size] = {"n": n, "fps": throughput(size, n, args.repeats)}
        print(size, json.dumps(tp[size], indent=1), flush=True)
    single = single_frame_ratio(5 if not args.quick else 2)
    print(single, flush=True)
    lazy = tiled = None
    results = REPO / "benchmarks" / "results_bigdata.json"
    previous = json.loads(results.read_text()) if results.exists() else {}
    if args.skip_rss:  # keep the memory rows of the last full run (they take minutes)
        lazy, tiled = previous.get("lazy"), previous.get("tiled")
    else:
        if args.quick:
            SIZE_LAZY = 256
        lazy = rss_lazy(args.lazy_frames if not args.quick else 20, SIZE_LAZY)
        print(lazy, flush=True)
        tiled = _child(_RSS_TILED, args.tiled_size if not args.quick else 256, args.tile if not args.quick else 160,
                       args.steps, args.budget)
        print(tiled, flush=True)
    command = "python benchmarks/bench_bigdata.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if lazy is not None and "command" not in lazy:
        for r in (lazy, tiled):
            if r is not None:
                r["command"] = command.strip()
    if not args.quick:
        results.write_text(json.dumps({"throughput": tp, "single": single, "lazy": lazy, "tiled": tiled,
                                       "command": command.strip(), "load": list(load),
                                       "date": time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},
                                      indent=1, default=str))
    section = report(tp, single, lazy, tiled, command.strip(), load)
    print(section)
    if not args.quick:
        write_section(args.out, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
