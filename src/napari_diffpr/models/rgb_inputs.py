"""Physics-normalised network input for chromatic RGB images (issue 8, item 1).

The shipped RGB networks saw raw channel contrasts, so they learned one microscope: its
defocus, its focal-shift order, its pixel size. Here the user's optics (the parameters of
``tie``) turn the image into features that mean the same on every microscope:

0. the TIE phase (radians at the green channel's wavelength, mildly regularised), in the
   network's phase units: the physics estimate the network corrects (``residual_channel`` 0);
1. the axial intensity derivative as a phase Laplacian, ``-n (dI/dz) / I0 * px^2 * 2 pi / lambda``
   (rad/px^2, x ``LAPLACIAN_GAIN``): the TIE's right-hand side, independent of the defocus
   distances and of the order of the focal shift (the slope is fitted against the defocus values
   the user gives, so a reversed shift flips the lever arm and the slope together);
2. the in-focus intensity ``I0 - 1`` (absorption, and the in-focus contrast of the detection
   pupil), / ``RGB_CONTRAST``;
3. the curvature of intensity against defocus (quadratic term of the three planes, times the
   mean squared lever arm: intensity units, / ``RGB_CONTRAST``) - the non-linear part the TIE
   ignores; even in z, so it does not depend on the focal-shift order either;
4. constant: ``log`` of the Fresnel spread ``rms(dz) * lambda / (n px^2)`` (how far beyond the
   linear TIE regime the defocus goes, in pixels);
5. constant: ``log1p`` of the partial-coherence blur radius ``rms|dz| tan(asin(NA_ill/n)) / px``;
6. constant: ``log`` of the detection cutoff ``NA_det px / lambda`` (cycles/px);
7. constant: the focal-shift order, the correlation of the channels' wavelengths with their
   defocus (-1: red before the sample and blue beyond it, +1: the reverse). Channels 0-3 are
   order-free only for an achromatic image: the detection pupil passes NA/lambda, so blue shows
   finer in-focus detail than red, and that chromatic difference enters the fitted slope with the
   sign of the order. The network needs the order to remove it.

Channels 0-3 are computed with the user's wavelengths, defocus, pixel size and medium index;
4-6 tell the network the regime so it can correct the TIE differently for each microscope.
NumPy; the TIE solve is ``retrieval.tie``'s.
"""
from __future__ import annotations

import math

import numpy as np

RGB_PHYSICS_INPUT = ("rgb-physics: TIE phase, TIE Laplacian, in-focus contrast, defocus curvature, "
                     "log Fresnel spread, log1p blur px, log cutoff, focal-shift order")
CHANNELS = 8
FEATURE_REGULARIZATION = 0.05   # TIE Tikhonov level of channel 0 (the network removes the slow noise)
LAPLACIAN_GAIN = 10.0
RGB_CONTRAST = 0.1
CLAMP = 8.0
OPTICS_KEYS = ("wavelengths_um", "defocus_um", "pixel_size_um", "medium_index", "na_illumination",
               "na_detection")
DEFAULT_OPTICS = {"wavelengths_um": (0.63, 0.55, 0.45), "defocus_um": (-1.5, 0.0, 1.5), "pixel_size_um": 0.2,
                  "medium_index": 1.33, "na_illumination": 0.3, "na_detection": 0.55}


def check_optics(optics: dict | None) -> dict:
    """``optics`` with defaults filled in and checked (ParameterError)."""
    from ..errors import ParameterError

    o = {**DEFAULT_OPTICS, **(optics or {})}
    o["wavelengths_um"] = tuple(float(v) for v in o["wavelengths_um"])
    o["defocus_um"] = tuple(float(v) for v in o["defocus_um"])
    for k in ("pixel_size_um", "medium_index", "na_illumination", "na_detection"):
        o[k] = float(o[k])
    if len(o["wavelengths_um"]) != 3 or len(o["defocus_um"]) != 3:
        raise ParameterError("wavelengths and defocus need one value per channel (R, G, B)")
    if np.ptp(o["defocus_um"]) <= 0:
        raise ParameterError(f"the channels' defocus values {o['defocus_um']} µm are all equal; the chromatic "
                             "methods need at least two different defocus distances")
    if not o["na_illumination"] < o["medium_index"]:
        raise ParameterError(f"na_illumination {o['na_illumination']} must be below the medium index "
                             f"{o['medium_index']}")
    return o


