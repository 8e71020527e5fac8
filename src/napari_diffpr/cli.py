"""The ``napari-diffpr`` command: a thin shell over the Python API (io, reconstruct, compare).

    napari-diffpr demo [--no-gui]                      try it on a simulated hologram
    napari-diffpr simulate --kind hologram -o s.npz    write a measurement with its ground truth
    napari-diffpr reconstruct s.npz -o phase.tif       phase map (radians) as float32 TIFF
    napari-diffpr reconstruct data/ -o out/            batch on Dask distributed (batch.py)
    napari-diffpr methods                              methods and their parameters
    napari-diffpr compare phase.tif s.npz              PSNR / SSIM / MAE / high-frequency error
    napari-diffpr measure phase.tif -o cells.csv       one row per cell: dry mass, area, ...
    napari-diffpr train ...                            train the networks (see `train --help`)

Method parameters become ``reconstruct`` options automatically from the registry's parameter
specs, so a newly registered method gets its flags without any change here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import (Cancelled, DiffPRError, InputError, OutputError, ParameterError, ResourceError,
                     RetrievalError)

PROG = "napari-diffpr"
# Options of `reconstruct` itself; a method parameter with one of these names gets a "param-" prefix.
_RESERVED = {"output", "method", "background", "quiet", "help", "input", "version", "overwrite",
             "memory_budget", "weights"}

_EPILOG = """\
units: lengths (pixel size, wavelength, defocus) in micrometres (µm); phase in radians.
input files: TIFF/OME-TIFF, NPY, NPZ (keys 'data' and optional 'bg_data', 'phase'),
  HDF5 in qpformat's raw off-axis hologram layout (needs h5py).
examples:
  napari-diffpr demo --no-gui
  napari-diffpr simulate --kind hologram --size 256 -o cell.npz
  napari-diffpr reconstruct cell.npz -o cell_phase.tif
  napari-diffpr reconstruct cell.npz -o cell_phase.tif --method fourier --filter-size 0.4
  napari-diffpr compare cell_phase.tif cell.npz
many inputs, folders, OME-Zarr, a Dask cluster: napari-diffpr reconstruct data/ -o phases/
  (`reconstruct --workers 0 --help` lists the batch options; docs/cluster.md)
"""


# ----------------------------------------------------------------------------- progress bar
class ProgressBar:
    """One line per stage on stderr: redrawn in place on a terminal, a few lines in a log file."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self._stage = None
        self._last_tenth = -1

    def __call__(self, event) -> None:
        frac = event.fraction
        if event.stage != self._stage:
            if self._stage is not None and self.tty:
                self.stream.write("\n")
            self._stage, self._last_tenth = event.stage, -1
        tenth = int(frac * 10)
        if not self.tty and tenth == self._last_tenth:
            return  # in a log, print only every 10 %
        self._last_tenth = tenth
        filled = int(round(frac * self.width))
        line = (f"{event.stage:<28.28} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{frac * 100:5.1f}% {event.step}/{event.total}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._stage is not None:
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------- parameters -> options
def _flag(name: str) -> str:
    name = f"param-{name}" if name in _RESERVED else name
    return "--" + name.replace("_", "-")


def _scalar_type(kind: str, optional: bool):
    base = {"int": int, "ints": int, "float": float, "floats": float}.get(kind, str)

    def convert(text: str):
        if kind == "float_or_auto":  # a number or "auto" (refocus): the method's spec parses it
            return None if text.lower() == "none" else text
        if optional and text.lower() in ("auto", "none"):
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if base is int else 'a number'}"
                f"{' or auto' if optional else ''}, got {text!r}") from None

    convert.__name__ = {int: "integer", float: "number"}.get(base, "text")
    return convert


def _describe(p) -> str:
    bits = [p.help.rstrip(".")]
    if p.unit:
        bits.append(f"in {p.unit}")
    lo = None if p.minimum is None else f"{p.minimum:g}"
    hi = None if p.maximum is None or abs(p.maximum) >= 1e12 else f"{p.maximum:g}"  # 2**63: "no limit"
    if lo is not None and hi is not None:
        bits.append(f"range {lo}..{hi}")
    elif lo is not None:
        bits.append(f">= {lo}")
    elif hi is not None:
        bits.append(f"<= {hi}")
    default = p.default
    if isinstance(default, (tuple, list)):
        default = " ".join(map(str, default))
    bits.append(f"default: {'auto' if default is None else default}")
    return "; ".join(bits).replace("%", "%%")


