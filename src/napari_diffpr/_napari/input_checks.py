"""Cheap checks of what the user picked, shown in the Reconstruct dock before anything runs:
does the background hologram's carrier match the hologram's, and is a 3 x H x W "stack" really
an RGB image with its channels first?"""
from __future__ import annotations

import math

import numpy as np

from ..errors import RetrievalError
from ..retrieval.sideband import coarse_sideband

# Carriers this far apart (cycles/px) are different setups, not the same one re-measured:
# the coarse search is exact to one bin of a <= 256 px crop (1/256 ≈ 0.004).
CARRIER_TOLERANCE = 0.02


def _first_frame(data) -> np.ndarray:
    a = data if hasattr(data, "ndim") else np.asarray(data)
    while a.ndim > 2:  # index first: a lazy (dask) stack reads its first frame only
        a = a[0]
    return np.asarray(a, dtype=np.float32)


def carrier(data) -> tuple[float, float] | None:
    """The +1 order (fy, fx) of the first frame in the canonical half plane, or None."""
    try:
        sb = coarse_sideband(_first_frame(data)).canonical()[0]
    except RetrievalError:
        return None
    return sb.fy, sb.fx


def background_mismatch(hologram, background) -> str | None:
    """A warning when the background's fringes are not those of the hologram, else None."""
    a, b = carrier(hologram), carrier(background)
    if a is None or b is None:
        which = "hologram" if a is None else "background"
        return f"no clear fringes found in the {which}: check that it is an off-axis hologram"
    if math.dist(a, b) > CARRIER_TOLERANCE:
        return (f"the background's fringes (carrier {b[0]:+.3f}, {b[1]:+.3f} cycles/px) do not match "
                f"the hologram's ({a[0]:+.3f}, {a[1]:+.3f}): is it the right background?")
    return None


def channel_first_rgb_warning(data) -> str | None:
    """A warning for 3 x H x W data without fringes: probably an RGB image with channels first,
    which a hologram method would treat as 3 hologram frames."""
    shape = np.shape(data)
    if len(shape) != 3 or shape[0] != 3:
        return None
    if carrier(data) is not None:
        return None  # fringes: a 3-frame hologram stack after all
    return ("this 3 x H x W layer has no hologram fringes: if it is an RGB image with its channels "
            "first, it would run as 3 hologram frames. Move the channel axis last (in napari's console: "
            "viewer.add_image(np.moveaxis(layer.data, 0, -1), rgb=True)) to use the RGB methods.")
