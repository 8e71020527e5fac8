"""Simulated cells of known dry mass (homogeneous spheres, optics/cells.py) for the refocus,
compensation and measurement tests."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_diffpr.optics.cells import sphere_dry_mass_pg, sphere_phase

PX_UM, WL_UM, N_MEDIUM, N_CELL, N_SPHERE_MEDIUM = 0.2, 0.532, 1.333, 1.37, 1.335
SIZE = 256
# (y, x) µm, radius µm. Cells 3 and 4 touch (centre distance 8.6 µm, radii 4.5 + 4.0 µm; their
# blurred rims merge into one blob that the watershed must split).
CELLS = (((12.0, 12.0), 4.0), ((13.0, 34.0), 5.0), ((36.0, 17.0), 4.5), ((38.0, 25.4), 4.0),
         ((40.0, 41.0), 3.5))
# Soft rims: a 0.4 µm Gaussian blur (real cell edges are not hard sphere edges; a blur keeps
# the integral, so the dry mass is unchanged).
BLUR_UM = 0.4


@lru_cache(maxsize=4)
def scene(cells=CELLS, blur_um=BLUR_UM):
    """(phase rad float32 SIZE x SIZE, [(centre_um, radius_um, dry_mass_pg)])."""
    centers = [c for c, _ in cells]
    radii = [r for _, r in cells]
    phase = sphere_phase(SIZE, centers, radii, n_cell=N_CELL, n_medium=N_SPHERE_MEDIUM,
                         wavelength_um=WL_UM, pixel_size_um=PX_UM)
    if blur_um:
        phase = gaussian_filter(phase, blur_um / PX_UM).astype(np.float32)
    truth = [(c, r, sphere_dry_mass_pg(r, n_cell=N_CELL, n_medium=N_SPHERE_MEDIUM)) for c, r in cells]
    phase.setflags(write=False)
    return phase, truth


def match(table, truth):
    """Row index of the measured cell nearest each true centre, and its distance (µm)."""
    out = []
    for (cy, cx), _, _ in truth:
        d = np.hypot(table["centroid_y_um"].to_numpy() - cy, table["centroid_x_um"].to_numpy() - cx)
        out.append((int(np.argmin(d)), float(d.min())))
    return out
