"""Reading measurements and writing phase maps, with their physical metadata.

Formats read by :func:`read` (each returns a list of :class:`Item`):

- TIFF / OME-TIFF (tifffile): pixel size from OME ``PhysicalSizeX``, ImageJ ``unit`` with the
  resolution tags, or plain resolution tags (inch / cm). Files written by this module also give
  back their kind and full metadata record (JSON).
- NPY: one array. NPZ: key ``data`` (the measurement), optional ``bg_data`` (a sample-free
  background hologram) and ``phase`` (a ground-truth phase, radians); a file with a single array
  under any key also works.
- HDF5 in qpformat's raw off-axis-hologram layout (root attributes ``file_format="qpformat"``,
  ``imaging_modality="off-axis holography"``; datasets ``"0"``, ``"1"``, ... with attributes
  ``"pixel size"`` and ``"wavelength"`` in metres, ``"medium index"``). Needs h5py.

Units in metadata: ``pixel_size_um`` and ``wavelength_um`` in micrometres, ``medium_index``
dimensionless; phase data in radians. This module imports neither torch nor napari.
"""
from __future__ import annotations

import json
import math
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import InputError

KINDS = ("hologram", "background", "rgb", "phase")
TIFF_SUFFIXES = (".tif", ".tiff")
SUPPORTED_SUFFIXES = (".tif", ".tiff", ".npy", ".npz", ".h5", ".hdf5")

# Marker key of the JSON record this module writes into TIFFs and NPZs.
_RECORD_KEY = "napari_diffpr"
_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "cm": 1e4, "um": 1.0, "µm": 1.0, "\u00b5m": 1.0, "micron": 1.0,
                 "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0, "nm": 1e-3, "pm": 1e-6, "å": 1e-4,
                 "angstrom": 1e-4, "inch": 25400.0, "in": 25400.0}
_MAX_JSON_ARRAY = 64  # larger arrays in a metadata record are summarised, not stored


@dataclass
class Item:
    """One image read from a file.

    data: the array as stored (hologram/background: H x W or N x H x W; rgb: H x W x 3 or
        N x H x W x 3; phase: radians).
    name: a layer name (file stem, plus " background" / " ground truth" for companions).
    kind: "hologram", "background", "rgb" or "phase".
    metadata: always has ``pixel_size_um``, ``wavelength_um``, ``medium_index`` (None when the
        file does not say), ``source`` (the path), ``format`` and ``axes``; files written by
        napari-diffpr add their full record (method, parameters, timings, version...).
    """

    data: np.ndarray
    name: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Item({self.name!r}, kind={self.kind!r}, shape={self.data.shape}, dtype={self.data.dtype})"


def supported(path) -> bool:
    """True when :func:`read` knows the file's suffix (content is checked only by reading)."""
    return _suffix(Path(path)) in SUPPORTED_SUFFIXES


