"""Reading measurements and writing phase maps, with their physical metadata.

Formats read by :func:`read` (each returns a list of :class:`Item`):

- TIFF / OME-TIFF (tifffile): pixel size from the OME ``PhysicalSizeX`` (parsed by tifffile),
  ImageJ ``unit`` with the resolution tags, or plain resolution tags (inch / cm). Files written
  by this module also give back their kind and full metadata record (JSON). RGB stored as
  samples (interleaved or planar) or as a 3-channel axis comes back as H x W x 3.
- NPY: one array. NPZ: key ``data`` (the measurement), optional ``bg_data`` (a sample-free
  background hologram) and ``phase`` (a ground-truth phase, radians); a file with a single array
  under any key also works.
- HDF5 in qpformat's raw off-axis-hologram layout (root attributes ``file_format="qpformat"``,
  ``imaging_modality="off-axis holography"``; datasets ``"0"``, ``"1"``, ... with attributes
  ``"pixel size"`` and ``"wavelength"`` in metres, ``"medium index"``). Needs h5py.

A damaged, truncated, empty or unsupported file raises :class:`~napari_diffpr.errors.InputError`
(a missing one FileNotFoundError); a file whose image would not fit the memory budget raises
:class:`~napari_diffpr.errors.ResourceError` before it is loaded. Metadata values that make no
physical sense (a negative or non-numeric pixel size...) are dropped to None and listed under
``ignored_metadata``.

Writers (:func:`write`, :func:`write_phase_tiff`, :func:`write_tiff`, :func:`write_npz`) write a
temporary file in the destination folder and rename it into place, so a failed write (disk
full, killed process) never leaves a truncated file nor destroys the previous one. With
``overwrite=False`` they refuse an existing path (OutputError).

Units in metadata: ``pixel_size_um`` and ``wavelength_um`` in micrometres, ``medium_index``
dimensionless; phase data in radians. This module imports neither torch nor napari.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__, memory
from .errors import InputError, OutputError, ResourceError

KINDS = ("hologram", "background", "rgb", "phase")
TIFF_SUFFIXES = (".tif", ".tiff")
OME_SUFFIXES = (".ome.tif", ".ome.tiff")
SUPPORTED_SUFFIXES = (".tif", ".tiff", ".npy", ".npz", ".h5", ".hdf5")
WRITE_SUFFIXES = (".tif", ".tiff", ".npz", ".npy", ".zarr")  # .zarr / .ome.zarr: OME-Zarr (omezarr.py)
TIFF_LAYOUTS = ("imagej", "ome")

# Marker key of the JSON record this module writes into TIFFs and NPZs.
_RECORD_KEY = "napari_diffpr"
_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "cm": 1e4, "um": 1.0, "µm": 1.0, "\u03bcm": 1.0, "micron": 1.0,
                 "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0, "nm": 1e-3, "pm": 1e-6, "å": 1e-4,
                 "angstrom": 1e-4, "inch": 25400.0, "in": 25400.0}
_MAX_JSON_ARRAY = 64  # larger arrays in a metadata record are summarised, not stored
_PHYSICAL_KEYS = ("pixel_size_um", "wavelength_um", "medium_index")


@dataclass
class Item:
    """One image read from a file.

    data: the array as stored (hologram/background: H x W or N x H x W; rgb: H x W x 3 or
        N x H x W x 3; phase: radians).
    name: a layer name (file stem, plus " background" / " ground truth" for companions).
    kind: "hologram", "background", "rgb" or "phase".
    metadata: always has ``pixel_size_um``, ``wavelength_um``, ``medium_index`` (None when the
        file does not say, or says something unusable), ``source`` (the path), ``format`` and
        ``axes``; files written by napari-diffpr add their full record (method, parameters,
        timings, version...).
    """

    data: np.ndarray
    name: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Item({self.name!r}, kind={self.kind!r}, shape={self.data.shape}, dtype={self.data.dtype})"


def supported(path) -> bool:
    """True when :func:`read` knows the file's suffix (content is checked only by reading;
    :func:`recognised` checks the content cheaply)."""
    return _suffix(Path(path)) in SUPPORTED_SUFFIXES


def read(path, *, lazy: bool = False) -> list[Item]:
    """Read a measurement or a phase map; see the module docstring for formats. ``lazy=True``:
    a multi-frame TIFF (a time-lapse) comes back as a dask array over tifffile's zarr store, one
    chunk per page, read only when used (OME-Zarr folders are always lazy). Raises
    FileNotFoundError for a missing file, InputError for unsupported, corrupt, truncated or
    incomplete files (the message names the file and what was expected) and ResourceError for
    an image larger than the memory budget."""
    p = Path(path)
    try:
        is_file = p.is_file()
    except (OSError, ValueError) as exc:  # a name the OS cannot even look up
        raise InputError(f"cannot open {path!r}: {exc}") from None
    if not is_file:
        if p.is_symlink():
            raise FileNotFoundError(f"{p} is a broken symbolic link or a symlink loop")
        if p.is_dir():
            from . import omezarr

            if omezarr.is_ome_zarr(p):  # issue 12: an OME-Zarr folder, read lazily (dask)
                return omezarr.read(p)
            raise InputError(f"{p} is a folder; give a measurement file ({', '.join(SUPPORTED_SUFFIXES)})")
        raise FileNotFoundError(f"no such file: {p}")
    suffix = _suffix(p)
    readers: dict[str, Callable[[Path], list[Item]]] = {
        ".tif": _read_tiff, ".tiff": _read_tiff, ".npy": _read_npy, ".npz": _read_npz,
        ".h5": _read_hdf5, ".hdf5": _read_hdf5}
    if suffix not in readers:
        raise InputError(f"cannot read {p.name}: unsupported file type {suffix or '(no suffix)'!r}; "
                         f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot open {p.name}: {exc.strerror or exc}") from None
    if size == 0:
        raise InputError(f"{p.name} is empty (0 bytes): the write that made it failed or was interrupted")
    try:
        items = _read_tiff(p, lazy=True) if lazy and suffix in TIFF_SUFFIXES else readers[suffix](p)
    except PermissionError as exc:
        raise InputError(f"cannot open {p.name}: permission denied ({exc.strerror or exc})") from None
    for item in items:
        _sanitise_metadata(item.metadata)
    return items


def recognised(path) -> bool:
    """Cheap content check for the napari reader: True only for files this plugin really
    understands (a TIFF or NPZ carrying this module's record, an NPZ with the key ``data``,
    qpformat HDF5). Reads headers only; never raises."""
    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size == 0:
            return False
        suffix = _suffix(p)
        if suffix in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(p) as tif:
                ij = tif.imagej_metadata
                texts = [ij.get("Info") if isinstance(ij, dict) else None, tif.pages[0].description]
                if tif.is_ome:
                    texts.append(_ome_info(tif.ome_metadata).get("description"))
                return any(_record_from_text(t) for t in texts)
        if suffix == ".npz":
            with zipfile.ZipFile(p) as zf:
                names = set(zf.namelist())
            return "data.npy" in names or "metadata_json.npy" in names
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as h5:
                return (_text(h5.attrs.get("file_format", "")) == "qpformat"
                        and _text(h5.attrs.get("imaging_modality", "")) == "off-axis holography")
    except Exception:  # noqa: BLE001 - anything unreadable is simply not ours
        return False
    return False


def _suffix(p: Path) -> str:
    return p.suffix.lower()


def _stem(p: Path) -> str:
    name = p.name
    for end in OME_SUFFIXES:
        if name.lower().endswith(end):
            return name[: -len(end)]
    return p.stem


def _base_metadata(p: Path, fmt: str, axes: str) -> dict[str, Any]:
    return {"pixel_size_um": None, "wavelength_um": None, "medium_index": None,
            "source": str(p), "format": fmt, "axes": axes}


def _positive_float(value) -> float | None:
    """A finite positive float from a number, a numeric string/bytes or a one-element array;
    None for anything else."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(()).item()
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _sanitise_metadata(meta: dict[str, Any]) -> None:
    """Physical values become finite positive floats; anything else becomes None and is kept
    (as text) under ``ignored_metadata`` so that the user can see what the file said."""
    for key in _PHYSICAL_KEYS:
        raw = meta.get(key)
        if raw is None:
            meta[key] = None
            continue
        value = _positive_float(raw)
        if value is None:
            meta.setdefault("ignored_metadata", {})[key] = repr(raw)[:200]
        meta[key] = value


