"""Which layers belong together, by identities that survive napari's plugin proxy.

napari hands plugin docks a ``PublicOnlyProxy`` of the viewer: every access to a layer returns a
new proxy object, so ``id(layer)`` and ``layer is other`` are meaningless there. Layers have a
stable ``unique_id``; everything the docks remember is keyed on it.

Lineage: a measurement's layers (hologram, background, ground truth) share a ``dataset`` string
in their metadata (the file they came from, or the simulated sample's description). A result
records its input layer (``source_layer_id``, ``source_layer``) and inherits the input's dataset.
Two layers are related when their lineage keys match.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from .profile_sampling import unit_of


def uid(layer) -> str | None:
    """The layer's stable identity (a string), or None for no layer."""
    if layer is None:
        return None
    return str(getattr(layer, "unique_id", None) or layer.name)


def find(viewer, layer_uid: str | None):
    """The layer of ``viewer`` with this unique id, or None (it was removed)."""
    if layer_uid is None:
        return None
    for layer in viewer.layers:
        if uid(layer) == layer_uid:
            return layer
    return None


def meta(layer) -> dict:
    return dict(getattr(layer, "metadata", None) or {})


def lineage(layer) -> str:
    """What a layer belongs to: its dataset, else (for a result of an unlabelled input) its input
    layer, else the layer itself."""
    m = meta(layer)
    return str(m.get("dataset") or m.get("source_layer_id") or uid(layer))


def related(a, b) -> bool:
    return lineage(a) == lineage(b)


def kind(layer) -> str | None:
    return meta(layer).get("napari_diffpr_kind")


def spatial_unit(layer) -> str:
    """The unit of the layer's last (x) axis as shown to a user: "µm", ... or "px"."""
    return unit_of(layer)


# ---------------------------------------------------------------------------- background pairing
_BG_SUFFIXES = ("background", "bg", "reference", "ref", "blank")
_SEP = r"[\s_\-.]*"


def _stem(name: str) -> str:
    return re.sub(r"\.(tiff?|npy|npz|h5|hdf5)$", "", name.strip(), flags=re.IGNORECASE)


def names_pair(hologram_name: str, background_name: str) -> bool:
    """True when ``background_name`` reads as the background of ``hologram_name``:
    "X background", "X_background", "X-bg", "X_ref", "X [background]"... (case-insensitive)."""
    h, b = _stem(hologram_name).lower(), _stem(background_name).lower()
    if not h or h == b or not b.startswith(h):
        return False
    rest = b[len(h):]
    return re.fullmatch(_SEP + r"[\[(]?" + _SEP + "(" + "|".join(_BG_SUFFIXES) + r")[\])]?" + r"(\d*)",
                        rest) is not None


def pick_background(hologram, candidates: Iterable):
    """The background layer that belongs to ``hologram`` among ``candidates``, or None: same
    shape, and either from the same dataset (an NPZ/HDF5 pair, a simulated sample) marked as a
    background, or named like "<hologram> background". Never one of another shape."""
    shape = np.shape(hologram.data)
    same_shape = [c for c in candidates
                  if uid(c) != uid(hologram) and np.shape(c.data)[-2:] == shape[-2:]]
    m_h = meta(hologram)
    for c in same_shape:
        if kind(c) == "background" and m_h.get("dataset") and meta(c).get("dataset") == m_h["dataset"]:
            return c
    for c in same_shape:
        if names_pair(hologram.name, c.name):
            return c
    return None
