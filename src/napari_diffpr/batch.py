"""Batch reconstruction on Dask distributed (issue 12): ``napari-diffpr reconstruct`` with many
inputs (files, folders, globs, or one big OME-Zarr) and one output folder.

    napari-diffpr reconstruct data/*.tif more/ -o phases/                 LocalCluster, one worker per core
    napari-diffpr reconstruct movie.ome.zarr -o movie_phase.ome.zarr      frames spread over the workers
    napari-diffpr reconstruct data/ -o phases/ --scheduler tcp://host:8786   a lab's running cluster
    napari-diffpr reconstruct data/ -o phases/ --workers 0                in this process, no Dask

Each input file gives one output file (``<stem>_phase.tif``, or ``.ome.zarr`` for OME-Zarr and
N-D inputs); an OME-Zarr input is cut into tasks of a few frames, each frame written into the
output store as soon as it is done. Re-running skips outputs that exist (OME-Zarr: frames that
were written) unless ``--overwrite``. One progress bar counts every frame; failures do not stop
the other tasks and are listed at the end (exit status 1). Every task runs the same
:func:`napari_diffpr.api.reconstruct` as a serial run, one thread per worker, so the outputs
are bit-identical to ``--workers 0``.
"""
from __future__ import annotations

import argparse
import glob
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError, OutputError, ParameterError

BATCH_FLAGS = ("--scheduler", "--workers", "--format", "--frames-per-task", "--time-step", "--z-step")
FORMATS = ("auto", "tif", "zarr")