def add_method_options(parser: argparse.ArgumentParser, method) -> None:
    """Add one option per parameter of ``method`` (registry spec -> argparse). Values stay unset
    unless given, so the method's own defaults apply; types and ranges are checked by the
    method's ``resolve_params`` (one source of truth)."""
    group = parser.add_argument_group(f"parameters of method {method.name!r} ({method.title})")
    for p in method.params:
        kw: dict[str, Any] = {"dest": f"param__{p.name}", "default": argparse.SUPPRESS, "help": _describe(p)}
        if p.kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif p.kind in ("floats", "ints"):
            kw.update(type=_scalar_type(p.kind, False), nargs=p.length or "+",
                      metavar=p.name.upper())
            if p.optional:  # "auto" alone resets to None
                kw.update(type=_scalar_type(p.kind, True))
        else:
            kw["type"] = _scalar_type(p.kind, p.optional)
            if p.choices is not None:
                kw["choices"] = p.choices
                if p.kind == "str":
                    kw.pop("type")
            else:
                kw["metavar"] = p.name.upper()
        group.add_argument(_flag(p.name), **kw)


def _collect_params(ns: argparse.Namespace) -> dict[str, Any]:
    params = {}
    for key, value in vars(ns).items():
        if key.startswith("param__"):
            if isinstance(value, list):
                if any(v is None for v in value) and not all(v is None for v in value):
                    raise ParameterError(
                        f"{_flag(key[len('param__'):])} takes either 'auto' alone or only numbers; got "
                        f"{' '.join('auto' if v is None else str(v) for v in value)}")
                value = None if any(v is None for v in value) else tuple(value)
            params[key[len("param__"):]] = value
    return params


# Method parameter -> metadata key (from the input file) that may supply it when not given.
# Not the numerical aperture: for Fourier filtering it replaces the filter size the user chose,
# and files often carry a placeholder NA (qpformat's example says 1.0).
_FROM_METADATA = {"pixel_size": ("pixel_size_um",), "wavelength": ("wavelength_um",),
                  "wavelengths": ("wavelengths_um",), "defocus": ("defocus_um",),
                  "reference_wavelength": ("reference_wavelength_um",),
                  "medium_index": ("medium_index", "n_medium")}


def physical_params_from_metadata(method, metadata: dict, given: dict) -> dict[str, Any]:
    """Parameters of ``method`` not ``given`` on the command line that the input file's
    metadata supplies (pixel size, wavelength... in µm); values the spec rejects are skipped."""
    found = {}
    for p in method.params:
        if p.name in given:
            continue
        value = next((metadata[k] for k in _FROM_METADATA.get(p.name, ()) if metadata.get(k) is not None), None)
        if value is None:
            continue
        try:
            found[p.name] = p.validate(value)
        except (ValueError, TypeError):
            continue
    return found