def _guess_kind(data: np.ndarray) -> str:
    # RGBA counts as rgb so that validation can say "drop the alpha channel" instead of treating
    # it as a stack of H images 4 pixels wide.
    return "rgb" if data.ndim in (3, 4) and data.shape[-1] in (3, 4) else "hologram"


def _default_axes(data: np.ndarray, kind: str) -> str:
    if kind == "rgb":
        return "YXC" if data.ndim == 3 else "TYXC"
    return {2: "YX", 3: "TYX"}.get(data.ndim, "?" * data.ndim)


def _check_numeric(data: np.ndarray, what: str) -> None:
    _check_shape_dtype(tuple(data.shape), data.dtype, what)


def _check_shape_dtype(shape: tuple, dtype: np.dtype, what: str) -> None:
    if dtype.kind == "c":
        raise InputError(f"{what} holds complex data ({dtype}); expected a real image: save the "
                         "intensity (abs(field)**2) of a hologram, or the phase (angle) of a field")
    if dtype.kind not in "fiub" or len(shape) < 2 or 0 in shape:
        raise InputError(f"{what} holds {dtype} data of shape {shape}; expected a numeric image "
                         "with no empty axis (H x W, N x H x W or H x W x 3)")


def _check_memory(shape, dtype, what: str) -> None:
    nbytes = float(np.prod([float(s) for s in shape])) * np.dtype(dtype).itemsize
    # reading makes the array, and validation makes one float32 copy of it
    need = nbytes + float(np.prod([float(s) for s in shape])) * 4
    memory.check(need, f"loading {what} ({' x '.join(map(str, shape))} {np.dtype(dtype)})",
                 "Crop the image or split the stack into smaller files.")