# --------------------------------------------------------------------------- what to run
@dataclass
class Task:
    """One unit of work: a whole file, or some frames of an OME-Zarr input."""

    input: str
    output: str
    frames: list[tuple] | None = None  # None: the whole file
    label: str = ""

    @property
    def size(self) -> int:
        return 1 if self.frames is None else len(self.frames)


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # outputs (or frames) already there
    stores: list[str] = field(default_factory=list)  # OME-Zarr outputs to finish at the end
    n_skipped_frames: int = 0


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (their supported files and OME-Zarr images, sorted, not recursive) and
    glob patterns -> a list of inputs in a stable order, without duplicates."""
    from . import io, omezarr

    found: list[Path] = []
    for text in inputs:
        paths = [Path(p) for p in sorted(glob.glob(text))] if _is_glob(text) else [Path(text)]
        if _is_glob(text) and not paths:
            raise InputError(f"no file matches {text!r}")
        for p in paths:
            if p.is_dir() and not omezarr.is_ome_zarr(p):
                inside = sorted(c for c in p.iterdir()
                                if (c.is_file() and io.supported(c)) or omezarr.is_ome_zarr(c))
                if not inside:
                    raise InputError(f"the folder {p} holds no measurement files "
                                     f"({', '.join(io.SUPPORTED_SUFFIXES)}, .zarr)")
                found.extend(inside)
            elif p.exists():
                found.append(p)
            else:
                raise FileNotFoundError(f"no such file: {p}")
    seen, out = set(), []
    for p in found:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _stem(p: Path) -> str:
    name = p.name.rstrip("/")
    for end in (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif"):
        if name.lower().endswith(end):
            return name[: -len(end)]
    return p.stem


def output_for(p: Path, out_dir: Path, fmt: str, ndim_lead: int | None = None) -> Path:
    from . import omezarr

    zarr_out = fmt == "zarr" or (fmt == "auto" and (omezarr.is_ome_zarr(p) or (ndim_lead or 0) > 1))
    return out_dir / f"{_stem(p)}_phase{'.ome.zarr' if zarr_out else '.tif'}"


def _leading_ndim(p: Path) -> int | None:
    """Leading axes of a TIFF/NPY without reading pixels (for the output format); None if unknown."""
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(p) as tif:
                s = tif.series[0]
                return max(0, len(s.shape) - (3 if s.axes.endswith("S") else 2))
        if p.suffix.lower() == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            return max(0, arr.ndim - (3 if arr.shape[-1] == 3 else 2))
    except Exception:  # noqa: BLE001 - the task itself reports unreadable files
        return None
    return None


def plan(inputs: Sequence[Path], output: Path, *, fmt: str = "auto", overwrite: bool = False,
         frames_per_task: int = 0, n_workers: int = 1, record: dict | None = None) -> Plan:
    """Decide the outputs and the tasks; skip what is already written (unless ``overwrite``).
    With one input ``output`` may be the output file itself; with several it is a folder."""
    from . import cli, omezarr

    result = Plan()
    single_target = len(inputs) == 1 and (omezarr.is_zarr_name(output) or output.suffix.lower() in (".tif", ".tiff"))
    if not single_target:
        if output.exists() and not output.is_dir():
            raise OutputError(f"with several inputs the output must be a folder; {output} is a file")
    outs = []
    for p in inputs:
        out = output if single_target else output_for(p, output, fmt, _leading_ndim(p))
        for src in inputs:
            if cli._same_file(src, out):
                raise OutputError(f"the output {out} is the same file as the input {src}; choose another folder")
        if out in outs:
            raise OutputError(f"two inputs would be written to the same file {out}; give them different names "
                              "or reconstruct them into separate folders")
        outs.append(out)
    for p, out in zip(inputs, outs):
        if omezarr.is_ome_zarr(p):
            item = omezarr.read(p)[0]
            spatial = 3 if item.kind == "rgb" else 2
            lead = tuple(item.data.shape[:-spatial])
            if not omezarr.is_zarr_name(out):
                raise OutputError(f"an OME-Zarr input ({p.name}) is written as OME-Zarr; name the output .ome.zarr")
            rec = {**(record or {}), "input_file": str(p), "input_shape": list(item.data.shape),
                   "axes": item.metadata.get("axes"), "name": out.name.split(".")[0],
                   **{k: item.metadata.get(k) for k in ("pixel_size_um", "time_step_s", "z_step_um")
                      if item.metadata.get(k) is not None},
                   **{k: v for k, v in (record or {}).items() if k in ("time_step_s", "z_step_um")}}
            store = omezarr.FrameStore.create(out, lead, item.data.shape[len(lead):len(lead) + 2], rec,
                                              overwrite=overwrite, resume=True)
            done = store.done()
            todo = [i for i in np.ndindex(*lead) if i not in done]
            result.n_skipped_frames += len(done)
            if done:
                result.skipped.append(f"{out}: {len(done)} of {len(done) + len(todo)} frame(s) already written")
            k = frames_per_task or max(1, min(32, math.ceil(len(todo) / max(1, 4 * n_workers))))
            for j in range(0, len(todo), k):
                chunk = todo[j:j + k]
                result.tasks.append(Task(str(p), str(out), chunk, f"{p.name} frames {chunk[0]}..{chunk[-1]}"))
            result.stores.append(str(out))
        else:
            if (out.exists() or out.is_symlink()) and not overwrite:
                result.skipped.append(f"{out} exists")
                continue
            result.tasks.append(Task(str(p), str(out), None, p.name))
    return result


# ----------------------------------------------------------------------- the work itself
def _reconstruct_item(data, kind_meta: dict, method_name: str, params: dict, background):
    from .api import reconstruct
    from .cli import _method_for, physical_params_from_metadata

    method = _method_for(method_name, data)
    full = {**physical_params_from_metadata(method, kind_meta, params), **params}
    return method, reconstruct(data, method, background=background, **full)


def run_task(task: Task, method_name: str, params: dict, background: str | None, overwrite: bool,
             memory_budget: str | None = None, extra_meta: dict | None = None) -> dict:
    """Run one task (in a worker or in this process); never raises: returns
    {"label", "ok", "frames", "error"}."""
    from . import io, memory, omezarr
    from .cli import _pick_background, _pick_measurement

    t0 = time.perf_counter()
    _fit_threads_to_worker()
    try:
        if memory_budget is not None:
            memory.set_budget(memory_budget)
        bg = None
        if background:
            bg = _pick_background(io.read(background), background).data
        if task.frames is None:
            items = io.read(task.input)
            main, bg_item = _pick_measurement(items, task.input)
            data = main.data.compute(scheduler="sync") if hasattr(main.data, "compute") else main.data
            if bg is None and bg_item is not None:
                bg = bg_item.data
            method, res = _reconstruct_item(data, main.metadata, method_name, params,
                                            bg if _uses_background(method_name, data) else None)
            meta = {k: main.metadata.get(k) for k in ("pixel_size_um", "wavelength_um", "medium_index",
                                                      "time_step_s", "axes") if main.metadata.get(k) is not None}
            meta.update(input_file=str(task.input), name=Path(task.output).name.split(".")[0], **(extra_meta or {}))
            if bg is not None and method.uses_background:
                meta["background_file"] = str(background or task.input)
            io.write(task.output, res, {**res.metadata, **meta}, kind="phase", overwrite=overwrite)
        else:
            item = omezarr.read(task.input)[0]
            store = omezarr.FrameStore(task.output)
            for index in task.frames:
                frame = np.asarray(item.data[index].compute(scheduler="sync"))
                _, res = _reconstruct_item(frame, item.metadata, method_name, params,
                                           bg if _uses_background(method_name, frame) else None)
                store.write_frame(index, res.phase, res.metadata)
        from .retrieval import fftutil

        return {"label": task.label, "ok": True, "frames": task.size, "error": None,
                "seconds": time.perf_counter() - t0, "fft_threads": fftutil.WORKERS}
    except Exception as exc:  # noqa: BLE001 - one failure must not stop the batch; listed at the end
        msg = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, (InputError, ParameterError, OutputError, FileNotFoundError)):
            msg += "\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"label": task.label, "ok": False, "frames": task.size, "error": msg,
                "seconds": time.perf_counter() - t0}


def _fit_threads_to_worker() -> None:
    """In a dask worker, the FFTs use the worker's threads, not every core of the machine (N
    workers x N FFT threads would oversubscribe it). pocketfft splits work over independent 1-D
    transforms, so the thread count does not change a single bit of the result."""
    try:
        from distributed import get_worker

        worker = get_worker()
        nthreads = getattr(worker, "nthreads", None) or worker.state.nthreads
    except (ImportError, ValueError, AttributeError):
        return  # not in a worker
    from .retrieval import fftutil

    fftutil.WORKERS = max(1, int(nthreads))


def _uses_background(method_name: str, data) -> bool:
    from .cli import _method_for

    return _method_for(method_name, data).uses_background


# ----------------------------------------------------------------------------- executors
def make_client(scheduler: str | None, workers: int | None):
    """A distributed Client: to ``scheduler`` when given, else a LocalCluster with ``workers``
    single-threaded worker processes (default: one per core). The caller closes both."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def execute(tasks: list[Task], method_name: str, params: dict, *, background: str | None = None,
            overwrite: bool = False, memory_budget: str | None = None, client=None, progress=None,
            extra_meta: dict | None = None) -> list[dict]:
    """Run every task, on ``client`` (dask distributed) or in this process when None;
    ``progress(n_frames)`` is called as tasks finish. Returns the task reports in task order."""
    reports: dict[int, dict] = {}
    if client is None:
        for i, t in enumerate(tasks):
            reports[i] = run_task(t, method_name, params, background, overwrite, memory_budget, extra_meta)
            if progress:
                progress(t.size)
        return [reports[i] for i in range(len(tasks))]
    from distributed import as_completed

    futures = {client.submit(run_task, t, method_name, params, background, overwrite, memory_budget, extra_meta,
                             pure=False, key=f"napari-diffpr-{i}-{t.label}-{time.time_ns()}"): i
               for i, t in enumerate(tasks)}
    for fut in as_completed(list(futures)):
        i = futures[fut]
        try:
            reports[i] = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker died (memory, segfault): report, go on
            reports[i] = {"label": tasks[i].label, "ok": False, "frames": tasks[i].size,
                          "error": f"{type(exc).__name__}: {exc}", "seconds": float("nan")}
        if progress:
            progress(tasks[i].size)
    return [reports[i] for i in range(len(tasks))]


