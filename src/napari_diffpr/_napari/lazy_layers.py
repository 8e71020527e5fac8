"""Layers for lazy (dask) stacks: OME-Zarr images opened by the reader, and lazy results of
``reconstruct`` on a dask stack (issue 12). Nothing here computes more than one frame: the
contrast limits come from the first frame only.

The frame helpers (the frame on screen, one frame read alone, a lazy result layer) are shared by
the Stack dock and the Reconstruct dock's scope choice."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import lineage
from .layer_data import MICRON, plain_metadata
from .layers import UNWRAPPED_COLORMAP, phase_contrast, spatial_kwargs

if TYPE_CHECKING:  # pragma: no cover
    from ..lazy import LazyResult
    from ..result import Result

_UNIT_NAMES = {"micrometer": MICRON, "second": "s", None: "pixel"}


def frame_at(data, index: tuple) -> np.ndarray:
    """Frame ``index`` (a tuple over the leading axes) of an N-D stack as numpy, read alone:
    a dask stack computes that frame's chunk only."""
    frame = data[tuple(int(i) for i in index)]
    return np.asarray(frame.compute() if hasattr(frame, "compute") else frame)


def first_frame(data, rgb: bool = False) -> np.ndarray:
    """The first frame (H x W [x 3]) of an N-D stack, computed alone."""
    spatial = 3 if rgb else 2
    return frame_at(data, (0,) * (data.ndim - spatial))


def is_stack(layer) -> bool:
    """An image layer with leading axes (T, Z...) before its frames (H x W, or H x W x 3 for RGB)."""
    from napari.layers import Image

    data = getattr(layer, "data", None)
    if data is None or not isinstance(layer, Image):  # (napari hands docks proxies: no private attributes)
        return False
    return data.ndim > (3 if getattr(layer, "rgb", False) else 2)


def as_frame_chunked(data):
    """A dask array with one chunk per frame (dask input is rechunked, numpy wrapped, not copied)."""
    import dask.array as da

    return data if isinstance(data, da.Array) else da.from_array(data, chunks=(1,) * (data.ndim - 2) + data.shape[-2:])


def viewed_index(viewer, layer) -> tuple:
    """Index over ``layer``'s leading axes (T, Z...) of the frame on screen in ``viewer``."""
    n_lead = layer.data.ndim - (3 if layer.rgb else 2)
    point = np.asarray(viewer.dims.point)[-layer.ndim:]
    coords = np.asarray(layer.world_to_data(point))
    return tuple(int(np.clip(round(float(c)), 0, s - 1)) for c, s in zip(coords[:n_lead], layer.data.shape))


def frame_label(layer, index: tuple) -> str:
    """"t=5" (or "t=5, z=2") from the layer's axis labels; "frame=5" where the axes are unnamed."""
    labels = tuple(str(a) for a in (getattr(layer, "axis_labels", None) or ()))[:len(index)]
    parts = []
    for k, i in enumerate(index):
        name = labels[k] if k < len(labels) else ""
        if not name or name.lstrip("-").isdigit():  # napari's default labels are "-3", "-2"...
            name = "frame" if len(index) == 1 else f"axis {k}"
        parts.append(f"{name}={int(i)}")
    return ", ".join(parts)


def lazy_reconstruction(data, method: str, *, background=None, **params: Any) -> LazyResult:
    """A :class:`~napari_diffpr.lazy.LazyResult` of ``data`` (numpy or dask; one chunk per frame)."""
    from ..lazy import LazyResult

    return LazyResult(as_frame_chunked(data), method, background=background, **params)


def compute_frame(lazy: LazyResult, index: tuple, stage: str = "frame"):
    """Generator for a worker: frame ``index`` of ``lazy`` (then kept by it, so the layer showing
    it does not compute it again), with a start and an end Progress; a worker quit while the
    frame computes stops at the end one and returns nothing."""
    from ..result import Progress

    yield Progress(stage, 0, 1)
    result: Result = lazy.frame(index)
    yield Progress(stage, 1, 1)
    return result