def _finish_item(p: Path, data: np.ndarray, name, kind, meta: dict) -> Item:
    _check_numeric(data, p.name if name is None else f"{p.name} ({name})")
    return Item(data=data, name=name, kind=kind, metadata=meta)


# --------------------------------------------------------------------------------------- TIFF
def _read_tiff(p: Path, lazy: bool = False) -> list[Item]:
    import tifffile

    size = p.stat().st_size
    errors = _LogErrors()
    logger = logging.getLogger("tifffile")
    logger.addHandler(errors)
    try:
        with tifffile.TiffFile(p) as tif:
            if not tif.series or not tif.pages:
                raise InputError(f"{p.name} holds no image: the TIFF is empty, truncated or damaged")
            series = tif.series[0]
            if not series.shape or 0 in series.shape:
                raise InputError(f"{p.name} holds an empty image (shape {tuple(series.shape)})")
            _check_tiff_complete(series, size, p)
            lazy = lazy and len(series.pages) > 1  # issue 12: time-lapses stay on disk until viewed
            if lazy:
                data = _tiff_dask(p)
            else:
                _check_memory(series.shape, series.dtype, p.name)
                data = series.asarray()
            axes = series.axes
            page = tif.pages[0]
            ij = tif.imagej_metadata or {}
            ome = tif.ome_metadata if tif.is_ome else None
            description = page.description or ""
            tags = {t.name: t.value for t in page.tags.values()
                    if t.name in ("XResolution", "ResolutionUnit")}
    except (InputError, ResourceError):
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on garbage
        raise InputError(f"cannot read {p.name} as TIFF: the file is damaged, truncated or not a TIFF "
                         f"({type(exc).__name__}: {exc})") from None
    finally:
        logger.removeHandler(errors)
    if errors.messages:  # tifffile skips broken tags or pages with only a log message
        raise InputError(f"{p.name} is damaged or truncated: {errors.messages[0]}")
    ome_info = _ome_info(ome) if ome else {}
    record = _record_from_tiff(ij if isinstance(ij, dict) else {}, description, ome_info.get("description"))
    data, axes = _channels_last(data, axes)
    fmt = "ome-tiff" if ome else "tiff"
    kind = record.get("kind") if record.get("kind") in KINDS else _guess_kind(data)
    meta = _base_metadata(p, fmt, axes)
    rec_meta = record.get("metadata")
    if isinstance(rec_meta, dict):
        meta.update(rec_meta)
    meta["source"], meta["format"], meta["axes"] = str(p), fmt, axes
    if lazy:
        meta["lazy"] = True
    if _positive_float(meta.get("pixel_size_um")) is None:  # our record keeps the exact value
        pixel = ome_info.get("pixel_size_um")
        meta["pixel_size_um"] = pixel if pixel is not None else _resolution_pixel_size_um(tags, ij)
    name = record.get("name") if isinstance(record.get("name"), str) and record.get("name") else _stem(p)
    return [_finish_item(p, data, name, kind, meta)]


def _tiff_dask(p: Path):
    """The first series of a TIFF as a dask array over tifffile's zarr store (one chunk per page)."""
    import dask.array as da
    import tifffile
    import zarr

    return da.from_zarr(zarr.open(tifffile.imread(p, aszarr=True, series=0), mode="r"))