# ---------------------------------------------------------------------------------- CLI
def wants_batch(argv: Sequence[str]) -> bool:
    """True when a ``reconstruct`` command line needs the batch runner: a batch option, an
    OME-Zarr or folder or glob input, an output folder or OME-Zarr, or several inputs."""
    if any(a.split("=")[0] in BATCH_FLAGS for a in argv):
        return True
    args = list(argv)
    out = None
    for flag in ("-o", "--output"):
        if flag in args and args.index(flag) + 1 < len(args):
            out = args[args.index(flag) + 1]
    out = out or next((a.split("=", 1)[1] for a in args if a.startswith("--output=")), None)
    # an output folder is named with a trailing slash (one input with an existing folder as -o
    # stays the single-file command's clear "is a folder" error); several inputs imply a folder
    if out and (out.lower().rstrip("/").endswith(".zarr") or out.endswith(("/", os.sep))):
        return True
    # values of the single-file options that name files are not inputs (issue 10's --weights)
    values = {args[i + 1] for i, a in enumerate(args[:-1])
              if a in ("-b", "--background", "--weights", "--prior-weights")}
    existing = [a for a in args if not a.startswith("-") and a != out and a not in values
                and (Path(a).exists() or _is_glob(a))]
    return len(existing) > 1 or any(Path(a).is_dir() or _is_glob(a) for a in existing)


