"""OME-Zarr in and out (issue 12), through ome-zarr-py (the OME reference implementation of the
NGFF spec, also behind napari-ome-zarr) and zarr.

Written images follow NGFF 0.4 on zarr format 2 (read by napari-ome-zarr, Fiji/MoBIE, iohub,
ome-zarr-py): one resolution level ``0``, axes ``[t][z]yx`` with names, types and units
(second, micrometer), and a ``scale`` transform carrying the time step and the pixel size
(µm). Chunks hold one frame each, and frames are written one by one: a frame's record is
written (atomically, as ``napari_diffpr_frames/<index>.json``) only after its pixels, so a
crash loses at most the frame in progress, and a re-run (:class:`FrameStore` with
``resume``) skips every frame that has a record. The run's record (method, parameters,
version, input) is in the group attributes under ``napari_diffpr``.

Reading (:func:`read`) accepts NGFF 0.4 and 0.5 images (zarr 2 or 3) and returns
:class:`napari_diffpr.io.Item` objects whose data is a lazy dask array (nothing is loaded
until a frame is used); ``metadata['scale']``, ``['axis_labels']`` and ``['units']`` give
napari the right scale.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, OutputError

RECORD_KEY = "napari_diffpr"
FRAMES_DIR = "napari_diffpr_frames"
SUFFIXES = (".zarr", ".ome.zarr")
_AXIS = {"t": ("time", "second"), "z": ("space", "micrometer"), "c": ("channel", None),
         "y": ("space", "micrometer"), "x": ("space", "micrometer")}
_UNIT_TO_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "meter": 1e6, "centimeter": 1e4}
_UNIT_TO_S = {"second": 1.0, "millisecond": 1e-3, "microsecond": 1e-6, "minute": 60.0, "hour": 3600.0}


def is_zarr_name(path) -> bool:
    return str(path).lower().rstrip("/").endswith(".zarr")


def _multiscales(attrs: dict) -> list | None:
    if "multiscales" in attrs:
        return attrs["multiscales"]
    ome = attrs.get("ome")
    if isinstance(ome, dict) and "multiscales" in ome:
        return ome["multiscales"]
    return None


def _group_attrs(p: Path) -> dict | None:
    """The group attributes of a zarr 2 (.zattrs) or zarr 3 (zarr.json) folder, read as JSON
    (cheap: no zarr import), or None."""
    try:
        if (p / ".zattrs").is_file():
            return json.loads((p / ".zattrs").read_text())
        if (p / "zarr.json").is_file():
            meta = json.loads((p / "zarr.json").read_text())
            return meta.get("attributes", {}) if meta.get("node_type") == "group" else None
    except (OSError, ValueError):
        return None
    return None


def is_ome_zarr(path) -> bool:
    """True for a folder that is an OME-Zarr image (has ``multiscales`` metadata)."""
    p = Path(path)
    if not p.is_dir():
        return False
    attrs = _group_attrs(p)
    return bool(attrs) and _multiscales(attrs) is not None


# --------------------------------------------------------------------------------- axes
def leading_axes(n_lead: int, axes_hint: str | None = None) -> list[str]:
    """NGFF axis names for ``n_lead`` leading axes: from the input's axes string ('TZYX',
    'ZYX'...) when it says, else t for one and t, z for two. NGFF 0.4 allows at most a time
    and a z axis before y and x."""
    hint = (axes_hint or "").lower()
    names = [a for a in hint[:n_lead]] if len(hint) >= n_lead + 2 else []
    if len(names) != n_lead or any(a not in "tz" for a in names) or len(set(names)) != n_lead:
        names = ["t", "z"][:n_lead] if n_lead <= 2 else []
    if n_lead > 2 or not names and n_lead:
        raise InputError(f"OME-Zarr (NGFF 0.4) holds at most a time and a z axis before Y and X; this image has "
                         f"{n_lead} leading axes. Write it as TIFF or NPY instead")
    return names


def _axes_and_scale(names: list[str], meta: dict) -> tuple[list[dict], list[float]]:
    axes, scale = [], []
    px = meta.get("pixel_size_um")
    for n in names + ["y", "x"]:
        kind, unit = _AXIS[n]
        entry = {"name": n, "type": kind}
        value = 1.0
        if n == "t":
            dt = meta.get("time_step_s")
            if dt:
                value = float(dt)
                entry["unit"] = unit
        elif n == "z":
            dz = meta.get("z_step_um")
            if dz:
                value = float(dz)
                entry["unit"] = unit
        elif n in "yx" and px:
            value = float(px)
            entry["unit"] = unit
        axes.append(entry)
        scale.append(value)
    return axes, scale


# ------------------------------------------------------------------------------ writing
def run_key(record: dict) -> str:
    """A short hash of what decides the pixels of a run (method, parameters, input shape and
    name), to refuse resuming a store written by a different run."""
    from .io import jsonable

    keys = {k: record.get(k) for k in ("method", "parameters", "input_shape", "input_file", "background_file")}
    return hashlib.sha256(json.dumps(jsonable(keys), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _frame_name(index: tuple) -> str:
    return "_".join(str(int(i)) for i in index) or "0"


class FrameStore:
    """An OME-Zarr phase image written frame by frame, resumable.

    ``FrameStore.create(path, lead_shape, frame_shape, record)`` makes a new store, or - with
    ``resume=True`` and an existing store of the same shape and run - opens it to continue;
    :meth:`done` lists the frames already written; :meth:`write_frame` writes one frame and
    then its record; :meth:`finish` marks the store complete. ``FrameStore(path)`` reopens
    a store (e.g. in a dask worker) to write frames into it."""

    def __init__(self, path):
        import zarr

        self.path = Path(path)
        self.group = zarr.open_group(str(self.path), mode="r+")
        self.array = self.group["0"]
        rec = dict(self.group.attrs.get(RECORD_KEY, {}))
        self.lead_shape = tuple(rec.get("leading_shape", self.array.shape[:-2]))

    @classmethod
    def create(cls, path, lead_shape: tuple, frame_shape: tuple, record: dict, *, axes_hint: str | None = None,
               overwrite: bool = False, resume: bool = True, kind: str = "phase",
               dtype: str = "float32") -> "FrameStore":
        import zarr
        from ome_zarr.format import FormatV04
        from ome_zarr.writer import write_multiscales_metadata

        from .io import jsonable

        p = Path(path)
        lead_shape, frame_shape = tuple(int(n) for n in lead_shape), tuple(int(n) for n in frame_shape)
        key = run_key(record)
        if p.exists() or p.is_symlink():
            ours = is_ome_zarr(p) and RECORD_KEY in (_group_attrs(p) or {})
            if overwrite:
                if not ours and any(p.iterdir() if p.is_dir() else [p]):
                    raise OutputError(f"{p} exists and is not an OME-Zarr written by napari-diffpr; it is not "
                                      "deleted even with --overwrite: choose another name")
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            elif resume and ours:
                store = cls(p)
                old = store.group.attrs[RECORD_KEY]
                if old.get("run_key") != key or tuple(store.array.shape) != lead_shape + frame_shape:
                    raise OutputError(f"{p} holds a different reconstruction (another method, parameters or input); "
                                      "choose another output or allow overwriting it (--overwrite)")
                return store
            else:
                raise OutputError(f"{p} already exists; choose another name or allow overwriting it "
                                  "(--overwrite on the command line)")
        names = leading_axes(len(lead_shape), axes_hint or record.get("axes"))
        axes, scale = _axes_and_scale(names, record)
        p.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(p), mode="w-", zarr_format=2)
        group.create_array("0", shape=lead_shape + frame_shape, chunks=(1,) * len(lead_shape) + frame_shape,
                           dtype=dtype, fill_value=float("nan") if np.dtype(dtype).kind == "f" else 0)
        write_multiscales_metadata(
            group, [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
            fmt=FormatV04(), axes=axes, name=str(record.get("name") or p.name.split(".")[0]))
        group.attrs[RECORD_KEY] = {"kind": kind, "complete": False, "run_key": key,
                                   **({"phase_unit": "rad"} if kind == "phase" else {}),
                                   "leading_shape": list(lead_shape), "metadata": jsonable(dict(record))}
        (p / FRAMES_DIR).mkdir()
        return cls(p)

    def done(self) -> set[tuple]:
        """Indices (tuples over the leading axes) of the frames already written."""
        folder = self.path / FRAMES_DIR
        out = set()
        for f in folder.glob("*.json") if folder.is_dir() else ():
            try:
                out.add(tuple(int(i) for i in f.stem.split("_")) if self.lead_shape else ())
            except ValueError:
                continue
        return out

    def write_frame(self, index: tuple, phase: np.ndarray, record: dict | None = None) -> None:
        """Write one frame's pixels, then (atomically) its record: the frame counts as done
        only once both are on disk."""
        from .io import _atomic_write, jsonable

        index = tuple(int(i) for i in index)
        self.array[index] = np.asarray(phase, dtype=self.array.dtype)
        text = json.dumps(jsonable(dict(record or {})), default=str).encode()
        _atomic_write(self.path / FRAMES_DIR / f"{_frame_name(index)}.json", lambda fh: fh.write(text))

    def finish(self, record: dict | None = None) -> None:
        """Mark the store complete (every frame written), adding ``record`` to the run's record."""
        from .io import jsonable

        rec = dict(self.group.attrs[RECORD_KEY])
        if record:
            rec["metadata"] = {**rec.get("metadata", {}), **jsonable(dict(record))}
        rec["complete"] = len(self.done()) == int(np.prod(self.lead_shape, dtype=int))
        self.group.attrs[RECORD_KEY] = rec

    def frame_records(self) -> dict[tuple, dict]:
        out = {}
        for index in sorted(self.done()):
            try:
                out[index] = json.loads((self.path / FRAMES_DIR / f"{_frame_name(index)}.json").read_text())
            except (OSError, ValueError):
                continue
        return out