# ------------------------------------------------------------------------ output safety
def _same_file(a, b) -> bool:
    """True when paths ``a`` and ``b`` name the same file: the same inode (hard links, symbolic
    links) or, for an output that does not exist yet, the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError, RuntimeError):
        return False


def check_outputs(outputs, inputs=(), *, overwrite: bool = False, suffixes=None, nbytes: float = 0) -> None:
    """Everything about the outputs that can be checked before computing: never an input (even
    through a hard or symbolic link), a supported suffix, not a folder, not an existing file
    unless ``overwrite``, a writable folder, and enough free disk for ``nbytes``. Raises
    OutputError / InputError."""
    from . import io

    outputs = [Path(o) for o in outputs]
    for out in outputs:
        for src in inputs:
            if src and _same_file(src, out):
                raise OutputError(f"the output {out} is the same file as the input {src} (or a link to it); choose "
                                  "another name so the measurement is not overwritten")
    for i, out in enumerate(outputs):
        if any(_same_file(out, other) for other in outputs[:i]):
            raise OutputError(f"two outputs would be written to the same file {out}")
        io.check_output_path(out, overwrite=overwrite, suffixes=suffixes or io.WRITE_SUFFIXES,
                             nbytes=nbytes / max(1, len(outputs)))


def _add_safety_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (default: refuse; an input is never overwritten)")


def _add_memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory-budget", metavar="SIZE", default=None,
                   help="most memory a reconstruction may use, e.g. 8GB, 512MB or 75%% (of the available "
                        "memory); default: $NAPARI_DIFFPR_MEMORY_BUDGET or 50%% of the available memory. "
                        "Larger jobs are refused before anything is allocated")


# ----------------------------------------------------------------------------- commands
def _pick_measurement(items, path) -> tuple[Any, Any]:
    """(measurement item, background item or None) among what io.read returned."""
    main = next((i for i in items if i.kind in ("hologram", "rgb")), None)
    if main is None:
        kinds = ", ".join(sorted({i.kind for i in items}))
        raise InputError(f"{path} holds {kinds} data, not a measurement (a hologram or an RGB image)")
    bg = next((i for i in items if i.kind == "background"), None)
    return main, bg


def reconstruct_measurement(main, bg_item, method, params: dict, background_path=None, quiet: bool = False):
    """Run ``method`` on a read measurement item with a progress bar: the background is the
    --background file's, else the one that came with the measurement (NPZ/HDF5 pair)."""
    from . import io
    from .api import reconstruct

    background = None
    if background_path:
        background = _pick_background(io.read(background_path), background_path).data
    elif bg_item is not None and method.uses_background:
        background = bg_item.data
    bar = None if quiet else ProgressBar()
    try:
        return reconstruct(main.data, method, background=background, progress=bar, **params)
    finally:
        if bar is not None:
            bar.close()


def _pick_background(items, path):
    """A --background file: its background item, else its (first) hologram."""
    found = next((i for i in items if i.kind == "background"), None) or \
        next((i for i in items if i.kind == "hologram"), None)
    if found is None:
        raise InputError(f"{path} holds {', '.join(sorted({i.kind for i in items}))} data; "
                         "a background must be a sample-free hologram")
    return found


def _method_for(name: str, data=None):
    from .methods import get_method

    modality = None
    if data is not None:
        shape = getattr(data, "shape", ())
        modality = "rgb" if len(shape) in (3, 4) and shape[-1] == 3 else "hologram"
    return get_method(name, modality=modality)


