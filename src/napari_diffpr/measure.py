"""Per-cell measurement of phase maps: segmentation, dry mass and the other columns, tracking.

``measure(phase_or_result, labels=None, ...)`` returns a pandas DataFrame with one row per cell
and frame. Formulas (φ the phase in radians, λ the vacuum wavelength, Δx the pixel size in the
sample plane, the sums over the cell's pixels):

- optical path difference ``OPD = φ λ / 2π`` (µm);
- integrated optical path ``∫OPD dA = λ/2π Σφ Δx²`` (µm³);
- **dry mass** ``m = (1/α) ∫OPD dA = λ/(2πα) Σφ Δx²`` (pg), α the specific refraction
  increment in mL/g = µm³/pg (0.18 by default; 0.18-0.21 for proteins and cell content):
  Barer, *Nature* 169, 366 (1952); Davies & Wilkins, *Nature* 169, 541 (1952); Popescu et al.,
  *Am. J. Physiol. Cell Physiol.* 295, C538 (2008). This is DryMass' "relative dry mass"
  (Müller et al., *BMC Bioinformatics* 19, 2018), relative to the surrounding medium;
- mean thickness ``h = mean(OPD) / (n_cell − n_medium)`` (µm), for a homogeneous cell of
  index ``cell_index`` (NaN when none is given);
- area ``N Δx²`` (µm²), centroid (µm, the pixel centres ``i Δx``, as napari's layer scale),
  mean and max phase (rad), and ``touches_edge`` for cells cut by the image border (their
  mass is incomplete).

Phase background: by default (``background="median"``) the median of the pixels outside every
cell is subtracted per frame before summing, so a residual offset does not bias the mass.

Default segmentation (:func:`segment`): Gaussian smoothing (1 px), a plane fitted through the
background found by iterative outlier rejection (:func:`..retrieval.background.fit_background`)
is subtracted, the threshold is ``threshold_sigma`` robust standard deviations of that
background (at least 0.05 rad); holes are filled, specks below ``min_area_um2`` removed, touching
cells split by a watershed on the distance transform (seeds: its h-maxima, h = ``split_px``),
and every cell is grown by ``expand_um`` into the background so the band-limited rim, where
the phase falls off gradually, is counted (``skimage.segmentation.expand_labels`` never merges
cells).

Time-lapse (N x H x W): cells of consecutive frames are linked by a minimum-cost assignment of
centroid distances (Hungarian method, ``scipy.optimize.linear_sum_assignment``) up to
``max_link_um`` (default: the median cell radius); a cell with no partner starts a new track.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InputError, ParameterError

COLUMNS = ("frame", "label", "track_id", "centroid_y_um", "centroid_x_um", "area_um2",
           "mean_phase_rad", "max_phase_rad", "integrated_opd_um3", "dry_mass_pg",
           "mean_thickness_um", "touches_edge")
UNITS = {"frame": "", "label": "", "track_id": "", "centroid_y_um": "µm", "centroid_x_um": "µm",
         "area_um2": "µm²", "mean_phase_rad": "rad", "max_phase_rad": "rad",
         "integrated_opd_um3": "µm³", "dry_mass_pg": "pg", "mean_thickness_um": "µm",
         "touches_edge": ""}
DEFAULT_ALPHA_ML_PER_G = 0.18
BACKGROUNDS = ("median", "none")


# ------------------------------------------------------------------------------ parameters

def _from_record(md: dict, *names):
    params = md.get("parameters", {}) or {}
    for name in names:
        for where in (params, md):
            v = where.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
                return float(v)
    return None


def physical_parameters(metadata: dict | None, *, wavelength_um=None, pixel_size_um=None,
                        medium_index=None) -> dict[str, Any]:
    """Wavelength (µm), pixel size (µm, sample plane) and medium index: the values given, else
    those in ``metadata`` (a Result's record or a layer's metadata: ``parameters.wavelength``,
    ``wavelength_um``, ``parameters.pixel_size``, ``pixel_size_um``, ``medium_index``), with
    where each came from."""
    md = metadata or {}
    out, source = {}, {}
    for key, given, names in (("wavelength_um", wavelength_um, ("wavelength", "wavelength_um")),
                              ("pixel_size_um", pixel_size_um, ("pixel_size", "pixel_size_um")),
                              ("medium_index", medium_index, ("medium_index", "n_medium"))):
        if given is not None:
            out[key], source[key] = float(given), "given"
        else:
            v = _from_record(md, *names)
            out[key], source[key] = v, ("metadata" if v is not None else "missing")
    if out["medium_index"] is None:
        out["medium_index"], source["medium_index"] = 1.333, "default"
    out["source"] = source
    return out


# ------------------------------------------------------------------------------ segmentation

def _robust_sigma(v: np.ndarray) -> float:
    med = np.median(v)
    return float(1.4826 * np.median(np.abs(v - med)))


def segment(phase, *, pixel_size_um: float | None = None, threshold: float | None = None,
            threshold_sigma: float = 4.0, min_area_um2: float | None = None,
            expand_um: float | None = None, split_px: float = 2.0) -> np.ndarray:
    """Label cells in a phase map (H x W, or N x H x W frame by frame): int32 labels, 0 =
    background, 1..n per frame. ``threshold`` (rad above the fitted background) overrides
    ``threshold_sigma``. Sizes in µm need ``pixel_size_um``; without it the defaults are
    20 px (area) and 4 px (growth). See the module docstring for the steps."""
    phase = np.asarray(phase, dtype=np.float32)
    if phase.ndim == 3:
        return np.stack([segment(p, pixel_size_um=pixel_size_um, threshold=threshold,
                                 threshold_sigma=threshold_sigma, min_area_um2=min_area_um2,
                                 expand_um=expand_um, split_px=split_px) for p in phase])
    if phase.ndim != 2:
        raise InputError(f"phase must be H x W or N x H x W, got shape {phase.shape}")
    from scipy import ndimage as ndi
    from skimage.morphology import h_maxima
    from skimage.segmentation import expand_labels, watershed

    from .retrieval.background import fit_background

    if not np.isfinite(phase).all():
        raise InputError("phase contains NaN or infinite values")
    px = pixel_size_um
    min_area_px = max(4, int(round(min_area_um2 / (px * px)))) if (min_area_um2 and px) else \
        (max(4, int(round(4.0 / (px * px)))) if px else 20)
    expand_px = int(round(expand_um / px)) if (expand_um is not None and px) else \
        (int(round(1.0 / px)) if px else 4)
    smooth = ndi.gaussian_filter(phase, 1.0)
    surface, bg = fit_background(smooth, 1, mask="auto")
    corrected = smooth - surface
    sigma = _robust_sigma(corrected[bg]) if bg.any() else _robust_sigma(corrected)
    level = threshold if threshold is not None else max(threshold_sigma * sigma, 0.05)
    mask = ndi.binary_fill_holes(corrected > level)
    comp, n = ndi.label(mask)
    mask = (np.bincount(comp.ravel(), minlength=n + 1) >= min_area_px)[comp] & mask
    if not mask.any():
        return np.zeros(phase.shape, dtype=np.int32)
    dist = ndi.distance_transform_edt(mask)
    seeds = ndi.label(h_maxima(ndi.gaussian_filter(dist, 1.0), split_px) & mask)[0]
    # every connected part gets at least one seed
    comp, n = ndi.label(mask)
    missing = np.setdiff1d(np.arange(1, n + 1), np.unique(comp[seeds > 0]))
    if missing.size:  # a part without a seed (e.g. a flat plateau): seed it at its deepest pixel
        next_id = int(seeds.max()) + 1
        for (y, x) in ndi.maximum_position(dist, comp, missing):
            seeds[y, x] = next_id
            next_id += 1
    labels = watershed(-dist, seeds, mask=mask)
    labels = expand_labels(labels, expand_px) if expand_px > 0 else labels
    return _relabel_sequential(labels).astype(np.int32)


def _relabel_sequential(labels: np.ndarray) -> np.ndarray:
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(labels)[0]


# ------------------------------------------------------------------------------ measurement

def _frame_table(phase: np.ndarray, labels: np.ndarray, frame: int, *, wl: float, px: float,
                 alpha: float, cell_index, medium_index: float, background: str) -> dict[str, np.ndarray]:
    from scipy import ndimage as ndi

    ids = np.unique(labels)
    ids = ids[ids > 0]
    if background == "median":
        outside = phase[labels == 0]
        if outside.size:
            phase = phase - np.float32(np.median(outside))
    lab = labels.ravel()
    ph = phase.ravel().astype(np.float64)
    size = int(ids.max()) + 1 if ids.size else 1
    count = np.bincount(lab, minlength=size)[ids].astype(np.float64)
    total = np.bincount(lab, weights=ph, minlength=size)[ids]
    yy, xx = np.indices(labels.shape)
    cy = np.bincount(lab, weights=yy.ravel().astype(np.float64), minlength=size)[ids] / count
    cx = np.bincount(lab, weights=xx.ravel().astype(np.float64), minlength=size)[ids] / count
    peak = np.asarray(ndi.maximum(phase, labels, ids), dtype=np.float64) if ids.size else np.zeros(0)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    opd = total * (wl / (2 * math.pi)) * px * px
    mean_phase = total / count
    if cell_index is None:
        thickness = np.full(ids.shape, np.nan)
    else:
        thickness = mean_phase * (wl / (2 * math.pi)) / (float(cell_index) - medium_index)
    return {"frame": np.full(ids.shape, frame, dtype=np.int64), "label": ids.astype(np.int64),
            "centroid_y_um": cy * px, "centroid_x_um": cx * px, "area_um2": count * px * px,
            "mean_phase_rad": mean_phase, "max_phase_rad": peak, "integrated_opd_um3": opd,
            "dry_mass_pg": opd / alpha, "mean_thickness_um": thickness,
            "touches_edge": np.isin(ids, border)}


def link_tracks(table, max_link_um: float | None = None):
    """Add (or replace) ``track_id`` (1, 2, ...): cells of consecutive frames linked by a
    minimum-cost assignment of centroid distances up to ``max_link_um`` (default: the median
    equivalent radius sqrt(area/π) of all cells). Returns the table."""
    from scipy.optimize import linear_sum_assignment

    df = table
    if len(df) == 0:
        df["track_id"] = np.zeros(0, dtype=np.int64)
        return df
    if max_link_um is None:
        max_link_um = float(np.median(np.sqrt(df["area_um2"].to_numpy() / math.pi)))
    track = np.zeros(len(df), dtype=np.int64)
    next_id = 1
    prev_idx = None
    for frame in sorted(df["frame"].unique()):
        idx = np.flatnonzero(df["frame"].to_numpy() == frame)
        if prev_idx is None or prev_idx.size == 0:
            for i in idx:
                track[i], next_id = next_id, next_id + 1
        else:
            a = df[["centroid_y_um", "centroid_x_um"]].to_numpy()[prev_idx]
            b = df[["centroid_y_um", "centroid_x_um"]].to_numpy()[idx]
            d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
            rows, cols = linear_sum_assignment(np.where(d <= max_link_um, d, 1e12))
            matched = {c: r for r, c in zip(rows, cols) if d[r, c] <= max_link_um}
            for j, i in enumerate(idx):
                if j in matched:
                    track[i] = track[prev_idx[matched[j]]]
                else:
                    track[i], next_id = next_id, next_id + 1
        prev_idx = idx
    df["track_id"] = track
    return df


def relabel_to_tracks(labels: np.ndarray, table) -> np.ndarray:
    """Labels (N x H x W) in which each cell's value is its ``track_id``, so one cell keeps
    its colour (and its number) through the time-lapse."""
    labels = np.asarray(labels)
    out = np.zeros_like(labels, dtype=np.int32)
    stack = labels if labels.ndim == 3 else labels[None]
    target = out if labels.ndim == 3 else out[None]
    for frame in range(stack.shape[0]):
        rows = table[table["frame"] == frame]
        lut = np.zeros(int(stack[frame].max()) + 1, dtype=np.int32)
        lut[rows["label"].to_numpy()] = rows["track_id"].to_numpy()
        target[frame] = lut[stack[frame]]
    return out


def measure(phase_or_result, labels=None, *, wavelength_um: float | None = None,
            pixel_size_um: float | None = None, medium_index: float | None = None,
            refractive_increment_ml_per_g: float = DEFAULT_ALPHA_ML_PER_G,
            cell_index: float | None = None, background: str = "median", track: bool = True,
            max_link_um: float | None = None, return_labels: bool = False,
            metadata: dict | None = None, **segment_kwargs):
    """One row per cell (and frame) of a phase map in radians (H x W or N x H x W, a Result,
    or anything with ``.phase``/``.data`` and ``.metadata``): the columns of ``COLUMNS``.

    labels: int array of the phase's shape (0 = background); None segments with
    :func:`segment` (``segment_kwargs`` go there). wavelength_um, pixel_size_um,
    medium_index: taken from the result's metadata when not given (wavelength and pixel size
    are required). refractive_increment_ml_per_g: α for the dry mass. cell_index: the cells'
    refractive index, for the mean thickness. background: "median" subtracts the median phase
    outside the cells per frame, "none" sums the phase as it is. track: link cells across
    frames (``track_id``; for single images track_id = label). With ``return_labels`` returns
    ``(table, labels)``; labels made here for a time-lapse are renumbered so a cell's label is
    its track_id.

    The table's ``attrs`` hold the units, the parameters used and where they came from."""
    import pandas as pd

    if hasattr(phase_or_result, "phase"):
        phase = phase_or_result.phase
        md = dict(getattr(phase_or_result, "metadata", {}) or {})
    elif hasattr(phase_or_result, "data") and hasattr(phase_or_result, "metadata"):
        phase, md = phase_or_result.data, dict(phase_or_result.metadata or {})
    else:
        phase, md = phase_or_result, {}
    md.update(metadata or {})
    phase = np.asarray(phase, dtype=np.float32)
    if phase.ndim not in (2, 3):
        raise InputError(f"phase must be H x W or N x H x W (radians), got shape {phase.shape}")
    if not np.isfinite(phase).all():
        raise InputError("phase contains NaN or infinite values; measure needs a finite phase map")
    if background not in BACKGROUNDS:
        raise ParameterError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    optics = physical_parameters(md, wavelength_um=wavelength_um, pixel_size_um=pixel_size_um,
                                 medium_index=medium_index)
    wl, px, nm = optics["wavelength_um"], optics["pixel_size_um"], optics["medium_index"]
    missing = [n for n, v in (("wavelength_um", wl), ("pixel_size_um", px)) if v is None]
    if missing:
        raise ParameterError(f"measure needs {' and '.join(missing)} (µm; pixel size in the sample "
                             "plane): give them, or measure a result whose record has them")
    alpha = float(refractive_increment_ml_per_g)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ParameterError(f"refractive_increment_ml_per_g must be > 0, got {alpha!r}")
    if cell_index is not None and float(cell_index) == nm:
        raise ParameterError(f"cell_index equals the medium index ({nm}): no thickness can be derived")
    made_here = labels is None
    if made_here:
        labels = segment(phase, pixel_size_um=px, **segment_kwargs)
    else:
        if segment_kwargs:
            raise ParameterError(f"segmentation options {sorted(segment_kwargs)} need labels=None")
        labels = np.asarray(labels)
        if labels.shape != phase.shape:
            raise InputError(f"labels have shape {labels.shape}, the phase {phase.shape}; they must match")
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.all(np.mod(labels, 1) == 0):
                raise InputError("labels must be whole numbers (0 = background)")
            labels = labels.astype(np.int64)
        if labels.min() < 0:
            raise InputError("labels must be >= 0 (0 = background)")
    stack_p = phase if phase.ndim == 3 else phase[None]
    stack_l = labels if labels.ndim == 3 else labels[None]
    parts = [_frame_table(p, lab, i, wl=wl, px=px, alpha=alpha, cell_index=cell_index,
                          medium_index=nm, background=background)
             for i, (p, lab) in enumerate(zip(stack_p, stack_l))]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    df = pd.DataFrame(data)
    if track and phase.ndim == 3:
        df = link_tracks(df, max_link_um)
    else:
        df["track_id"] = df["label"].to_numpy()
    df = df[list(COLUMNS)].reset_index(drop=True)
    if made_here and phase.ndim == 3 and track:
        labels = relabel_to_tracks(labels, df)
        df["label"] = df["track_id"]
        df = df.sort_values(["frame", "label"]).reset_index(drop=True)
    df.attrs.update({
        "units": dict(UNITS),
        "wavelength_um": wl, "pixel_size_um": px, "medium_index": nm,
        "refractive_increment_ml_per_g": alpha, "cell_index": cell_index, "background": background,
        "parameter_source": optics["source"],
        "segmentation": "segment() defaults" if made_here else "labels given",
        "dry_mass_formula": "m = λ/(2π α) Σ φ Δx² (Barer 1952; Popescu 2008)",
    })
    return (df, labels) if return_labels else df


def tracks_data(table, pixel_size_um: float) -> np.ndarray:
    """napari Tracks data ``(track_id, frame, y, x)`` in pixels (give the layer the phase
    layer's scale), sorted by track then frame."""
    df = table.sort_values(["track_id", "frame"])
    return np.column_stack([df["track_id"].to_numpy(), df["frame"].to_numpy(),
                            df["centroid_y_um"].to_numpy() / pixel_size_um,
                            df["centroid_x_um"].to_numpy() / pixel_size_um]).astype(np.float64)
