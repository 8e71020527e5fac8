"""Per-sample randomised chromatic RGB brightfield rendering (issue 8, item 5).

``simulate.rgb_batch`` draws the defocus once per batch around one fixed microscope. The
physics-aware RGB models must work on *any* chromatic microscope, so here every sample gets its
own microscope, drawn from :data:`RGB_WIDE`:

- chromatic focal shift in either order (red beyond the sample and blue before it, or the
  reverse), outer channels at |defocus| 0.3–4 µm (log-uniform), green anywhere in between;
- pixel size 0.08–0.5 µm (log-uniform); air or water; detection NA 0.25–0.95 (at most 0.95 n);
  illumination NA 10–90 % of it;
- channel centres jittered by ±15 nm; Gaussian channel responses from narrow (σ 15 nm) to
  broad (σ 70 nm); the per-channel ("channel", seed 001 / cvdm) or per-wavelength
  ("wavelength", physically consistent) defocus model, half each;
- 100–20 000 photons (log-uniform), 0–5 e⁻ read noise.

Cells have a physical size: phantoms are drawn on a canvas of about 0.2 µm per pixel whose cell
radii are fractions of a 128-px (25.6 µm) design field, with more cells on a larger canvas, and
resampled to the sample's pixel size (×0.7–1.4 in size). A B cell is then 7–8 µm across at every
pixel size and frame size (~50 px at 0.16 µm/px, ~16 px at 0.5 µm/px), and a 256² frame holds
about four times the cells of a 128² frame, not larger ones. (Before 2026-12-05 the cell radii
were fractions of the frame: cells of the same size in pixels at every pixel size, and twice as
large at 256² as at 128².)
Families: the project's ``bcell``, ``wbc``, ``hela``, ``3t3`` and red blood cells (``rbc``,
Evans–Fung biconcave discs, 6.6–8.6 µm across); ``beads`` are held out of training.

Everything is drawn from one ``torch.Generator``: the same generator gives the same samples.
The optics dict of a sample also has ``defocus_per_channel_um``: what each channel effectively
records (for the per-wavelength model the spectral average of the focal-shift curve), i.e. what
the learned models are given, as a user gives the defocus measured per colour channel.
"""
from __future__ import annotations

import math

RGB_WIDE = {
    "kinds": ("bcell", "wbc", "hela", "3t3", "rbc"),
    "spread_um": (0.3, 4.0),          # |defocus| of the red channel, log-uniform; blue 0.5-1.5 x it
    "pixel_um": (0.08, 0.5),          # log-uniform
    "media": (1.0, 1.33),
    "na_detection": (0.25, 0.95),
    "na_ill_fraction": (0.1, 0.9),    # NA_ill / NA_det
    "centre_jitter_um": 0.015,
    "channel_sigma_um": (0.015, 0.07),
    "photons": (100.0, 20000.0),      # log-uniform
    "read_noise": (0.0, 5.0),
    "cell_scale": (0.7, 1.4),         # x the 0.2 µm/px design size of the phantoms
    "phase_gain": (0.3, 1.5),         # x the phantom's phase (1-6 rad peaks; rbc ~1-2 rad)
}
HELD_OUT_KIND = "beads"
NOMINAL_WAVELENGTHS = (0.63, 0.55, 0.45)
PHANTOM_DESIGN_PIXEL_UM = 0.2
PHANTOM_DESIGN_SIZE = 128     # px at PHANTOM_DESIGN_PIXEL_UM: the field the phantoms' cell radii refer to
MAX_CANVAS = 4096             # px: the design canvas of a 1024² frame at 0.5 µm/px is ~3700 px
N_WAVELENGTHS = 24
# condenser directions of the source-sum rendering (optics.brightfield, illumination="sources"):
# at least SOURCE_POINTS, and as many as keep the image within SOURCE_TOLERANCE of the continuum
# (optics.brightfield.source_points_needed): 19 up to NA 0.3/0.55, but ~240 where the condenser
# nearly fills a 0.95 objective, which 19 directions miss by ~75 % of the image contrast (session 13)
SOURCE_POINTS = 19
SOURCE_TOLERANCE = 0.06


def _u(g, lo, hi):
    import torch
    return float(lo + (hi - lo) * torch.rand((), generator=g))


def _lu(g, lo, hi):
    return math.exp(_u(g, math.log(lo), math.log(hi)))


def draw_optics(g) -> dict:
    """One random microscope from ``RGB_WIDE`` (plain floats and tuples)."""
    import torch

    w = RGB_WIDE
    order = 1.0 if float(torch.rand((), generator=g)) < 0.5 else -1.0
    d = _lu(g, *w["spread_um"])
    dz = (order * d, order * d * _u(g, -0.3, 0.3), -order * min(w["spread_um"][1], max(w["spread_um"][0], d * _u(g, 0.5, 1.5))))
    jit = w["centre_jitter_um"]
    wls = tuple(c + _u(g, -jit, jit) for c in NOMINAL_WAVELENGTHS)
    n = w["media"][int(torch.randint(2, (), generator=g))]
    na_d = min(_u(g, *w["na_detection"]), 0.95 * n)
    return {
        "defocus_um": dz,
        "wavelengths_um": wls,
        "pixel_size_um": _lu(g, *w["pixel_um"]),
        "medium_index": n,
        "na_detection": na_d,
        "na_illumination": na_d * _u(g, *w["na_ill_fraction"]),
        "channel_sigma_um": _u(g, *w["channel_sigma_um"]),
        "defocus_model": "channel" if float(torch.rand((), generator=g)) < 0.5 else "wavelength",
        "photons": _lu(g, *w["photons"]),
        "read_noise": _u(g, *w["read_noise"]),
    }