def add_lazy_layer(viewer, lazy: LazyResult, source, name: str, first_phase: np.ndarray):
    """Add ``lazy.phase`` as an image layer with ``source``'s scale, units and axis labels,
    replacing a layer of the same name; its metadata names ``source`` (lineage).
    Added hidden, then shown: a new layer slices at its own default point (frame 0) before the
    viewer's dims apply, which would compute frame 0 for nothing."""
    meta = {**lazy.metadata, "napari_diffpr_kind": "phase", "phase_unit": "rad", "lazy": True,
            "source_layer": source.name, "source_layer_id": lineage.uid(source)}
    dataset = lineage.meta(source).get("dataset")
    if dataset:
        meta["dataset"] = dataset
    if name in viewer.layers:
        viewer.layers.remove(name)
    layer = viewer.add_image(lazy.phase, name=name, colormap=UNWRAPPED_COLORMAP, metadata=meta, multiscale=False,
                             contrast_limits=phase_contrast(first_phase), visible=False,
                             **spatial_kwargs(source, lazy.phase.ndim))
    layer.visible = True
    return layer


def lazy_layer_data(data, name: str, kind: str, metadata: dict[str, Any]) -> tuple:
    """(data, kwargs, "image") for a lazy stack: the scale, units and axis labels of an
    OME-Zarr (``metadata['scale'|'units'|'axis_labels']``, one per non-RGB axis), else the
    pixel size on Y and X; phase maps get the phase colormap with limits from frame 0."""
    meta = plain_metadata(dict(metadata))
    rgb = kind == "rgb"
    ndim = data.ndim - (1 if rgb else 0)
    kwargs: dict[str, Any] = {"name": name, "rgb": rgb}
    scale = meta.get("scale")
    if isinstance(scale, (list, tuple)) and len(scale) == ndim:
        kwargs["scale"] = tuple(float(s) for s in scale)
        units = meta.get("units") or [None] * ndim
        kwargs["units"] = tuple(_UNIT_NAMES.get(u, u) for u in units)
        labels = meta.get("axis_labels")
        if labels and len(labels) == ndim:
            kwargs["axis_labels"] = tuple(labels)
    elif meta.get("pixel_size_um"):
        px = float(meta["pixel_size_um"])
        kwargs["scale"] = (1.0,) * (ndim - 2) + (px, px)
        kwargs["units"] = ("pixel",) * (ndim - 2) + (MICRON, MICRON)
    meta["napari_diffpr_kind"] = kind if kind != "phase" or meta.get("method") else "ground_truth"
    if kind == "phase":
        meta.setdefault("phase_unit", "rad")
        kwargs.update(colormap=UNWRAPPED_COLORMAP, contrast_limits=phase_contrast(first_frame(data)))
    else:
        lo, hi = np.percentile(first_frame(data, rgb), (0.5, 99.5))
        if not rgb and hi > lo:
            kwargs["contrast_limits"] = (float(lo), float(hi))
    kwargs["metadata"] = meta
    return (data, kwargs, "image")


# A TIFF stack this large (or with this many frames) opens lazily in napari: frames are read
# from disk when viewed (tifffile's zarr store). Smaller stacks load whole, as before.
LAZY_TIFF_BYTES = 256 * 1024**2
LAZY_TIFF_FRAMES = 100


def should_open_lazily(path) -> bool:
    """True for a multi-page TIFF of at least LAZY_TIFF_BYTES or LAZY_TIFF_FRAMES pages."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() not in (".tif", ".tiff") or not p.is_file():
        return False
    try:
        import tifffile

        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            return len(series.pages) > 1 and (series.nbytes >= LAZY_TIFF_BYTES or len(series.pages) >= LAZY_TIFF_FRAMES)
    except Exception:  # noqa: BLE001 - io.read reports unreadable files properly
        return False