def _reconstruct_parser(method, all_methods) -> argparse.ArgumentParser:
    names = ", ".join(sorted(all_methods))
    p = argparse.ArgumentParser(
        prog=f"{PROG} reconstruct",
        description="Reconstruct a phase map (radians) from an off-axis hologram or a chromatic RGB "
                    "brightfield image, and save it as a float32 TIFF with its pixel size and the full "
                    "record of how it was made. Stacks (N x H x W) are reconstructed frame by frame.",
        epilog=_EPILOG + f"\nmethods: {names}\n`{PROG} reconstruct --method NAME --help` lists NAME's options; "
                         f"`{PROG} methods` describes them all.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="measurement file (hologram or RGB image; see 'input files')")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="phase map to write: .tif/.tiff (float32, radians, with metadata), .npy or .npz")
    p.add_argument("-m", "--method", default="fourier", metavar="NAME",
                   help=f"reconstruction method: {names} (default: fourier)")
    p.add_argument("-b", "--background", metavar="FILE",
                   help="sample-free background hologram of the same size (hologram methods that use one); "
                        "an NPZ input's 'bg_data' is used automatically")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_safety_options(p)
    _add_memory_option(p)
    p.add_argument("--weights", metavar="FILE",
                   help="network methods: a .safetensors weight file (e.g. trained with `napari-diffpr train`) "
                        "for the U-Net / the DiffPR stage-1 network instead of the shipped or user-folder ones; "
                        "its architecture and input representation are checked before computing")
    p.add_argument("--prior-weights", metavar="FILE",
                   help="diffpr: a .safetensors weight file for the diffusion prior")
    if method is not None:
        add_method_options(p, method)
    return p


def cmd_reconstruct(argv: Sequence[str]) -> int:
    from . import io
    from .methods import methods

    all_methods = methods()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("input", nargs="?")
    pre.add_argument("-m", "--method", default="fourier")
    pre.add_argument("-h", "--help", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if known.help:
        method = _method_for(known.method) if known.method in all_methods else None
        _reconstruct_parser(method, all_methods).print_help()
        return 0
    # The input's shape decides between a method's hologram and RGB variants, whose options may
    # differ, so read it before building the full parser. The pre-parser can mistake an option's
    # value for INPUT (it does not know the method's options); the full parse settles it.
    items, method, args = None, None, None
    guess = known.input
    for _ in range(2):
        items = io.read(guess) if guess and Path(guess).is_file() else None
        main = _pick_measurement(items, guess)[0] if items else None
        method = _method_for(known.method, None if main is None else main.data)
        args = _reconstruct_parser(method, all_methods).parse_args(argv)
        if args.input == guess:
            break
        guess = args.input
    if args.memory_budget is not None:
        from . import memory

        memory.set_budget(args.memory_budget)
    # Everything about the output is checked before reading or computing anything large.
    check_outputs([args.output], (args.input, args.background), overwrite=args.overwrite)
    _use_weight_files(method, args)
    if items is None:
        items = io.read(args.input)  # raises a clear FileNotFoundError / InputError
    main, bg_item = _pick_measurement(items, args.input)
    frames = main.data.size // (3 if main.kind == "rgb" else 1)
    check_outputs([args.output], (args.input, args.background), overwrite=args.overwrite,
                  nbytes=4.0 * frames + 64 * 1024)
    given = _collect_params(args)
    params = {**physical_params_from_metadata(method, main.metadata, given), **given}

    result = reconstruct_measurement(main, bg_item, method, params, args.background, args.quiet)
    meta = {key: main.metadata.get(key) for key in ("pixel_size_um", "wavelength_um", "medium_index")
            if main.metadata.get(key) is not None}
    meta.update(input_file=str(args.input), name=Path(args.output).stem)
    if result.metadata.get("background_used"):
        meta["background_file"] = str(args.background or args.input)
    out = io.write(args.output, result, {**result.metadata, **meta}, kind="phase", overwrite=args.overwrite)
    ph = result.phase
    print(f"wrote {out}: phase {' x '.join(map(str, ph.shape))} float32, radians "
          f"(min {float(ph.min()):.3f}, max {float(ph.max()):.3f}); method {method.name}, "
          f"{result.metadata.get('seconds', float('nan')):.2f} s")
    return 0


def _sample_outputs(kind: str, out: Path) -> list[Path]:
    """The files `simulate -o OUT` writes: OUT.npz, or OUT.tif + OUT_background.tif (holograms)
    + OUT_phase.tif."""
    from . import io

    if out.suffix.lower() == ".npz":
        return [out]
    if out.suffix.lower() not in io.TIFF_SUFFIXES:
        raise InputError(f"simulate writes .npz (one file) or .tif (three files); got {out.name!r}")
    names = [out]
    if kind == "hologram":
        names.append(out.with_name(f"{out.stem}_background{out.suffix}"))
    names.append(out.with_name(f"{out.stem}_phase{out.suffix}"))
    return names


def _use_weight_files(method, args) -> None:
    """--weights / --prior-weights: check the files against the method's networks now."""
    if not (args.weights or args.prior_weights):
        return
    if not method.uses_torch:
        raise ParameterError(f"--weights and --prior-weights are for network methods; {method.name!r} has no network")
    from .models.weights import use_method_weights

    use_method_weights(method, args.weights, args.prior_weights)


def _write_sample(sample: dict, kind: str, out: Path, overwrite: bool = True) -> list[Path]:
    from . import io

    meta = dict(sample.get("meta") or {})
    meta.setdefault("simulated", True)
    data_kind = "rgb" if kind == "rgb" else "hologram"
    if out.suffix.lower() == ".npz":
        return [io.write_npz(out, sample["measurement"], background=sample.get("background"),
                             phase=sample["phase"], metadata=meta, kind=data_kind, overwrite=overwrite)]
    if out.suffix.lower() not in io.TIFF_SUFFIXES:
        raise InputError(f"simulate writes .npz (one file) or .tif (three files); got {out.name!r}")
    written = [io.write_tiff(out, sample["measurement"], meta, kind=data_kind, overwrite=overwrite)]
    if sample.get("background") is not None:
        written.append(io.write_tiff(out.with_name(f"{out.stem}_background{out.suffix}"),
                                     sample["background"], meta, kind="background", overwrite=overwrite))
    written.append(io.write_phase_tiff(out.with_name(f"{out.stem}_phase{out.suffix}"), sample["phase"],
                                       {**meta, "ground_truth": True}, overwrite=overwrite))
    return written


def _simulate(kind: str, size: int, seed: int) -> dict:
    try:
        from .optics.simulate import sample
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("napari_diffpr"):
            raise RetrievalError("the simulator (napari_diffpr.optics.simulate) is not available in this "
                                 "installation") from None
        raise
    return sample(kind, size, seed)


def cmd_simulate(args) -> int:
    out = Path(args.output)
    check_outputs(_sample_outputs(args.kind, out), overwrite=args.overwrite,
                  suffixes=(".npz", ".tif", ".tiff"), nbytes=20.0 * args.size ** 2)
    sample = _simulate(args.kind, args.size, args.seed)
    for path in _write_sample(sample, args.kind, out, overwrite=args.overwrite):
        print(f"wrote {path}")
    return 0


def cmd_demo(args) -> int:
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                         os.environ.get("WAYLAND_DISPLAY"))
    if not args.no_gui and headless:
        print("no display found: running the headless demo instead (napari needs a desktop session)",
              file=sys.stderr)
    if not args.no_gui and not headless:
        try:
            from ._napari.demo import run_demo

            run_demo(size=args.size)
        except ImportError as exc:  # napari without PyQt/PySide fails only when the window opens
            if "qt" in str(exc).lower() or "binding" in str(exc).lower():
                raise InputError(f"the napari window needs a Qt binding ({exc}); install one with "
                                 "pip install 'napari-diffpr[gui]', or run: napari-diffpr demo --no-gui") from None
            raise
        return 0
    from . import io
    from .api import reconstruct
    from .metrics import compare

    check_outputs([args.output], overwrite=args.overwrite, suffixes=io.TIFF_SUFFIXES, nbytes=4.0 * args.size ** 2)
    sample = _simulate("hologram", args.size, args.seed)
    meta = dict(sample.get("meta") or {})
    print(f"simulated a {args.size} x {args.size} off-axis hologram of a cell (seed {args.seed})")
    bar = None if args.quiet else ProgressBar()
    t0 = time.perf_counter()
    try:
        result = reconstruct(sample["measurement"], args.method, background=sample.get("background"),
                             progress=bar)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    scores = compare(result, sample["phase"])
    out = io.write_phase_tiff(args.output, result, {**{k: v for k, v in meta.items()
                                                       if k in ("pixel_size_um", "wavelength_um")},
                                                    "input_file": "simulated sample", "name": "demo phase"},
                             overwrite=args.overwrite)
    print(f"reconstructed with {args.method!r} in {seconds:.2f} s; against the ground truth: "
          + ", ".join(_format_scores(scores)))
    print(f"wrote {out} (float32 phase in radians; open it in napari or Fiji)")
    return 0


def _format_scores(scores: dict) -> list[str]:
    return [f"PSNR {scores['psnr']:.2f} dB", f"SSIM {scores['ssim']:.4f}", f"MAE {scores['mae']:.4f}",
            f"HF error {scores['hf_error']:.3f}"]


def cmd_methods(args) -> int:
    from .methods import methods

    found = methods(args.modality)
    if args.name:
        if args.name not in found:
            raise InputError(f"unknown method {args.name!r}; available: {', '.join(sorted(found)) or 'none'}")
        found = {args.name: found[args.name]}
    if args.json:
        print(json.dumps({n: {"modality": m.modality, "title": m.title, "description": m.description,
                              "uses_background": m.uses_background, "uses_torch": m.uses_torch,
                              "params": [p.as_dict() for p in m.params]} for n, m in found.items()},
                         indent=2, default=str))
        return 0
    if not found:
        print("no methods registered")
    for name, m in sorted(found.items()):
        print(f"{name}  [{m.modality}]  {m.title}")
        if m.description:
            print(f"    {m.description}")
        for p in m.params:
            print(f"    {_flag(p.name):<22} {p.kind:<6} {_describe(p).replace('%%', '%')}")
        print()
    return 0


def _phase_item(path):
    from . import io

    items = io.read(path)
    return next((i for i in items if i.kind == "phase"), items[0])


def cmd_compare(args) -> int:
    from .metrics import compare

    result, reference = _phase_item(args.result), _phase_item(args.reference)
    scores = compare(result.data, reference.data, data_range=args.data_range)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{result.name} vs {reference.name}: " + ", ".join(_format_scores(scores)))
        print("(both maps scaled by the reference's min..max to [0, 1]; MAE in those units)")
    return 0


def cmd_train(argv: Sequence[str]) -> int:
    try:
        from .training.cli import main as train_main
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("napari_diffpr"):
            raise RetrievalError("training is not available in this installation") from None
        raise
    return int(train_main(list(argv)) or 0)


# ------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Quantitative phase imaging from off-axis holograms and chromatic RGB brightfield "
                    "images: Fourier filtering, TIE and DiffPR (deep learning + diffusion).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("reconstruct", add_help=False,
                   help="reconstruct a phase map from a measurement file (see `reconstruct --help`)")

    sim = sub.add_parser("simulate", help="write a simulated measurement with its ground-truth phase",
                         description="Write a simulated measurement, its sample-free background (holograms) "
                                     "and the ground-truth phase (radians). .npz: one file with keys "
                                     "'data', 'bg_data', 'phase'; .tif: OUT.tif, OUT_background.tif, "
                                     "OUT_phase.tif.")
    sim.add_argument("--kind", choices=("hologram", "rgb"), default="hologram",
                     help="off-axis hologram or chromatic RGB brightfield image (default: hologram)")
    sim.add_argument("--size", type=_positive_size, default=256, help="image side in pixels, >= 32 (default 256)")
    sim.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same sample")
    sim.add_argument("-o", "--output", required=True, metavar="OUT", help="output .npz or .tif")
    _add_safety_options(sim)

    demo = sub.add_parser("demo", help="open napari with a simulated hologram and the docks "
                                       "(--no-gui: reconstruct it and write a TIFF)")
    demo.add_argument("--no-gui", action="store_true",
                      help="no window: simulate, reconstruct, score against the ground truth, write OUTPUT")
    demo.add_argument("-o", "--output", default="out.tif", help="phase map written by --no-gui (default out.tif)")
    demo.add_argument("-m", "--method", default="fourier", help="method used by --no-gui (default fourier)")
    demo.add_argument("--size", type=_positive_size, default=256, help="hologram side in pixels (default 256)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulated cell (default 0)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_safety_options(demo)

    meth = sub.add_parser("methods", help="list the reconstruction methods and their parameters")
    meth.add_argument("name", nargs="?", help="only this method")
    meth.add_argument("--modality", choices=("hologram", "rgb"), help="only methods for this input type")
    meth.add_argument("--json", action="store_true", help="machine-readable output")

    cmp_ = sub.add_parser("compare", help="PSNR / SSIM / MAE / high-frequency error of a phase map",
                          description="Score RESULT against REFERENCE (a ground truth). Both are scaled "
                                      "with the reference's min..max mapped to [0, 1] (DiffPR paper's "
                                      "convention). A file with a 'phase' entry (e.g. a simulated .npz) "
                                      "contributes that entry.")
    cmp_.add_argument("result", metavar="RESULT", help="phase map file (radians)")
    cmp_.add_argument("reference", metavar="REFERENCE", help="reference phase map file (radians)")
    cmp_.add_argument("--data-range", type=float, default=None, metavar="RAD",
                      help="phase span in radians mapped to 1 (default: the reference's max - min)")
    cmp_.add_argument("--json", action="store_true", help="print the numbers as JSON")

    sub.add_parser("train", add_help=False, help="train the networks on simulated data (see `train --help`)")
    sub.add_parser("measure", add_help=False,
                   help="one CSV row per cell: dry mass, area, ... of a phase map (see `measure --help`)")
    return parser


def _positive_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if value < 32:
        raise argparse.ArgumentTypeError(f"images must be at least 32 pixels across, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``napari-diffpr``; returns the exit status (0 ok, 1 failed, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "reconstruct":
            from . import batch  # issue 12: many inputs, folders, globs, OME-Zarr, Dask distributed

            if batch.wants_batch(argv[1:]):
                return batch.main(argv[1:])
            return cmd_reconstruct(argv[1:])
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        if argv and argv[0] == "measure":  # issue 11: per-cell table (cli_measure.py)
            from .cli_measure import cmd_measure
            return cmd_measure(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"simulate": cmd_simulate, "demo": cmd_demo, "methods": cmd_methods,
                "compare": cmd_compare}[args.command](args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), message already printed
        return exc.code if isinstance(exc.code, int) else 2
    except (InputError, ParameterError, OutputError, FileNotFoundError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except (DiffPRError, ResourceError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a file that cannot be read (permissions, I/O error)
        print(f"{PROG}: error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
