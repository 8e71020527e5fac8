"""npe2 reader: TIFF/OME-TIFF, NPY/NPZ and qpformat HDF5 via napari_diffpr.io (no torch).

Claims only files it understands (see :func:`napari_get_reader`); reading raises only
InputError / ResourceError / FileNotFoundError with a message naming the file.

An NPZ with ``data`` and ``bg_data`` opens as a hologram and a background layer (and ``phase``
as a ground-truth layer); pixel sizes become the layers' scale in µm."""
from __future__ import annotations

from pathlib import Path

from .. import io
from .layer_data import image_layer_data


def _layer_kind(item: io.Item) -> str:
    if item.kind != "phase":
        return item.kind
    # a phase map we wrote carries its method; a bare one (e.g. an NPZ 'phase') is a reference
    return "phase" if item.metadata.get("method") else "ground_truth"


def read_layers(path) -> list[tuple]:
    """Read one path (or a list of paths) into napari LayerData tuples. Raises the io module's
    InputError / FileNotFoundError with a message naming the file and what was expected."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in paths:
        from .lazy_layers import should_open_lazily

        for item in io.read(p, lazy=should_open_lazily(p)):
            if item.metadata.get("lazy"):  # OME-Zarr (issue 12): dask data, scale from its axes
                from .lazy_layers import lazy_layer_data

                layers.append(lazy_layer_data(item.data, item.name, item.kind, item.metadata))
                continue
            layers.append(image_layer_data(item.data, item.name, _layer_kind(item), item.metadata))
    return layers


def napari_get_reader(path):
    """Return :func:`read_layers` only when every path is a file this plugin really understands
    (a TIFF or NPZ carrying napari-diffpr's record, an NPZ with the key ``data``, qpformat
    HDF5), checked cheaply from headers; else None, so napari opens ordinary TIFF/NPY files
    with its own reader without asking which plugin to use (napari/napari#4389). A file not
    claimed here (a plain TIFF or NPY, a foreign OME-TIFF) opens with napari's reader; with its
    physical metadata it is read by ``napari_diffpr.io.read(path)`` (e.g. in napari's console)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    from .. import omezarr

    if paths and all(omezarr.is_ome_zarr(p) for p in paths):  # issue 12: opened lazily
        return read_layers
    if not paths or not all(io.supported(p) and io.recognised(p) for p in paths):
        return None
    return read_layers