def read(path) -> list[Item]:
    """Read a measurement or a phase map; see the module docstring for formats. Raises
    FileNotFoundError for a missing file and InputError for unsupported, corrupt or
    incomplete files (the message names the file and what was expected)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    suffix = _suffix(p)
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(p)
    if suffix == ".npy":
        return _read_npy(p)
    if suffix == ".npz":
        return _read_npz(p)
    if suffix in (".h5", ".hdf5"):
        return _read_hdf5(p)
    raise InputError(f"cannot read {p.name}: unsupported file type {suffix or '(no suffix)'!r}; "
                     f"supported: {', '.join(SUPPORTED_SUFFIXES)}")


def _suffix(p: Path) -> str:
    return p.suffix.lower()


def _stem(p: Path) -> str:
    name = p.name
    for end in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(end):
            return name[: -len(end)]
    return p.stem


def _base_metadata(p: Path, fmt: str, axes: str) -> dict[str, Any]:
    return {"pixel_size_um": None, "wavelength_um": None, "medium_index": None,
            "source": str(p), "format": fmt, "axes": axes}


def _guess_kind(data: np.ndarray) -> str:
    # RGBA counts as rgb so that validation can say "drop the alpha channel" instead of treating
    # it as a stack of H images 4 pixels wide.
    return "rgb" if data.ndim in (3, 4) and data.shape[-1] in (3, 4) else "hologram"


def _default_axes(data: np.ndarray, kind: str) -> str:
    if kind == "rgb":
        return "YXC" if data.ndim == 3 else "TYXC"
    return {2: "YX", 3: "TYX"}.get(data.ndim, "?" * data.ndim)


# --------------------------------------------------------------------------------------- TIFF
def _read_tiff(p: Path) -> list[Item]:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            data = series.asarray()
            axes = series.axes
            page = tif.pages[0]
            ij = tif.imagej_metadata or {}
            ome = tif.ome_metadata if tif.is_ome else None
            description = page.description or ""
            tags = {t.name: t.value for t in page.tags.values()
                    if t.name in ("XResolution", "ResolutionUnit")}
    except (tifffile.TiffFileError, ValueError, OSError, struct.error) as exc:
        raise InputError(f"cannot read {p.name} as TIFF: the file is damaged or not a TIFF ({exc})") from None

    record = _record_from_tiff(ij, description)
    data, axes = _channels_last(data, axes)
    kind = record.get("kind") if record.get("kind") in KINDS else _guess_kind(data)
    meta = _base_metadata(p, "ome-tiff" if ome else "tiff", axes)
    meta.update(record.get("metadata", {}))
    meta["source"], meta["format"], meta["axes"] = str(p), "ome-tiff" if ome else "tiff", axes
    if meta.get("pixel_size_um") is None:  # our own record keeps the exact value; tags are rationals
        pixel = _ome_pixel_size_um(ome) if ome else None
        meta["pixel_size_um"] = pixel if pixel is not None else _resolution_pixel_size_um(tags, ij)
    name = record.get("name") or _stem(p)
    return [Item(data=data, name=name, kind=kind, metadata=meta)]


def _channels_last(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """RGB as samples ('S') or as a 3-channel 'C' axis of a 2-D image -> H x W x 3."""
    axes = axes.upper()
    if "C" in axes and "S" not in axes and data.shape[axes.index("C")] == 3 and data.ndim in (3, 4):
        c = axes.index("C")
        data = np.moveaxis(data, c, -1)
        axes = axes.replace("C", "") + "C"
    return data, axes.replace("S", "C")


def _record_from_tiff(ij: dict, description: str) -> dict:
    for text in (ij.get("Info"), description):
        if not text or _RECORD_KEY not in text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict) and _RECORD_KEY in record:
            return record
    return {}


def _unit_to_um(unit) -> float | None:
    if unit is None:
        return None
    key = str(unit).strip().lower().replace("\\u00b5", "µ")
    return _LENGTH_TO_UM.get(key)


def _ome_pixel_size_um(ome_xml: str) -> float | None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(ome_xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels" and "PhysicalSizeX" in el.attrib:
            factor = _unit_to_um(el.attrib.get("PhysicalSizeXUnit", "µm"))
            if factor is None:
                return None
            return float(el.attrib["PhysicalSizeX"]) * factor
    return None


def _resolution_pixel_size_um(tags: dict, ij: dict) -> float | None:
    res = tags.get("XResolution")
    if not res:
        return None
    num, den = res if isinstance(res, tuple) else (res, 1)
    if not num or not den:
        return None
    pixels_per_unit = num / den
    unit_code = int(tags.get("ResolutionUnit", 1))
    if ij.get("unit"):
        factor = _unit_to_um(ij["unit"])  # ImageJ writes ResolutionUnit NONE and its unit here
    else:
        factor = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}.get(unit_code)
    if factor is None or pixels_per_unit <= 0:
        return None
    size = factor / pixels_per_unit
    # A 1 pixel/unit "resolution" is most writers' placeholder for "unknown", not a real size.
    return None if pixels_per_unit == 1 and not ij.get("unit") else size


def write_phase_tiff(path, phase, metadata: dict | None = None) -> Path:
    """Write a phase map (radians) as a float32 TIFF that ImageJ/Fiji and napari read with its
    scale: ImageJ hyperstack (H x W, or N x H x W as 'TYX'), pixel size from
    ``metadata["pixel_size_um"]`` (or the reconstruction parameter ``pixel_size``, µm) in the
    resolution tags with unit 'um', and the whole metadata record as JSON in the ImageJ 'Info'
    property (Fiji: Image > Show Info). ``phase`` may be a Result (its metadata is used, updated
    by ``metadata``). :func:`read` gives back kind "phase" and the record. Returns the path."""
    meta = {}
    if hasattr(phase, "phase"):
        meta.update(getattr(phase, "metadata", {}) or {})
        phase = phase.phase
    meta.update(metadata or {})
    arr = np.asarray(phase)
    if arr.ndim not in (2, 3) or arr.dtype.kind not in "fiu":
        raise InputError(f"a phase map must be a numeric H x W or N x H x W array; got {arr.dtype} {arr.shape}")
    return _write_tiff(Path(path), arr.astype(np.float32, copy=False), meta, "phase")


def write_tiff(path, data, metadata: dict | None = None, *, kind: str = "hologram") -> Path:
    """Write a measurement (hologram / background: 2-D or a stack; rgb: H x W x 3) or a phase map
    as TIFF with the same metadata record as :func:`write_phase_tiff`. Integer data keep their
    type; float data are written as float32. Returns the path."""
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub":
        raise InputError(f"cannot write {arr.dtype} data to TIFF; expected a numeric array")
    if arr.dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.float32)  # camera counts stay integers; everything else float32
    return _write_tiff(Path(path), arr, dict(metadata or {}), kind)


def _pixel_size_from(meta: dict) -> float | None:
    value = meta.get("pixel_size_um")
    if value is None:
        value = (meta.get("parameters") or {}).get("pixel_size")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _write_tiff(p: Path, arr: np.ndarray, meta: dict, kind: str) -> Path:
    import tifffile

    if _suffix(p) not in TIFF_SUFFIXES:
        raise InputError(f"TIFF output needs a .tif or .tiff name; got {p.name!r}")
    pixel = _pixel_size_from(meta)
    if pixel is not None:
        meta["pixel_size_um"] = pixel
    record = {_RECORD_KEY: __version__, "kind": kind, "name": meta.pop("name", None) or _stem(p),
              "metadata": jsonable(meta)}
    text = json.dumps(record)
    p.parent.mkdir(parents=True, exist_ok=True)
    is_rgb = kind == "rgb" or (arr.ndim in (3, 4) and arr.shape[-1] == 3 and kind != "phase")
    if is_rgb:
        # ImageJ cannot hold float RGB; a plain TIFF with the record as its description, and the
        # pixel size as standard centimetre resolution tags, reads back everywhere.
        kwargs: dict[str, Any] = {"description": text, "metadata": None, "photometric": "rgb"}
        if pixel is not None:
            kwargs.update(resolution=(1e4 / pixel, 1e4 / pixel), resolutionunit="CENTIMETER")
        tifffile.imwrite(p, arr, **kwargs)
        return p
    ij_meta: dict[str, Any] = {"axes": "YX" if arr.ndim == 2 else "TYX", "Info": text}
    kwargs = {"imagej": True, "metadata": ij_meta}
    if pixel is not None:
        ij_meta["unit"] = "um"
        kwargs["resolution"] = (1.0 / pixel, 1.0 / pixel)
    tifffile.imwrite(p, arr, **kwargs)
    return p


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars -> numbers, tuples -> lists, Paths -> text,
    small arrays -> lists, large arrays -> a short description (records stay small)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size <= _MAX_JSON_ARRAY:
            return jsonable(value.tolist())
        return f"<array {value.dtype} {tuple(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


# ------------------------------------------------------------------------------- NPY / NPZ
def _read_npy(p: Path) -> list[Item]:
    try:
        data = np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"cannot read {p.name} as NPY: the file is damaged, holds Python objects "
                         f"(not allowed for safety) or is not an NPY file ({exc})") from None
    except OSError as exc:
        raise InputError(f"cannot read {p.name} as NPY: {exc}") from None
    _check_numeric(data, p.name)
    kind = _guess_kind(data)
    return [Item(data=data, name=_stem(p), kind=kind, metadata=_base_metadata(p, "npy", _default_axes(data, kind)))]


def _check_numeric(data: np.ndarray, what: str) -> None:
    if data.dtype.kind not in "fiub" or data.ndim < 2:
        raise InputError(f"{what} holds {data.dtype} data of shape {data.shape}; expected a numeric image "
                         "(H x W, N x H x W or H x W x 3)")


def _read_npz(p: Path) -> list[Item]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"cannot read {p.name} as NPZ: the file is damaged, holds Python objects "
                         f"(not allowed for safety) or is not an NPZ archive ({exc})") from None
    record: dict = {}
    if "metadata_json" in arrays:
        try:
            record = json.loads(str(arrays.pop("metadata_json")))
        except ValueError:
            record = {}
    images = {k: v for k, v in arrays.items() if v.ndim >= 2}
    if "data" in images:
        main_key = "data"
    elif len(images) == 1:
        main_key = next(iter(images))
    else:
        raise InputError(f"{p.name} has arrays {sorted(arrays) or 'none'}; expected a key 'data' (the measurement), "
                         "optionally with 'bg_data' (background hologram) and 'phase' (ground truth, rad)")
    stem = _stem(p)
    extra = record.get("metadata", {}) if isinstance(record, dict) else {}
    main_kind = record.get("kind") if record.get("kind") in ("hologram", "rgb") else None
    parts = [(main_key, main_kind, stem)]
    if main_key == "data":
        parts += [("bg_data", "background", f"{stem} background"), ("phase", "phase", f"{stem} ground truth")]
    items = []
    for key, kind, name in parts:
        if key not in images:
            continue
        data = images[key]
        _check_numeric(data, f"{p.name}['{key}']")
        kind = kind or _guess_kind(data)
        meta = _base_metadata(p, "npz", _default_axes(data, kind))
        meta.update(extra)
        meta["npz_key"] = key
        items.append(Item(data=data, name=name, kind=kind, metadata=meta))
    return items


def write_npz(path, data, *, background=None, phase=None, metadata: dict | None = None,
              kind: str | None = None) -> Path:
    """Write a measurement (key ``data``), its background hologram (``bg_data``) and a
    ground-truth phase in radians (``phase``) into one NPZ, with the metadata record as JSON
    (key ``metadata_json``, a plain string, so no pickle is needed to read it)."""
    p = Path(path)
    if _suffix(p) != ".npz":
        raise InputError(f"NPZ output needs a .npz name; got {p.name!r}")
    arrays = {"data": np.asarray(data)}
    if background is not None:
        arrays["bg_data"] = np.asarray(background)
    if phase is not None:
        arrays["phase"] = np.asarray(phase, dtype=np.float32)
    record = {_RECORD_KEY: __version__, "kind": kind or _guess_kind(arrays["data"]),
              "metadata": jsonable(dict(metadata or {}))}
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(p, metadata_json=np.array(json.dumps(record)), **arrays)
    return p


def write(path, data, metadata: dict | None = None, *, kind: str = "phase") -> Path:
    """Write ``data`` by file suffix: .tif/.tiff via :func:`write_tiff` (phase maps as float32),
    .npz via :func:`write_npz`, .npy as a bare array (no metadata). ``data`` may be a Result."""
    p = Path(path)
    if hasattr(data, "phase"):
        metadata = {**(getattr(data, "metadata", {}) or {}), **(metadata or {})}
        data = data.phase
    suffix = _suffix(p)
    if suffix in TIFF_SUFFIXES:
        if kind == "phase":
            return write_phase_tiff(p, data, metadata)
        return write_tiff(p, data, metadata, kind=kind)
    if suffix == ".npz":
        return write_npz(p, data, metadata=metadata, kind=kind)
    if suffix == ".npy":
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, np.asarray(data))
        return p
    raise InputError(f"cannot write {p.name}: unsupported file type {suffix or '(no suffix)'!r}; "
                     "use .tif, .tiff, .npz or .npy")


# ------------------------------------------------------------------------------------ HDF5
def _read_hdf5(p: Path) -> list[Item]:
    try:
        import h5py
    except ImportError:
        raise InputError(f"reading {p.name} needs the optional package h5py: pip install h5py") from None
    try:
        h5 = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"cannot read {p.name} as HDF5: the file is damaged or not HDF5 ({exc})") from None
    with h5:
        fmt = _text(h5.attrs.get("file_format", ""))
        modality = _text(h5.attrs.get("imaging_modality", ""))
        keys = sorted((k for k in h5.keys() if k.isdigit()), key=int)
        if fmt != "qpformat" or modality != "off-axis holography" or not keys or keys[0] != "0":
            raise InputError(
                f"{p.name} is not in qpformat's raw off-axis hologram layout: expected root attributes "
                "file_format='qpformat' and imaging_modality='off-axis holography' and datasets '0', '1', ...; "
                f"found file_format={fmt!r}, imaging_modality={modality!r}, keys {sorted(h5.keys())}")
        frames = [np.asarray(h5[k][()]) for k in keys]
        attrs = {k: v for k, v in h5["0"].attrs.items()}
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"{p.name}: the holograms have different shapes {sorted(shapes)}; cannot stack them")
    data = frames[0] if len(frames) == 1 else np.stack(frames)
    _check_numeric(data, p.name)
    meta = _base_metadata(p, "qpformat-hdf5", "YX" if data.ndim == 2 else "TYX")
    if "pixel size" in attrs:
        meta["pixel_size_um"] = float(attrs["pixel size"]) * 1e6  # qpformat stores metres
    if "wavelength" in attrs:
        meta["wavelength_um"] = float(attrs["wavelength"]) * 1e6
    if "medium index" in attrs:
        meta["medium_index"] = float(attrs["medium index"])
    if "numerical aperture" in attrs:
        meta["numerical_aperture"] = float(attrs["numerical aperture"])
    return [Item(data=data, name=_stem(p), kind="hologram", metadata=meta)]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