def red_cells(size: int, pixel_um: float, g, wavelength_um: float):
    """A field (1, 1, size, size) of 1-6 red blood cells per 25.6 µm square (Evans-Fung biconcave discs, radius
    3.3-4.3 µm, refractive increment 0.04-0.08) in radians at ``wavelength_um``; 0 background."""
    import torch

    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    out = torch.zeros(size, size)
    area = (size * pixel_um / (PHANTOM_DESIGN_SIZE * PHANTOM_DESIGN_PIXEL_UM)) ** 2
    for _ in range(max(1, math.ceil(int(torch.randint(1, 7, (), generator=g)) * area))):
        r_um = _u(g, 3.3, 4.3)
        r = r_um / pixel_um
        cy, cx = _u(g, 0, size), _u(g, 0, size)
        ang, asp = _u(g, 0, math.pi), _u(g, 1.0, 1.15)
        dy, dx = y - cy, x - cx
        u = (dx * math.cos(ang) + dy * math.sin(ang)) / asp
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        rho2 = (u * u + v * v) / (r * r)
        inside = rho2 < 1
        s = r_um / 3.91   # Evans-Fung coefficients (µm) for a 3.91 µm radius, scaled
        h = torch.sqrt((1 - rho2).clamp_min(0)) * (0.81 + 7.83 * rho2 - 4.39 * rho2 * rho2) * s
        dn = _u(g, 0.04, 0.08)
        out = torch.maximum(out, torch.where(inside, 2 * math.pi * dn * h / wavelength_um, torch.zeros(())))
    return out[None, None]


def phantom(kind: str, size: int, pixel_um: float, g, wavelength_um: float = 0.55):
    """One phantom (1, 1, size, size) radians of ``kind`` with a physical cell size for
    ``pixel_um`` and a random phase gain."""
    import torch.nn.functional as F

    from .simulate import phantom_batch

    if kind == "rbc":
        ph = red_cells(size, pixel_um, g, wavelength_um)
    else:
        zoom = PHANTOM_DESIGN_PIXEL_UM / pixel_um * _lu(g, *RGB_WIDE["cell_scale"])
        render = int(min(MAX_CANVAS, max(16, round(size / zoom))))
        ph = phantom_batch(1, render, kinds=kind, generator=g, reference_size=PHANTOM_DESIGN_SIZE).float()
        if render != size:
            ph = F.interpolate(ph, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=render > size).clamp_min(0)
    return ph * _lu(g, *RGB_WIDE["phase_gain"]) if kind != "beads" else ph * _lu(g, 0.5, 1.5)


def source_directions(optics: dict) -> int:
    """Condenser directions of this microscope's source-sum rendering (see SOURCE_TOLERANCE)."""
    from .brightfield import source_points_needed

    return source_points_needed(optics["na_illumination"], optics["na_detection"], SOURCE_TOLERANCE,
                                minimum=SOURCE_POINTS)


def render(phase, optics: dict, g, noise: bool = True, illumination: str = "blur"):
    """RGB image (1, 3, H, W) of ``phase`` (1, 1, H, W, radians at the green channel's
    wavelength) through the microscope ``optics`` (a :func:`draw_optics` dict). ``illumination``:
    ``"blur"`` (the disk blur) or ``"sources"`` (the sum over :func:`source_directions` condenser
    directions, which also moves the objective's pupil across the object's spectrum; ~20x the
    cost, more where the condenser is open)."""
    import torch

    from .brightfield import forward

    o = optics
    return forward(phase.float(), pixel_size_um=o["pixel_size_um"], wavelengths=o["wavelengths_um"],
                   defocus_um=torch.tensor([o["defocus_um"]], dtype=torch.float32),
                   na_illumination=torch.tensor([o["na_illumination"]]), na_detection=o["na_detection"],
                   n_medium=o["medium_index"], reference_wavelength=o["wavelengths_um"][1],
                   n_wavelengths=N_WAVELENGTHS,
                   photons=torch.tensor([o["photons"]]) if noise else None,
                   read_noise=torch.tensor([o["read_noise"]]), generator=g,
                   channel_sigma_um=o["channel_sigma_um"], defocus_model=o["defocus_model"],
                   illumination=illumination, n_sources=source_directions(o))


def sample(size: int, g, kinds=None, optics: dict | None = None, noise: bool = True, illumination: str = "blur"):
    """(rgb (1, 3, H, W), phase (1, 1, H, W), optics) with a random kind from ``kinds`` (default
    the training families) and random optics unless ``optics`` is given (missing keys drawn);
    ``illumination`` as in :func:`render`."""
    import torch

    kinds = tuple(kinds or RGB_WIDE["kinds"])
    kind = kinds[int(torch.randint(len(kinds), (), generator=g))]
    drawn = draw_optics(g)
    o = {**drawn, **(optics or {})}
    ph = phantom(kind, size, o["pixel_size_um"], g, o["wavelengths_um"][1])
    img = render(ph, o, g, noise, illumination)
    info = dict(o, kind=kind, defocus_per_channel_um=per_channel_defocus(o), illumination=illumination)
    if illumination == "sources":
        info["n_sources"] = source_directions(o)
    return img, ph, info


def per_channel_defocus(optics: dict) -> tuple[float, float, float]:
    """The defocus each channel effectively records (what a user measures per colour channel):
    the given values for the per-channel model, their spectral average for the per-wavelength one
    (retrieval.tie.effective_defocus)."""
    from ..retrieval.tie import effective_defocus

    if optics.get("defocus_model", "channel") == "channel":
        return tuple(float(v) for v in optics["defocus_um"])
    return effective_defocus(optics["wavelengths_um"], optics["defocus_um"], optics["channel_sigma_um"])