class _LogErrors(logging.Handler):
    """Collects tifffile's ERROR log records (a tag or page it had to skip)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


def _check_tiff_complete(series, size: int, p: Path) -> None:
    """Refuse a TIFF whose image data run past the end of the file (a truncated write)."""
    end = 0
    offset = getattr(series, "dataoffset", None)
    if offset:
        end = offset + series.nbytes
    else:
        for page in series.pages:
            if page is None:
                continue
            for off, count in zip(getattr(page, "dataoffsets", ()), getattr(page, "databytecounts", ())):
                end = max(end, off + count)
    if end > size:
        raise InputError(f"{p.name} is truncated: its image data need {end} bytes but the file has {size}; "
                         "the write that made it failed or was interrupted")


def _channels_last(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """RGB as samples ('S', interleaved or planar) or as a 3-channel 'C' axis -> ... x H x W x 3."""
    axes = axes.upper()
    if "S" in axes and data.ndim == len(axes):
        s = axes.index("S")
        if s != len(axes) - 1:
            data = np.moveaxis(data, s, -1)
            axes = axes.replace("S", "") + "S"
    elif "C" in axes and data.shape[axes.index("C")] in (3, 4) and data.ndim in (3, 4):
        c = axes.index("C")
        data = np.moveaxis(data, c, -1)
        axes = axes.replace("C", "") + "C"
    return data, axes.replace("S", "C")


def _record_from_text(text) -> dict:
    if not isinstance(text, str) or _RECORD_KEY not in text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) and _RECORD_KEY in record else {}


def _record_from_tiff(ij: dict, description: str, ome_description=None) -> dict:
    for text in (ij.get("Info"), ome_description, description):
        record = _record_from_text(text)
        if record:
            return record
    return {}


def _unit_to_um(unit) -> float | None:
    if unit is None:
        return None
    key = str(unit).strip().lower().replace("\\u00b5", "µ")
    return _LENGTH_TO_UM.get(key)


def _ome_info(ome_xml: str) -> dict:
    """Pixel size (µm) and the first image's description from OME-XML, parsed by tifffile."""
    import tifffile

    try:
        ome = tifffile.xml2dict(ome_xml).get("OME", {})
    except Exception:  # noqa: BLE001 - malformed XML: no OME metadata
        return {}
    image = ome.get("Image") if isinstance(ome, dict) else None
    if isinstance(image, list):
        image = image[0] if image else None
    if not isinstance(image, dict):
        return {}
    info: dict[str, Any] = {}
    if isinstance(image.get("Description"), str):
        info["description"] = image["Description"]
    pixels = image.get("Pixels")
    if isinstance(pixels, dict) and "PhysicalSizeX" in pixels:
        value = _positive_float(pixels.get("PhysicalSizeX"))
        factor = _unit_to_um(pixels.get("PhysicalSizeXUnit", "µm"))
        if value is not None and factor is not None:
            info["pixel_size_um"] = value * factor
    return info


def _resolution_pixel_size_um(tags: dict, ij: dict) -> float | None:
    res = tags.get("XResolution")
    if not res:
        return None
    try:
        num, den = res if isinstance(res, tuple) else (res, 1)
        pixels_per_unit = float(num) / float(den)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    unit_code = tags.get("ResolutionUnit", 1)
    try:
        unit_code = int(unit_code)
    except (TypeError, ValueError):
        unit_code = 1
    unit = ij.get("unit") if isinstance(ij, dict) else None
    if unit:
        factor = _unit_to_um(unit)  # ImageJ writes ResolutionUnit NONE and its unit here
    else:
        factor = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}.get(unit_code)
    if factor is None or not math.isfinite(pixels_per_unit) or pixels_per_unit <= 0:
        return None
    # A 1 pixel/unit "resolution" is most writers' placeholder for "unknown", not a real size.
    return None if pixels_per_unit == 1 and not unit else factor / pixels_per_unit


