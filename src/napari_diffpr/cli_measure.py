"""``napari-diffpr measure``: one CSV row per cell (dry mass, area, ...) of a phase map, or of a raw
hologram reconstructed on the way (``--method``). A thin shell over ``napari_diffpr.measure``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from .errors import InputError

PROG = "napari-diffpr measure"
_OWN = {"wavelength": "vacuum wavelength in µm", "pixel_size": "pixel size in the sample plane, µm",
        "medium_index": "refractive index of the medium (default 1.333)"}

_EPILOG = """\
columns: frame, label, track_id, centroid_y_um, centroid_x_um, area_um2, mean_phase_rad,
  max_phase_rad, integrated_opd_um3, dry_mass_pg, mean_thickness_um (with --cell-index),
  touches_edge. Dry mass m = λ/(2π α) Σφ Δx² (Barer 1952; Popescu 2008), see docs/measure.md.
examples:
  napari-diffpr reconstruct cell.npz -o cell_phase.tif --wavelength 0.532 --pixel-size 0.1
  napari-diffpr measure cell_phase.tif -o cells.csv
  napari-diffpr measure cell.npz --method fourier --refocus auto -o cells.csv --labels-out cells_labels.tif
  napari-diffpr measure stack_phase.tif --labels corrected_labels.tif -o cells.csv
"""


def _parser(method=None) -> argparse.ArgumentParser:
    from .cli import _add_safety_options, add_method_options

    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Measure every cell of a phase map (radians; H x W or a time-lapse N x H x W): "
                    "segment it (or use --labels), and write one CSV row per cell and frame with "
                    "physical units. With --method, INPUT is a raw measurement that is reconstructed first.")
    p.add_argument("input", metavar="INPUT", help="phase map (result TIFF/NPY/NPZ), or a hologram with --method")
    p.add_argument("-o", "--output", required=True, metavar="CSV", help="table to write (.csv)")
    p.add_argument("--labels", metavar="FILE", help="label image (TIFF/NPY/NPZ, 0 = background) instead of "
                                                   "the automatic segmentation")
    p.add_argument("--labels-out", metavar="FILE", help="also write the labels used (.tif, int32)")
    p.add_argument("-m", "--method", metavar="NAME", help="reconstruct INPUT with this method first (e.g. fourier)")
    p.add_argument("-b", "--background", metavar="FILE", help="sample-free hologram (with --method)")
    p.add_argument("--alpha", type=float, default=0.18, metavar="ML_PER_G",
                   help="specific refraction increment α in mL/g (default 0.18)")
    p.add_argument("--cell-index", type=float, default=None, metavar="N",
                   help="refractive index of the cells, for the mean thickness column")
    p.add_argument("--no-track", action="store_true", help="time-lapse: do not link cells across frames")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_safety_options(p)
    have = set()
    if method is not None:
        add_method_options(p, method)
        have = {q.name for q in method.params}
    for name, text in _OWN.items():
        if name not in have:
            p.add_argument("--" + name.replace("_", "-"), dest=f"param__{name}", type=float,
                           default=argparse.SUPPRESS, metavar=name.upper(), help=text)
    return p


def cmd_measure(argv: Sequence[str]) -> int:
    import numpy as np

    from . import io
    from .cli import (_collect_params, _method_for, _pick_measurement, check_outputs,
                      physical_params_from_metadata, reconstruct_measurement)
    from .measure import measure

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-m", "--method")
    pre.add_argument("-h", "--help", action="store_true")
    known, _ = pre.parse_known_args(argv)
    method = _method_for(known.method) if known.method else None
    if known.help:
        _parser(method).print_help()
        return 0
    args = _parser(method).parse_args(argv)
    if Path(args.output).suffix.lower() != ".csv":
        raise InputError(f"the table is written as CSV: give an output ending in .csv, not {args.output}")
    outputs = [args.output] + ([args.labels_out] if args.labels_out else [])
    check_outputs(outputs, (args.input, args.labels, args.background), overwrite=args.overwrite,
                  suffixes=(".csv", ".tif", ".tiff"))
    given = _collect_params(args)
    items = io.read(args.input)
    record: dict = {}
    if method is not None:
        main, bg_item = _pick_measurement(items, args.input)
        method = _method_for(args.method, main.data)
        params = {**physical_params_from_metadata(method, main.metadata, given), **given}
        result = reconstruct_measurement(main, bg_item, method, params, args.background, args.quiet)
        phase = result.phase
        record = {**main.metadata, **result.metadata}
    else:
        item = next((i for i in items if i.kind == "phase"), None)
        if item is None:
            kinds = ", ".join(sorted({i.kind for i in items}))
            raise InputError(f"{args.input} holds {kinds} data, not a phase map; to measure a raw "
                             "measurement, reconstruct it on the way with --method (e.g. --method fourier)")
        phase, record = item.data, dict(item.metadata)
        if item.name:
            record.setdefault("measured_item", item.name)
    labels = None
    if args.labels:
        found = io.read(args.labels)
        labels = np.asarray(found[0].data)
    table, used = measure(phase, labels, wavelength_um=given.get("wavelength"),
                          pixel_size_um=given.get("pixel_size"), medium_index=given.get("medium_index"),
                          refractive_increment_ml_per_g=args.alpha, cell_index=args.cell_index,
                          track=not args.no_track, return_labels=True, metadata=record)
    table.to_csv(args.output, index=False)
    if args.labels_out:
        import tifffile

        tifffile.imwrite(args.labels_out, np.asarray(used, dtype=np.int32))
    a = table.attrs
    what = f"{method.name} reconstruction" if method is not None else f"phase map {record.get('measured_item', '')}".strip()
    print(f"wrote {args.output}: {len(table)} cell(s) of the {what}"
          + (f" in {table['frame'].nunique()} frames" if np.ndim(phase) == 3 else "")
          + f"; total dry mass {table['dry_mass_pg'].sum():.4g} pg (λ {a['wavelength_um']} µm, pixel "
            f"{a['pixel_size_um']} µm, α {a['refractive_increment_ml_per_g']} mL/g)")
    return 0