def _parser(method, all_methods) -> argparse.ArgumentParser:
    from .cli import PROG, _add_memory_option, _add_safety_options, add_method_options

    p = argparse.ArgumentParser(
        prog=f"{PROG} reconstruct",
        description="Batch: reconstruct many measurements (files, folders, globs, or one big OME-Zarr) on Dask "
                    "distributed, one output per input, resumable. See docs/cluster.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, glob patterns or OME-Zarr images")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder (one INPUT_STEM_phase.tif / .ome.zarr per input); with one input also "
                        "the output file itself (.tif or .ome.zarr)")
    p.add_argument("-m", "--method", default="fourier", metavar="NAME",
                   help=f"reconstruction method: {', '.join(sorted(all_methods))} (default: fourier)")
    p.add_argument("-b", "--background", metavar="FILE", help="sample-free background hologram for every input")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); default: a LocalCluster")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="LocalCluster worker processes (default: one per core); 0 runs everything in this "
                        "process without Dask")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="output format: tif, zarr (OME-Zarr), or auto (OME-Zarr for OME-Zarr and N-D inputs, "
                        "else TIFF)")
    p.add_argument("--time-step", type=float, default=None, metavar="S",
                   help="time between frames in seconds, recorded with OME-Zarr outputs (default: the input's)")
    p.add_argument("--z-step", type=float, default=None, metavar="UM",
                   help="z spacing in µm, recorded with OME-Zarr outputs (default: the input's)")
    p.add_argument("--frames-per-task", type=int, default=0, metavar="K",
                   help="OME-Zarr inputs: frames per task (default: about 4 tasks per worker, at most 32)")
    _add_safety_options(p)
    _add_memory_option(p)
    if method is not None:
        add_method_options(p, method)
    return p


def main(argv: Sequence[str]) -> int:
    from . import io, omezarr
    from .cli import _collect_params, _method_for, _pick_measurement
    from .methods import methods

    all_methods = methods()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-m", "--method", default="fourier")
    known, _ = pre.parse_known_args(argv)
    # the first input decides between a method's hologram and RGB variants (and their options)
    probe = _parser(None, all_methods).parse_known_args(argv)[0]
    inputs = expand_inputs(probe.inputs)
    sample, problem = None, None
    for p in inputs:  # the first readable input (an unreadable one fails as its own task)
        try:
            items = omezarr.read(p) if omezarr.is_ome_zarr(p) else io.read(p)
            sample = _pick_measurement(items, p)[0].data
            break
        except (InputError, OSError) as exc:
            problem = problem or exc
    if sample is None:
        raise problem
    method = _method_for(known.method, sample)
    args = _parser(method, all_methods).parse_args(argv)
    if args.memory_budget is not None:
        from . import memory

        memory.set_budget(args.memory_budget)
    params = _collect_params(args)
    method.resolve_params(params)  # a bad parameter fails here, before any worker starts
    extra = {k: v for k, v in (("time_step_s", args.time_step), ("z_step_um", args.z_step)) if v is not None}
    record = {"method": method.name, "parameters": params, **extra}
    output = Path(args.output)
    work = plan(inputs, output, fmt=args.format, overwrite=args.overwrite, frames_per_task=args.frames_per_task,
                n_workers=args.workers or os.cpu_count() or 1, record=record)
    for line in work.skipped:
        print(f"skip: {line}", file=sys.stderr)
    total = sum(t.size for t in work.tasks)
    if not work.tasks:
        print(f"nothing to do: every output of {len(inputs)} input(s) is already written "
              "(--overwrite recomputes them)")
        for s in work.stores:
            omezarr.FrameStore(s).finish()
        return 0
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc="reconstruct", file=sys.stderr, dynamic_ncols=True)
    client = cluster = None
    t0 = time.perf_counter()
    try:
        if args.workers != 0:
            client, cluster = make_client(args.scheduler, args.workers)
        reports = execute(work.tasks, method.name, params, background=args.background, overwrite=args.overwrite,
                          memory_budget=args.memory_budget, client=client, extra_meta=extra,
                          progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    for s in work.stores:
        omezarr.FrameStore(s).finish()
    failed = [r for r in reports if not r["ok"]]
    done = sum(r["frames"] for r in reports if r["ok"])
    where = ("this process" if args.workers == 0 else args.scheduler or
             f"a LocalCluster of {args.workers or os.cpu_count()} worker(s)")
    print(f"reconstructed {done} frame(s) from {len(inputs)} input(s) in {time.perf_counter() - t0:.1f} s on "
          f"{where}; {len(work.skipped)} skipped (already written), {len(failed)} task(s) failed")
    if failed:
        print(f"failed ({len(failed)}):", file=sys.stderr)
        for r in failed:
            print(f"  {r['label']}: {r['error']}", file=sys.stderr)
        return 1
    return 0