# ------------------------------------------------------------------------------- writing
def check_output_path(path, *, overwrite: bool = True, suffixes=WRITE_SUFFIXES,
                      nbytes: float = 0) -> Path:
    """Everything that can be checked about an output before computing it: a known suffix, not
    a folder, not an existing file unless ``overwrite``, a folder that exists (or can be made)
    and accepts files, and (when ``nbytes`` is given) enough free disk. Returns the path;
    raises OutputError (InputError for the suffix)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() and not name.endswith(".zarr"):  # an OME-Zarr output is a folder
        raise OutputError(f"the output {p} is a folder; give a file name inside it, e.g. {p / ('phase' + suffixes[0])}")
    if not any(name.endswith(s) for s in suffixes):
        raise InputError(f"cannot write {p.name!r}: unsupported file type; use {', '.join(suffixes)}")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise OutputError(f"{p} already exists; choose another name or allow overwriting it "
                          "(--overwrite on the command line)")
    folder = p.parent
    existing = folder
    while not existing.exists():
        if existing.is_symlink() or existing == existing.parent:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {p}: {existing} is not a folder")
    try:  # a real probe: os.access says yes to root even on read-only mounts' ACL cases
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".napari-diffpr-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write into the folder {existing}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from None
    if nbytes:
        try:
            import shutil

            free = shutil.disk_usage(existing).free
        except OSError:
            free = None
        if free is not None and free < nbytes * 1.05 + 1024 * 1024:
            raise OutputError(f"not enough free disk space in {existing} for {p.name}: about "
                              f"{memory.format_bytes(nbytes)} needed, {memory.format_bytes(free)} free")
    return p


def _atomic_write(p: Path, write: Callable[[Any], None], *, overwrite: bool = True) -> Path:
    """Call ``write(file_object)`` on a temporary file next to ``p`` and rename it to ``p`` only
    when the write succeeded, so ``p`` is either the old file or the complete new one. With
    ``overwrite=False`` an existing ``p`` is refused (atomically: link, not replace)."""
    if p.is_dir():
        raise OutputError(f"the output {p} is a folder; give a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".part")
    except OSError as exc:
        raise OutputError(f"cannot write {p}: {exc.strerror or exc}") from None
    try:
        try:
            existing_mode = p.stat().st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            existing_mode = 0o666 & ~umask
        os.close(fd)
        with open(tmp, "wb") as fh:  # a named file object: tifffile wants a .name
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, existing_mode)
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # fails if p exists, so nothing is ever replaced
            except FileExistsError:
                raise OutputError(f"{p} already exists; choose another name or allow overwriting it "
                                  "(--overwrite on the command line)") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if p.exists():
                    raise OutputError(f"{p} already exists; choose another name or allow overwriting it "
                                      "(--overwrite on the command line)") from None
                os.replace(tmp, p)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"writing {p} failed ({exc.strerror or exc}); "
                          f"{'the previous file is unchanged' if p.exists() else 'nothing was written'}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return p


def write_phase_tiff(path, phase, metadata: dict | None = None, *, layout: str | None = None,
                     overwrite: bool = True) -> Path:
    """Write a phase map (radians) as a float32 TIFF that Fiji, napari and OME tools read with
    its scale. ``layout``: "imagej" (default for .tif/.tiff: ImageJ hyperstack H x W or
    N x H x W as 'TYX', pixel size in the resolution tags with unit 'um', the metadata record as
    JSON in the 'Info' property, Fiji: Image > Show Info) or "ome" (default for .ome.tif:
    OME-TIFF with PhysicalSizeX/Y in µm and the record as the image's Description). The pixel
    size comes from ``metadata["pixel_size_um"]`` (or the reconstruction parameter
    ``pixel_size``, µm). ``phase`` may be a Result (its metadata is used, updated by
    ``metadata``). :func:`read` gives back kind "phase" and the record. Written atomically;
    ``overwrite=False`` refuses an existing file. Returns the path."""
    meta = {}
    if hasattr(phase, "phase"):
        meta.update(getattr(phase, "metadata", {}) or {})
        phase = phase.phase
    meta.update(metadata or {})
    arr = _as_array(phase, "a phase map")
    if arr.ndim not in (2, 3, 4) or arr.dtype.kind not in "fiu" or 0 in arr.shape:
        raise InputError(f"a phase map must be a non-empty real numeric H x W, N x H x W or T x Z x H x W "
                         f"array; got {arr.dtype} {arr.shape}")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        raise InputError(f"a phase map must be H x W or N x H x W; shape {arr.shape} looks like an RGB "
                         "image (H x W x 3), which is not a phase map")
    return _write_tiff(Path(path), arr.astype(np.float32, copy=False), meta, "phase", layout, overwrite)


def write_tiff(path, data, metadata: dict | None = None, *, kind: str = "hologram",
               layout: str | None = None, overwrite: bool = True) -> Path:
    """Write a measurement (hologram / background: 2-D or a stack; rgb: H x W x 3) or a phase map
    as TIFF with the same metadata record as :func:`write_phase_tiff`. Integer data keep their
    type; float data are written as float32. Returns the path."""
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    arr = _as_array(data, "the data")
    if arr.dtype.kind not in "fiub" or arr.ndim < 2 or 0 in arr.shape:
        raise InputError(f"cannot write {arr.dtype} data of shape {arr.shape} to TIFF; expected a "
                         "non-empty real numeric image")
    if arr.dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.float32)  # camera counts stay integers; everything else float32
    return _write_tiff(Path(path), arr, dict(metadata or {}), kind, layout, overwrite)


def _as_array(data, what: str) -> np.ndarray:
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a numeric array; got {type(data).__name__}: {exc}") from None


def _pixel_size_from(meta: dict) -> float | None:
    value = _positive_float(meta.get("pixel_size_um"))
    if value is None:
        params = meta.get("parameters")
        value = _positive_float(params.get("pixel_size")) if isinstance(params, dict) else None
    return value


def _is_ome_name(p: Path) -> bool:
    return p.name.lower().endswith(OME_SUFFIXES)


def _write_tiff(p: Path, arr: np.ndarray, meta: dict, kind: str, layout: str | None,
                overwrite: bool) -> Path:
    import tifffile

    if _suffix(p) not in TIFF_SUFFIXES:
        raise InputError(f"TIFF output needs a .tif or .tiff name; got {p.name!r}")
    layout = layout or ("ome" if _is_ome_name(p) else "imagej")
    if layout not in TIFF_LAYOUTS:
        raise InputError(f"TIFF layout must be one of {', '.join(TIFF_LAYOUTS)}; got {layout!r}")
    pixel = _pixel_size_from(meta)
    if pixel is not None:
        meta["pixel_size_um"] = pixel
    name = meta.pop("name", None)
    record = {_RECORD_KEY: __version__, "kind": kind, "name": name if isinstance(name, str) and name else _stem(p),
              "metadata": jsonable(meta)}
    text = json.dumps(record)
    is_rgb = kind == "rgb" or (arr.ndim in (3, 4) and arr.shape[-1] == 3 and kind != "phase")
    if layout == "ome":
        axes = ("YXS" if arr.ndim == 3 else "TYXS") if is_rgb else {2: "YX", 3: "TYX", 4: "TZYX"}[arr.ndim]
        ome_meta: dict[str, Any] = {"axes": axes, "Name": record["name"], "Description": text}
        kwargs: dict[str, Any] = {"ome": True, "metadata": ome_meta,
                                  "photometric": "rgb" if is_rgb else "minisblack"}
        if pixel is not None:
            ome_meta.update(PhysicalSizeX=pixel, PhysicalSizeXUnit="µm", PhysicalSizeY=pixel,
                            PhysicalSizeYUnit="µm")
            kwargs.update(resolution=(1e4 / pixel, 1e4 / pixel), resolutionunit="CENTIMETER")
        return _atomic_write(p, lambda fh: tifffile.imwrite(fh, arr, **kwargs), overwrite=overwrite)
    if is_rgb:
        # ImageJ cannot hold float RGB; a plain TIFF with the record as its description, and the
        # pixel size as standard centimetre resolution tags, reads back everywhere.
        kwargs = {"description": text, "metadata": None, "photometric": "rgb"}
        if pixel is not None:
            kwargs.update(resolution=(1e4 / pixel, 1e4 / pixel), resolutionunit="CENTIMETER")
        return _atomic_write(p, lambda fh: tifffile.imwrite(fh, arr, **kwargs), overwrite=overwrite)
    ij_meta: dict[str, Any] = {"axes": {2: "YX", 3: "TYX", 4: "TZYX"}[arr.ndim], "Info": text}  # TZYX: issue 12
    kwargs = {"imagej": True, "metadata": ij_meta}
    if pixel is not None:
        ij_meta["unit"] = "um"
        kwargs["resolution"] = (1.0 / pixel, 1.0 / pixel)
    return _atomic_write(p, lambda fh: tifffile.imwrite(fh, arr, **kwargs), overwrite=overwrite)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars -> numbers, tuples -> lists, Paths -> text,
    small arrays -> lists, large arrays -> a short description (records stay small); non-finite
    floats become their text ("nan", "inf") so the record stays strict JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size <= _MAX_JSON_ARRAY:
            return jsonable(value.tolist())
        return f"<array {value.dtype} {tuple(value.shape)}>"
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, complex):
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


# ------------------------------------------------------------------------------- NPY / NPZ
def _npy_header(fh, what: str) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, header end) of an NPY stream, or InputError naming what is wrong."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            shape, _, dtype = fmt._read_array_header(fh, version)
    except Exception as exc:  # noqa: BLE001 - ValueError, EOFError, SyntaxError... on garbage
        raise InputError(f"cannot read {what} as NPY: not an NPY file, or its header is damaged "
                         f"({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects ({dtype}); such files are not opened, for "
                         "safety (loading them can run code). Save a plain numeric array instead")
    return tuple(shape), dtype, fh.tell()


def _read_npy(p: Path) -> list[Item]:
    with open(p, "rb") as fh:
        shape, dtype, header_end = _npy_header(fh, p.name)
    need = header_end + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    size = p.stat().st_size
    if size < need:
        raise InputError(f"{p.name} is truncated: its header announces {dtype} {shape} ({need} bytes) "
                         f"but the file has {size} bytes; the write that made it failed or was interrupted")
    _check_shape_dtype(shape, dtype, p.name)
    _check_memory(shape, dtype, p.name)
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read {p.name} as NPY: {type(exc).__name__}: {exc}") from None
    kind = _guess_kind(data)
    return [_finish_item(p, data, _stem(p), kind, _base_metadata(p, "npy", _default_axes(data, kind)))]


def _read_npz(p: Path) -> list[Item]:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"cannot read {p.name} as NPZ: the file is damaged, truncated or not an NPZ "
                         f"archive ({exc})") from None
    arrays: dict[str, np.ndarray] = {}
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            try:
                with zf.open(info) as fh:
                    shape, dtype, _ = _npy_header(fh, f"{p.name}['{key}']")
                    if key == "metadata_json":
                        if dtype.kind not in "US" or len(shape) != 0:
                            continue  # not our record: ignore it
                    else:
                        _check_memory(shape, dtype, f"{p.name}['{key}']")
                    fh.seek(0)
                    arrays[key] = np.lib.format.read_array(fh, allow_pickle=False)
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - BadZipFile (CRC), zlib.error, EOFError, ValueError
                raise InputError(f"cannot read {p.name}['{key}'] from the NPZ: the archive is damaged or "
                                 f"truncated ({type(exc).__name__}: {exc})") from None
    record: dict = {}
    if "metadata_json" in arrays:
        try:
            loaded = json.loads(str(arrays.pop("metadata_json")))
        except ValueError:
            loaded = {}
        record = loaded if isinstance(loaded, dict) else {}
    images = {k: v for k, v in arrays.items() if v.ndim >= 2}
    if "data" in images:
        main_key = "data"
    elif len(images) == 1:
        main_key = next(iter(images))
    else:
        raise InputError(f"{p.name} has arrays {sorted(arrays) or 'none'}; expected a key 'data' (the measurement), "
                         "optionally with 'bg_data' (background hologram) and 'phase' (ground truth, rad)")
    stem = _stem(p)
    extra = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
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
        meta["source"], meta["format"], meta["axes"] = str(p), "npz", _default_axes(data, kind)
        meta["npz_key"] = key
        items.append(Item(data=data, name=name, kind=kind, metadata=meta))
    return items


def write_npz(path, data, *, background=None, phase=None, metadata: dict | None = None,
              kind: str | None = None, overwrite: bool = True) -> Path:
    """Write a measurement (key ``data``), its background hologram (``bg_data``) and a
    ground-truth phase in radians (``phase``) into one NPZ, with the metadata record as JSON
    (key ``metadata_json``, a plain string, so no pickle is needed to read it). Written
    atomically; ``overwrite=False`` refuses an existing file."""
    p = Path(path)
    if _suffix(p) != ".npz":
        raise InputError(f"NPZ output needs a .npz name; got {p.name!r}")
    arrays = {"data": _as_array(data, "data")}
    if background is not None:
        arrays["bg_data"] = _as_array(background, "background")
    if phase is not None:
        arrays["phase"] = np.asarray(_as_array(phase, "phase"), dtype=np.float32)
    for key, arr in arrays.items():
        if arr.dtype.kind not in "fiub" or arr.ndim < 2 or 0 in arr.shape:
            raise InputError(f"cannot write {key!r}: {arr.dtype} {arr.shape} is not a non-empty real "
                             "numeric image")
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    record = {_RECORD_KEY: __version__, "kind": kind or _guess_kind(arrays["data"]),
              "metadata": jsonable(dict(metadata or {}))}
    return _atomic_write(p, lambda fh: np.savez_compressed(fh, metadata_json=np.array(json.dumps(record)),
                                                           **arrays), overwrite=overwrite)


def write(path, data, metadata: dict | None = None, *, kind: str = "phase", layout: str | None = None,
          overwrite: bool = True) -> Path:
    """Write ``data`` by file suffix: .ome.tif (OME-TIFF) and .tif/.tiff (ImageJ TIFF, or
    ``layout="ome"``) via :func:`write_tiff` (phase maps as float32), .npz via
    :func:`write_npz`, .npy as a bare array (no metadata). ``data`` may be a Result. Every
    writer is atomic; ``overwrite=False`` refuses an existing file (OutputError)."""
    p = Path(path)
    if hasattr(data, "phase"):
        metadata = {**(getattr(data, "metadata", {}) or {}), **(metadata or {})}
        data = data.phase
    suffix = _suffix(p)
    if suffix == ".zarr" and kind == "phase":  # issue 12: OME-Zarr, one chunk per frame
        from . import omezarr

        return omezarr.write(p, data, metadata, overwrite=overwrite)
    if suffix in TIFF_SUFFIXES:
        if kind == "phase":
            return write_phase_tiff(p, data, metadata, layout=layout, overwrite=overwrite)
        return write_tiff(p, data, metadata, kind=kind, layout=layout, overwrite=overwrite)
    if suffix == ".npz":
        return write_npz(p, data, metadata=metadata, kind=kind, overwrite=overwrite)
    if suffix == ".npy":
        arr = _as_array(data, "the data")
        if arr.dtype.kind not in "fiub" or arr.ndim < 2 or 0 in arr.shape:
            raise InputError(f"cannot write {arr.dtype} data of shape {arr.shape} to NPY; expected a "
                             "non-empty real numeric image")
        return _atomic_write(p, lambda fh: np.save(fh, arr, allow_pickle=False), overwrite=overwrite)
    raise InputError(f"cannot write {p.name}: unsupported file type {suffix or '(no suffix)'!r}; "
                     "use .tif, .tiff, .ome.tif, .npz or .npy")


# ------------------------------------------------------------------------------------ HDF5
def _read_hdf5(p: Path) -> list[Item]:
    try:
        import h5py
    except ImportError:
        raise InputError(f"reading {p.name} needs the optional package h5py: pip install h5py") from None
    try:
        h5 = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 - OSError, or worse on garbage
        raise InputError(f"cannot read {p.name} as HDF5: the file is damaged, truncated or not HDF5 "
                         f"({exc})") from None
    try:
        with h5:
            fmt = _text(h5.attrs.get("file_format", ""))
            modality = _text(h5.attrs.get("imaging_modality", ""))
            keys = sorted((k for k in h5.keys() if k.isdigit()), key=int)
            if fmt != "qpformat" or modality != "off-axis holography" or not keys or keys[0] != "0":
                raise InputError(
                    f"{p.name} is not in qpformat's raw off-axis hologram layout: expected root attributes "
                    "file_format='qpformat' and imaging_modality='off-axis holography' and datasets '0', '1', ...; "
                    f"found file_format={fmt!r}, imaging_modality={modality!r}, keys {sorted(h5.keys())[:20]}")
            frames = []
            for k in keys:
                link = h5.get(k, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise InputError(f"{p.name}: entry {k!r} is a link to another file ({link.filename}); "
                                     "external links are not followed, store the hologram in the file itself")
                obj = h5.get(k)
                if not isinstance(obj, h5py.Dataset):
                    raise InputError(f"{p.name}: entry {k!r} is {type(obj).__name__ if obj is not None else 'a broken link'}, "
                                     "not a hologram dataset")
                _check_memory(tuple(obj.shape), obj.dtype, f"{p.name}['{k}']")
                frames.append(np.asarray(obj[()]))
            attrs = {k: h5["0"].attrs[k] for k in h5["0"].attrs.keys()}
    except (InputError, ResourceError):
        raise
    except Exception as exc:  # noqa: BLE001 - KeyError, TypeError, OSError from h5py on odd files
        raise InputError(f"cannot read {p.name} as qpformat HDF5: {type(exc).__name__}: {exc}") from None
    for i, f in enumerate(frames):
        _check_numeric(f, f"{p.name}['{keys[i]}']")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"{p.name}: the holograms have different shapes {sorted(shapes)}; cannot stack them")
    data = frames[0] if len(frames) == 1 else np.stack(frames)
    meta = _base_metadata(p, "qpformat-hdf5", "YX" if data.ndim == 2 else "TYX")
    for attr, key, scale in (("pixel size", "pixel_size_um", 1e6), ("wavelength", "wavelength_um", 1e6),
                             ("medium index", "medium_index", 1.0), ("numerical aperture", "numerical_aperture", 1.0)):
        if attr in attrs:
            value = _positive_float(attrs[attr])
            if value is None:
                meta.setdefault("ignored_metadata", {})[key] = repr(attrs[attr])[:200]
            meta[key] = None if value is None else value * scale  # qpformat stores metres
    return [_finish_item(p, data, _stem(p), "hologram", meta)]


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(()).item())
    return str(value)