def physics_features(rgb: np.ndarray, optics: dict | None = None, config: dict | None = None) -> np.ndarray:
    """Features (8, H, W) float32 of one RGB image (H, W, 3, or 3, H, W) under ``optics``
    (keys ``OPTICS_KEYS``; missing ones from ``DEFAULT_OPTICS``)."""
    from ..errors import InputError
    from ..retrieval.tie import solve_poisson

    o = check_optics(optics)
    arr = np.asarray(rgb, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3:
        arr = np.moveaxis(arr, -1, 0)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise InputError(f"an RGB image must be H x W x 3; got shape {np.shape(rgb)}")
    means = arr.reshape(3, -1).mean(axis=1, dtype=np.float64)
    if np.any(means <= 0):
        raise InputError("an RGB channel has a mean intensity <= 0; the chromatic methods need positive "
                         "intensities (subtract the camera offset, not the background)")
    planes = arr / means.astype(np.float32)[:, None, None]
    z = np.asarray(o["defocus_um"], dtype=np.float64)
    zc = z - z.mean()
    szz = float(np.sum(zc ** 2))
    slope = np.tensordot((zc / szz).astype(np.float32), planes, axes=(0, 0))
    mean_plane = planes.mean(axis=0)
    i0 = mean_plane - slope * np.float32(z.mean())
    # quadratic term: projection on the part of zc^2 orthogonal to 1 and zc
    q = zc ** 2
    q = q - q.mean() - (np.sum(q * zc) / szz) * zc
    sqq = float(np.sum(q ** 2))
    if sqq > 1e-6 * szz ** 2:
        curv = np.tensordot((q / sqq).astype(np.float32), planes, axes=(0, 0)) * np.float32(szz / 3)
    else:
        curv = np.zeros_like(slope)
    lam = o["wavelengths_um"][1]
    n, px = o["medium_index"], o["pixel_size_um"]
    i0_safe = np.clip(i0, 0.2, None)
    rhs = -n * slope / i0_safe                                   # lap(OPD), 1/µm
    opd = solve_poisson(rhs.astype(np.float32), px, FEATURE_REGULARIZATION, "neumann").astype(np.float32)
    opd -= np.median(opd[::2, ::2])
    tie = 2 * math.pi / lam * opd
    from .inputs import phase_to_network

    rms = math.sqrt(szz / 3)
    sin_t = o["na_illumination"] / n
    blur_px = rms * sin_t / math.sqrt(1 - sin_t ** 2) / px
    wl = np.asarray(o["wavelengths_um"], dtype=np.float64)
    wc = wl - wl.mean()
    order = float(np.sum(wc * zc) / math.sqrt(max(np.sum(wc ** 2) * szz, 1e-30))) if np.sum(wc ** 2) > 0 else 0.0
    consts = (math.log(rms * lam / (n * px * px)) / 2.0 - 1.0,
              math.log1p(blur_px) - 1.0,
              math.log(o["na_detection"] * px / lam) + 1.5,
              order)
    h, w = slope.shape
    feats = [phase_to_network(tie, config),
             rhs * np.float32(px * px * 2 * math.pi / lam * LAPLACIAN_GAIN),
             (i0 - 1) / RGB_CONTRAST,
             curv / RGB_CONTRAST]
    out = np.empty((CHANNELS, h, w), dtype=np.float32)
    for i, f in enumerate(feats):
        out[i] = np.clip(f, -CLAMP * 4 if i == 0 else -CLAMP, CLAMP * 4 if i == 0 else CLAMP)
    for i, c in enumerate(consts):
        out[4 + i] = np.float32(c)
    if not np.isfinite(out).all():
        raise InputError("the RGB image gave non-finite features; is it a brightfield image with positive "
                         "intensities?")
    return out


def physics_features_batch(rgb, optics_list, config: dict | None = None):
    """Torch (B, 8, H, W) from RGB images (B, 3, H, W) and one optics dict per image."""
    import torch

    x = rgb.detach().cpu().float().numpy()
    return torch.from_numpy(np.stack([physics_features(x[i], optics_list[i], config) for i in range(len(x))]))
