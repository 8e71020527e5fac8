"""Side-by-side timings and a quality table for the conventional baselines.

    python benchmarks/bench_retrieval.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_retrieval.py --quick    # fewer repeats, smaller quality set, prints only

Timings (one process; candidates take turns in blocks of back-to-back runs, medians):
  * "fourier" vs qpretrieve on a 1024^2 simulated hologram. qpretrieve at its best setting
    (pyFFTW, float32, padding 0) and at its defaults (numpy FFT, padding 2). Ours doing the
    same job (find the sideband, disk filter of 1/2 the sideband distance, wrapped phase and
    amplitude at full size) and our full default pipeline (unwrapping + background fit).
  * "tie" vs waveorder's isotropic_thin_3d.reconstruct on a 512x512x3 simulated chromatic RGB
    image (waveorder gets the three channels as a z-stack at the green wavelength).
Quality: PSNR / SSIM / MAE from napari_diffpr.metrics.compare against the simulator's ground
truth (holograms: the band-limited phase) on a small seeded set. Ratios are peer time / our time.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN retrieval -->", "<!-- END retrieval -->"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def interleaved_medians(candidates: dict, repeats: int, block: int = 4) -> dict:
    """Median (wall seconds, CPU seconds) per candidate. Candidates take turns in blocks of
    ``block`` back-to-back runs (the first of each block is a discarded warm-up),
    ``repeats`` rounds in all, so slow drifts of the load from other processes on a shared
    machine hit every candidate alike, while each is timed the way a stack of frames runs
    it: repeatedly, with its own data in the caches. CPU time (all threads of this
    process) is what the work costs whatever else the machine is doing."""
    times = {name: [] for name in candidates}
    cpu = {name: [] for name in candidates}
    for _ in range(max(1, repeats)):
        for name, fn in candidates.items():
            fn()  # warm-up: caches, FFT plans, lazy imports
            for _ in range(block - 1):
                c = time.process_time()
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    return {name: (statistics.median(times[name]), statistics.median(cpu[name])) for name in candidates}


# --------------------------------------------------------------------------- fourier timing
def bench_fourier(repeats: int, size: int = 1024) -> tuple[dict, dict]:
    import qpretrieve
    from qpretrieve.fourier import FFTFilterNumpy

    import napari_diffpr as nd
    from napari_diffpr.optics import simulate

    phase = simulate.phantom((size, size), seed=7)
    sample = simulate.hologram(phase, carrier=(0.17, -0.21), seed=7)
    holo = sample.hologram.astype(np.float32)

    try:
        from qpretrieve.fourier import FFTFilterPyFFTW
    except ImportError:
        FFTFilterPyFFTW = None

    def qp(iface, padding, dtype):
        def run():
            data = holo.copy()  # a fresh array: qpretrieve caches transforms by array id
            o = qpretrieve.OffAxisHologram(data, fft_interface=iface, padding=padding,
                                           dtype_conversion=dtype)
            o.run_pipeline(filter_name="disk", filter_size=0.5)
            return o.phase, o.amplitude
        return run

    same_job = dict(filter_shape="disk", filter_size=0.5, unwrap="none", background_fit="none", sign="+1")
    cands = {}
    if FFTFilterPyFFTW is not None and getattr(FFTFilterPyFFTW, "is_available", False):
        cands["qpretrieve pyFFTW float32 padding 0"] = qp(FFTFilterPyFFTW, 0, np.float32)
    cands["qpretrieve numpy FFT, defaults (padding 2)"] = qp(FFTFilterNumpy, 2, None)
    cands["ours, same job (wrapped phase + amplitude)"] = lambda: nd.reconstruct(holo, "fourier", **same_job)
    cands["ours, lsq unwrap + plane fit"] = lambda: nd.reconstruct(holo, "fourier", filter_shape="disk", unwrap="lsq",
                                                                 background_fit="plane")
    # no background hologram is given, so the default "auto" fit is a poly2
    cands["ours, defaults (skimage unwrap + poly2 fit)"] = lambda: nd.reconstruct(holo, "fourier")
    times = interleaved_medians(cands, repeats)
    info = {"shape": holo.shape,
            "pyfftw": FFTFilterPyFFTW is not None and getattr(FFTFilterPyFFTW, "is_available", False)}
    return times, info


# --------------------------------------------------------------------------- tie timing
def bench_tie(repeats: int, size: int = 512) -> tuple[dict, dict]:
    import napari_diffpr as nd
    from napari_diffpr.optics import simulate

    phase = simulate.phantom((size, size), seed=3)
    s = simulate.rgb_brightfield(phase, seed=3)
    rgb, meta = s.image, s.meta
    ours = dict(pixel_size=meta["pixel_size_um"], wavelengths=meta["wavelengths_um"],
                defocus=meta["defocus_um"], medium_index=meta["n_medium"])
    cands = {"ours, tie (neumann / DCT)": lambda: nd.reconstruct(rgb, "tie", **ours),
             "ours, tie (periodic / FFT)": lambda: nd.reconstruct(rgb, "tie", boundary="periodic", **ours)}
    info = {"shape": rgb.shape, "waveorder": _version("waveorder")}
    wo = _waveorder_runner(meta)
    if wo is not None:
        cands["waveorder isotropic_thin_3d.reconstruct"] = lambda: wo(rgb)
    return interleaved_medians(cands, repeats), info


def _waveorder_runner(meta):
    try:
        import torch
        from waveorder.models import isotropic_thin_3d
    except ImportError:
        return None

    def run(rgb):
        zyx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)))
        _, phase = isotropic_thin_3d.reconstruct(
            zyx, yx_pixel_size=meta["pixel_size_um"], z_position_list=list(meta["defocus_um"]),
            wavelength_illumination=meta["reference_wavelength_um"],
            index_of_refraction_media=meta["n_medium"],
            numerical_aperture_illumination=meta["na_illumination"],
            numerical_aperture_detection=meta["na_detection"], regularization_strength=1e-3)
        return phase.numpy()
    return run


# --------------------------------------------------------------------------- quality
def quality(n: int, size: int) -> dict[str, list[dict]]:
    import qpretrieve
    from skimage.restoration import unwrap_phase

    import napari_diffpr as nd
    from napari_diffpr.metrics import compare
    from napari_diffpr.optics import simulate
    from napari_diffpr.retrieval.background import choose_sign, fit_background

    rng = np.random.default_rng(2024)
    scores: dict[str, list[dict]] = {}

    def add(name, value, reference):
        scores.setdefault(name, []).append(compare(value, reference))

    wo = None
    for i in range(n):
        phase = simulate.phantom((size, size), seed=100 + i)
        angle = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(0.18, 0.28)
        carrier = (float(dist * np.sin(angle)), float(dist * np.cos(angle)))
        s = simulate.hologram(phase, carrier=carrier, seed=100 + i)
        truth = s.phase  # band-limited: what a perfect retrieval can reach
        add("fourier, background hologram", nd.reconstruct(s.hologram, "fourier", background=s.background), truth)
        add("fourier, no background", nd.reconstruct(s.hologram, "fourier"), truth)
        add("fourier, lsq unwrap", nd.reconstruct(s.hologram, "fourier", background=s.background, unwrap="lsq"), truth)
        # qpretrieve with the same filter, background and post-processing as ours
        q = qpretrieve.OffAxisHologram(s.hologram)
        q.run_pipeline(filter_name="smooth disk", filter_size=0.5)
        qb = qpretrieve.OffAxisHologram(s.background)
        qb.process_like(q)
        qp = unwrap_phase(np.squeeze(q.phase - qb.phase)).astype(np.float32)
        surface, bg = fit_background(qp, 1, mask="auto")
        qp = qp - surface
        add("qpretrieve (same filter + our unwrap/fit)", qp * choose_sign(qp, bg), truth)

        rgb = simulate.rgb_brightfield(phase, seed=100 + i)
        meta = rgb.meta
        kw = dict(pixel_size=meta["pixel_size_um"], wavelengths=meta["wavelengths_um"],
                  defocus=meta["defocus_um"], medium_index=meta["n_medium"])
        add("tie (neumann)", nd.reconstruct(rgb.image, "tie", **kw), phase)
        add("tie (periodic)", nd.reconstruct(rgb.image, "tie", boundary="periodic", **kw), phase)
        wo = wo or _waveorder_runner(meta)
        if wo is not None:
            p = wo(rgb.image)
            add("waveorder isotropic_thin_3d (median set to 0)", p - np.median(p), phase)
    return scores


# --------------------------------------------------------------------------- report
def _fmt_ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def report(fourier, tie, scores, args, started_load, command) -> str:
    f_times, f_info = fourier
    t_times, t_info = tie
    lines = [BEGIN, "## Conventional baselines (retrieval)", "",
             f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Machine: {_cpu_name()}, {os.cpu_count()} CPU cores, shared with other jobs "
             f"(load average {started_load[0]:.1f} / {started_load[1]:.1f} / {started_load[2]:.1f} at start), "
             f"Python {platform.python_version()}, numpy {_version('numpy')}, scipy {_version('scipy')}, "
             f"qpretrieve {_version('qpretrieve')}, pyFFTW {_version('pyfftw')}, waveorder {_version('waveorder')}, "
             f"torch {_version('torch')}.",
             f"Timings: candidates take turns, {args.repeats} rounds of 1 warm-up + 3 timed back-to-back "
             "runs each; medians of the timed runs, wall clock and CPU time (all threads; unaffected by "
             "other jobs' load, which made wall times vary up to 3x during this work); "
             "ratio = peer time / our time.", ""]

    same = "ours, same job (wrapped phase + amplitude)"
    peers = [q for q in f_times if q.startswith("qpretrieve")]
    lines += [f"### Off-axis Fourier filtering, {f_info['shape'][0]}x{f_info['shape'][1]} simulated hologram", "",
              "| implementation | wall (median) | CPU (median) | "
              + " | ".join(f"{q.split(',')[0]} / this (wall, CPU)" for q in peers) + " |",
              "|---|---:|---:|" + "---:|" * len(peers)]
    for name, (wall, cpu) in f_times.items():
        ratios = [f"{f_times[q][0] / wall:.1f}x, {f_times[q][1] / cpu:.1f}x" if name.startswith("ours") else ""
                  for q in peers]
        lines.append(f"| {name} | {_fmt_ms(wall)} | {_fmt_ms(cpu)} | " + " | ".join(ratios) + " |")
    best = [q for q in peers if "pyFFTW" in q]
    if best:
        lines += ["", f"**Same job vs qpretrieve's best setting: {f_times[best[0]][0] / f_times[same][0]:.1f}x "
                      f"faster in wall time, {f_times[best[0]][1] / f_times[same][1]:.1f}x less CPU time** "
                      "(target >= 3x)."]
    else:
        lines += ["", "pyFFTW was not installed, so qpretrieve's best setting could not be timed."]
    lines += ["", "Same job = detect the sideband, disk filter of radius 1/2 the sideband distance, "
                  "full-size wrapped phase and amplitude. Ours: real row FFTs over a zero-margined "
                  "image, column FFTs only where the filter is, pruned inverse FFTs (scipy.fft, all "
                  "cores, float32). qpretrieve's numbers include its own sideband search. Our defaults "
                  "add scikit-image's unwrapper (run on a grid subsampled to the filter's band, every "
                  "pixel then snapped to it) and a robust background fit (poly2: no background hologram is given).", ""]

    wo_name = "waveorder isotropic_thin_3d.reconstruct"
    lines += [f"### TIE, {t_info['shape'][0]}x{t_info['shape'][1]}x3 simulated chromatic RGB image", "",
              "| implementation | wall (median) | CPU (median) | waveorder / this (wall, CPU) |",
              "|---|---:|---:|---:|"]
    for name, (wall, cpu) in t_times.items():
        ratio = (f"{t_times[wo_name][0] / wall:.0f}x, {t_times[wo_name][1] / cpu:.0f}x"
                 if wo_name in t_times and name != wo_name else "")
        lines.append(f"| {name} | {_fmt_ms(wall)} | {_fmt_ms(cpu)} | {ratio} |")
    if wo_name in t_times:
        ours = t_times["ours, tie (neumann / DCT)"]
        lines += ["", f"**Default TIE vs waveorder: {t_times[wo_name][0] / ours[0]:.0f}x faster in wall time, "
                      f"{t_times[wo_name][1] / ours[1]:.0f}x less CPU time** (target >= 20x). waveorder solves "
                      "the partially coherent weak-object transfer function (an SVD per call) at one "
                      "wavelength; ours is the TIE in optical-path form with a Tikhonov FFT/DCT Poisson solve."]
    else:
        lines += ["", "waveorder is not installed: the TIE comparison is blocked."]

    lines += ["", f"### Quality on a seeded simulated set ({args.n_quality} phantoms, {args.quality_size}^2 px)", "",
              "Scored with `napari_diffpr.metrics.compare` (reference rescaled to [0, 1], the same map "
              "applied to the result). Holograms: 2000 photons, 8-bit, carriers at random angles "
              "0.18-0.28 cycles/px, truth = band-limited phase; RGB: the simulator's defaults "
              "(defocus -1.5/0/+1.5 µm, 5000 photons), truth = the phantom. Mean ± std.", "",
              "| method | PSNR (dB) | SSIM | MAE |", "|---|---:|---:|---:|"]
    for name, ss in scores.items():
        def ms(k):
            v = np.array([s[k] for s in ss], dtype=float)
            return f"{v.mean():.3f} ± {v.std():.3f}" if k != "psnr" else f"{v.mean():.1f} ± {v.std():.1f}"
        lines.append(f"| {name} | {ms('psnr')} | {ms('ssim')} | {ms('mae')} |")
    lines += ["", "TIE sees only the coarse shape of textured phantoms from ±1.5 µm of chromatic defocus "
                  "(seed 001's motivation for a learned prior); Fourier filtering is limited by shot "
                  "noise and 8-bit quantisation.", END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n-quality", dest="n_quality", type=int, default=6)
    ap.add_argument("--quality-size", dest="quality_size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--quick", action="store_true", help="3 repeats, 2 small phantoms, print only")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.n_quality, args.quality_size = 3, 2, 128
    warnings.filterwarnings("ignore")  # qpretrieve warns about optional FFT back-ends
    load = os.getloadavg()
    command = "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv if argv is not None else sys.argv[1:]))
    fourier = bench_fourier(args.repeats)
    print("fourier (wall, cpu) ms:", {k: [round(x * 1e3, 1) for x in v] for k, v in fourier[0].items()}, flush=True)
    tie = bench_tie(args.repeats)
    print("tie (wall, cpu) ms:", {k: [round(x * 1e3, 1) for x in v] for k, v in tie[0].items()}, flush=True)
    scores = quality(args.n_quality, args.quality_size)
    section = report(fourier, tie, scores, args, load, command)
    print(section)
    if not args.quick:
        write_section(args.out, section)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