def write(path, data, metadata: dict | None = None, *, overwrite: bool = False, axes_hint: str | None = None,
          kind: str = "phase") -> Path:
    """Write a phase map (H x W, T x H x W, T x Z x H x W; a Result or an array) as OME-Zarr,
    one chunk per frame (float32). A Result's per-frame records go with their frames.
    ``kind="hologram"`` writes a measurement (its dtype kept) for the batch runner to read."""
    meta: dict[str, Any] = {}
    frames_meta = None
    if hasattr(data, "phase"):
        meta.update(getattr(data, "metadata", {}) or {})
        frames_meta = meta.pop("frames", None)
        data = data.phase
    meta.update(metadata or {})
    frames_meta = meta.pop("frames", None) or frames_meta  # per-frame records go with their frames
    arr = np.asarray(data)
    if arr.ndim < 2 or arr.dtype.kind not in "fiu":
        raise InputError(f"a phase map must be a real H x W (or T x H x W ...) array; got {arr.dtype} {arr.shape}")
    lead = arr.shape[:-2]
    dtype = "float32" if kind == "phase" or arr.dtype.kind == "f" else str(arr.dtype)
    store = FrameStore.create(path, lead, arr.shape[-2:], meta, axes_hint=axes_hint or meta.get("axes"),
                              overwrite=overwrite, resume=False, kind=kind, dtype=dtype)
    for n, index in enumerate(np.ndindex(*lead)):
        rec = frames_meta[n] if frames_meta and n < len(frames_meta) else {}
        store.write_frame(index, arr[index], rec)
    store.finish()
    return store.path


# ------------------------------------------------------------------------------ reading
def _unit_factor(unit, table) -> float | None:
    if unit is None:
        return None
    return table.get(str(unit).lower())


def read(path) -> list:
    """OME-Zarr image -> [io.Item] with a lazy dask array (NGFF 0.4/0.5, first resolution
    level). Axes are reordered to napari-diffpr's layout: leading (t, z) axes first, then Y, X,
    then RGB channels last when a 3-channel c axis is present (an RGB measurement)."""
    import dask.array as da
    import zarr

    from .io import Item

    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"no such OME-Zarr folder: {p}")
    attrs = _group_attrs(p)
    ms = _multiscales(attrs or {})
    if not ms:
        raise InputError(f"{p.name} is not an OME-Zarr image (no 'multiscales' metadata)")
    m0 = ms[0]
    axes = m0.get("axes") or [{"name": n} for n in "tczyx"[-len(m0["datasets"][0].get("shape", [])) or 5:]]
    axes = [a if isinstance(a, dict) else {"name": a} for a in axes]
    ds = m0["datasets"][0]
    try:
        arr = zarr.open_array(str(p / ds["path"]), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several types for damaged stores
        raise InputError(f"cannot open the image data {ds['path']!r} of {p.name}: {exc}") from None
    if arr.ndim != len(axes):
        raise InputError(f"{p.name}: the image has {arr.ndim} dimensions but {len(axes)} axes are described")
    scale = [1.0] * arr.ndim
    for t in ds.get("coordinateTransformations", []) + m0.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [a * float(b) for a, b in zip(scale, t["scale"])]
    names = [str(a.get("name", "?")).lower() for a in axes]
    data = da.from_zarr(arr)
    rec = (attrs or {}).get(RECORD_KEY, {})
    kind = rec.get("kind")
    # channel axis: RGB (3 channels) goes last; a single channel is dropped
    if "c" in names:
        ci = names.index("c")
        if data.shape[ci] == 1:
            data = data[(slice(None),) * ci + (0,)]
            del names[ci], scale[ci], axes[ci]
        elif data.shape[ci] == 3:
            data = da.moveaxis(data, ci, -1)
            names.append(names.pop(ci))
            scale.append(scale.pop(ci))
            axes.append(axes.pop(ci))
            kind = kind or "rgb"
        else:
            raise InputError(f"{p.name} has {data.shape[ci]} channels; napari-diffpr reads grey holograms "
                             "(1 channel) or RGB images (3 channels)")
    meta: dict[str, Any] = dict(rec.get("metadata", {}))
    spatial = [i for i, n in enumerate(names) if n in ("y", "x")]
    if len(spatial) != 2:
        raise InputError(f"{p.name} has axes {names}; Y and X are needed")
    px = _unit_factor(axes[spatial[-1]].get("unit"), _UNIT_TO_UM)
    meta["pixel_size_um"] = scale[spatial[-1]] * px if px else meta.get("pixel_size_um")
    if "t" in names:
        f = _unit_factor(axes[names.index("t")].get("unit"), _UNIT_TO_S)
        if f:
            meta["time_step_s"] = scale[names.index("t")] * f
    meta.update(source=str(p), format="ome-zarr", axes="".join(n.upper() for n in names),
                ngff_version=m0.get("version") or (attrs.get("ome", {}) or {}).get("version"),
                scale=[float(s) for s in (scale[:-1] if kind == "rgb" else scale)],
                axis_labels=[n for n in (names[:-1] if kind == "rgb" else names)],
                units=[a.get("unit") for a in (axes[:-1] if kind == "rgb" else axes)],
                lazy=True)
    meta.setdefault("wavelength_um", None)
    meta.setdefault("medium_index", None)
    if rec:
        meta["complete"] = rec.get("complete")
    if kind is None:
        kind = "hologram"
    name = m0.get("name") or p.name.split(".")[0]
    return [Item(data=data, name=str(name), kind=kind, metadata=meta)]

