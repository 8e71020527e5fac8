"""Phase phantoms of cells that look like the paper's data (seed 000 §5.1): cells on a
zero-phase background, each with a membrane ridge and sinusoidal ruffles, granular
cytoplasm/speckle and a nucleus (lobed in white blood cells, with nucleoli in spread cells).

Kinds: ``"bcell"``, ``"wbc"`` (small round cells), ``"hela"``, ``"3t3"`` (spread cells, 3T3
elongated with protrusions), ``"beads"`` (homogeneous spheres) and ``"mixed"`` (all of them in
one field). Phase in radians; the background is exactly 0 and every cell pixel is >= 0.

One vectorised torch renderer draws every kind: a kind is only a set of parameter ranges.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

KINDS = ("bcell", "wbc", "hela", "3t3", "beads", "mixed")
CELL_KINDS = ("bcell", "wbc", "hela", "3t3", "beads")  # what a "mixed" field draws from
MAX_CELLS = 6

# Per-cell parameters, each drawn uniformly in [low, high] for the cell's kind. Lengths are
# fractions of the cell radius R unless named *_px; R itself is a fraction of the image size.
_PARAMS = ("radius", "aspect", "harm", "height", "body_h", "body_p",
           "nuc_off", "nuc_r", "nuc_aspect", "nuc_harm", "nuc_h",
           "nucleoli_h", "nucleoli_sigma_px",
           "ridge_h", "ridge_depth_px", "ridge_width_px", "ridge_m",
           "ruffle_h", "ruffle_period_px", "texture", "granule_h")
_P = {name: i for i, name in enumerate(_PARAMS)}

_RANGES = {  # kind -> {param: (low, high)}
    "bcell": dict(radius=(0.10, 0.16), aspect=(1.0, 1.15), harm=(0.0, 0.04), height=(0.8, 1.0),
                  body_h=(0.55, 0.75), body_p=(0.5, 0.5), nuc_off=(0.0, 0.15), nuc_r=(0.6, 0.75),
                  nuc_aspect=(1.0, 1.1), nuc_harm=(0.0, 0.05), nuc_h=(0.35, 0.5),
                  nucleoli_h=(0.0, 0.04), nucleoli_sigma_px=(1.0, 2.0),
                  ridge_h=(0.08, 0.15), ridge_depth_px=(1.0, 2.5), ridge_width_px=(0.7, 1.4),
                  ridge_m=(4, 10), ruffle_h=(0.02, 0.05), ruffle_period_px=(3.0, 5.0),
                  texture=(0.15, 0.3), granule_h=(0.04, 0.08)),
    "wbc": dict(radius=(0.09, 0.15), aspect=(1.0, 1.2), harm=(0.0, 0.06), height=(0.8, 1.0),
                body_h=(0.5, 0.7), body_p=(0.5, 0.5), nuc_off=(0.0, 0.2), nuc_r=(0.45, 0.6),
                nuc_aspect=(1.1, 1.5), nuc_harm=(0.15, 0.3), nuc_h=(0.3, 0.45),
                nucleoli_h=(0.0, 0.03), nucleoli_sigma_px=(1.0, 2.0),
                ridge_h=(0.08, 0.15), ridge_depth_px=(1.0, 2.5), ridge_width_px=(0.7, 1.4),
                ridge_m=(5, 12), ruffle_h=(0.03, 0.06), ruffle_period_px=(3.0, 5.0),
                texture=(0.25, 0.4), granule_h=(0.1, 0.2)),
    "hela": dict(radius=(0.18, 0.28), aspect=(1.0, 1.8), harm=(0.05, 0.15), height=(0.8, 1.0),
                 body_h=(0.3, 0.45), body_p=(0.25, 0.4), nuc_off=(0.0, 0.2), nuc_r=(0.3, 0.4),
                 nuc_aspect=(1.0, 1.3), nuc_harm=(0.0, 0.06), nuc_h=(0.45, 0.6),
                 nucleoli_h=(0.1, 0.25), nucleoli_sigma_px=(1.5, 3.0),
                 ridge_h=(0.05, 0.1), ridge_depth_px=(1.5, 4.0), ridge_width_px=(0.8, 1.8),
                 ridge_m=(6, 16), ruffle_h=(0.03, 0.08), ruffle_period_px=(3.0, 6.0),
                 texture=(0.2, 0.4), granule_h=(0.05, 0.12)),
    "3t3": dict(radius=(0.18, 0.30), aspect=(2.0, 3.5), harm=(0.1, 0.25), height=(0.8, 1.0),
                body_h=(0.25, 0.4), body_p=(0.2, 0.35), nuc_off=(0.0, 0.15), nuc_r=(0.25, 0.35),
                nuc_aspect=(1.2, 1.6), nuc_harm=(0.0, 0.05), nuc_h=(0.5, 0.65),
                nucleoli_h=(0.1, 0.2), nucleoli_sigma_px=(1.5, 3.0),
                ridge_h=(0.05, 0.1), ridge_depth_px=(1.5, 4.0), ridge_width_px=(0.8, 1.8),
                ridge_m=(6, 16), ruffle_h=(0.04, 0.1), ruffle_period_px=(3.0, 6.0),
                texture=(0.2, 0.4), granule_h=(0.05, 0.12)),
    "beads": dict(radius=(0.05, 0.12), aspect=(1.0, 1.0), harm=(0.0, 0.0), height=(0.5, 1.0),
                  body_h=(1.0, 1.0), body_p=(0.5, 0.5), nuc_off=(0.0, 0.0), nuc_r=(0.5, 0.5),
                  nuc_aspect=(1.0, 1.0), nuc_harm=(0.0, 0.0), nuc_h=(0.0, 0.0),
                  nucleoli_h=(0.0, 0.0), nucleoli_sigma_px=(1.0, 1.0),
                  ridge_h=(0.0, 0.0), ridge_depth_px=(1.0, 1.0), ridge_width_px=(1.0, 1.0),
                  ridge_m=(4, 4), ruffle_h=(0.0, 0.0), ruffle_period_px=(4.0, 4.0),
                  texture=(0.0, 0.0), granule_h=(0.0, 0.0)),
}
# kind -> (min cells, max cells, typical peak phase range in rad)
_SCENE = {"bcell": (1, 3, (2.0, 4.0)), "wbc": (1, 4, (2.0, 5.0)), "hela": (1, 2, (3.0, 6.0)),
          "3t3": (1, 2, (1.5, 4.0)), "beads": (2, 5, (1.0, 5.0)), "mixed": (3, 6, (1.0, 6.0))}
_MIXED_SIZE = 0.75  # cells in a mixed field are smaller so that several fit
_N_HARM = 4         # boundary harmonics k = 2..5


def _range_table():
    import torch

    lo = torch.tensor([[_RANGES[k][p][0] for p in _PARAMS] for k in CELL_KINDS])
    hi = torch.tensor([[_RANGES[k][p][1] for p in _PARAMS] for k in CELL_KINDS])
    return lo, hi


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise ParameterError(f"phantom kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    return kind


def _uniform(shape, generator, device):  # noqa: D103
    import torch

    gdev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gdev).to(device)


def _band_noise(n, h, w, center_px, generator, device):
    """Unit-variance random texture with features about ``center_px`` pixels across."""
    import torch

    white = torch.randn((n, h, w), generator=generator,
                        device=generator.device if generator is not None else device).to(device)
    fy = torch.fft.fftfreq(h, device=device).reshape(h, 1)
    fx = torch.fft.rfftfreq(w, device=device).reshape(1, -1)
    f = torch.sqrt(fy * fy + fx * fx)
    f0 = 1.0 / center_px
    band = torch.exp(-0.5 * ((f - f0) / (0.5 * f0)) ** 2)
    tex = torch.fft.irfft2(torch.fft.rfft2(white) * band, s=(h, w))
    return tex / tex.flatten(1).std(dim=1).clamp_min(1e-12).reshape(n, 1, 1)


def _radial(dy, dx, theta, aspect, harm_amp, harm_phase):
    """Normalised radius rho (1 on the boundary) of an irregular ellipse, and the local boundary
    radius scale used to turn (1 - rho) into pixels."""
    import torch

    c, s = torch.cos(theta), torch.sin(theta)
    u = (dx * c + dy * s) / aspect
    v = -dx * s + dy * c
    r = torch.sqrt(u * u + v * v)
    alpha = torch.atan2(v, u)
    wobble = torch.ones_like(r)
    for i in range(harm_amp.shape[-1]):
        k = i + 2
        wobble = wobble + harm_amp[..., i, None, None] * torch.cos(k * alpha + harm_phase[..., i, None, None])
    wobble = wobble.clamp_min(0.3)
    return r / wobble, alpha, wobble


def render(n: int, shape, kinds, generator=None, device="cpu", max_phase=None):
    """Draw ``n`` phantoms of ``shape`` (H, W) on ``device``; ``kinds`` is one kind per image.
    Returns a float32 tensor ``(n, 1, H, W)`` in radians."""
    import torch

    h, w = int(shape[0]), int(shape[1])
    size = float(min(h, w))
    device = torch.device(device)
    lo, hi = _range_table()
    lo, hi = lo.to(device), hi.to(device)

    image_kind = torch.tensor([KINDS.index(k) for k in kinds], device=device)
    u_scene = _uniform((n, 3), generator, device)
    counts = torch.tensor([_SCENE[k][0] for k in kinds], device=device) + torch.floor(
        u_scene[:, 0] * torch.tensor([_SCENE[k][1] - _SCENE[k][0] + 1 for k in kinds], device=device))
    peak_lo = torch.tensor([_SCENE[k][2][0] for k in kinds], device=device)
    peak_hi = torch.tensor([_SCENE[k][2][1] for k in kinds], device=device)
    peak = peak_lo + u_scene[:, 1] * (peak_hi - peak_lo)

    # kind of each cell: the image's kind, or a random cell kind in a mixed field
    u_kind = _uniform((n, MAX_CELLS), generator, device)
    mixed = image_kind == KINDS.index("mixed")
    random_kind = torch.floor(u_kind * len(CELL_KINDS)).long().clamp_max(len(CELL_KINDS) - 1)
    cell_kind = torch.where(mixed[:, None], random_kind, image_kind[:, None].clamp_max(len(CELL_KINDS) - 1))
    u = _uniform((n, MAX_CELLS, len(_PARAMS)), generator, device)
    prm = lo[cell_kind] + u * (hi[cell_kind] - lo[cell_kind])
    prm[..., _P["radius"]] *= torch.where(mixed[:, None], _MIXED_SIZE, 1.0) * size

    geo = _uniform((n, MAX_CELLS, 16 + 2 * _N_HARM * 2), generator, device)
    active = torch.arange(MAX_CELLS, device=device)[None, :] < counts[:, None]
    # centres on a jittered 2 x 3 grid of slots (in random order) so cells overlap less
    slot = torch.argsort(geo[..., 0], dim=1)
    sy, sx = (slot // 3).float(), (slot % 3).float()
    cy = (sy + 0.2 + 0.6 * geo[..., 1]) / 2.0 * h
    cx = (sx + 0.2 + 0.6 * geo[..., 2]) / 3.0 * w
    theta = geo[..., 3] * math.pi
    harm_amp = prm[..., _P["harm"], None] * geo[..., 16:16 + _N_HARM]
    harm_phase = 2 * math.pi * geo[..., 16 + _N_HARM:16 + 2 * _N_HARM]
    nharm_amp = prm[..., _P["nuc_harm"], None] * (0.5 + 0.5 * geo[..., 16 + 2 * _N_HARM:16 + 3 * _N_HARM])
    nharm_phase = 2 * math.pi * geo[..., 16 + 3 * _N_HARM:16 + 4 * _N_HARM]

    fine = _band_noise(n, h, w, 2.5, generator, device)     # granules, speckle
    coarse = _band_noise(n, h, w, 7.0, generator, device)   # cytoplasmic/chromatin mottling

    yy = torch.arange(h, device=device, dtype=torch.float32).reshape(1, h, 1)
    xx = torch.arange(w, device=device, dtype=torch.float32).reshape(1, 1, w)
    out = torch.zeros((n, h, w), device=device)
    for j in range(MAX_CELLS):
        p = prm[:, j]

        def col(name):
            return p[:, _P[name]].reshape(n, 1, 1)

        def g(i):
            return geo[:, j, i].reshape(n, 1, 1)

        radius = col("radius")
        dy, dx = yy - cy[:, j].reshape(n, 1, 1), xx - cx[:, j].reshape(n, 1, 1)
        rho_px, alpha, wobble = _radial(dy, dx, theta[:, j].reshape(n, 1, 1), col("aspect"),
                                        harm_amp[:, j], harm_phase[:, j])
        rho = rho_px / radius
        depth_px = (1.0 - rho) * radius * wobble  # distance inside the membrane, ~pixels
        inside = (rho < 1.0).float()
        edge = (depth_px / 1.0).clamp(0.0, 1.0)  # one-pixel soft edge against aliasing

        body = col("body_h") * torch.clamp(1.0 - rho * rho, min=0.0) ** col("body_p")
        cyto = body * (1.0 + col("texture") * (0.6 * fine + 0.4 * coarse)) \
            + col("granule_h") * torch.relu(fine) ** 2 * (rho < 0.9).float()

        # nucleus: its own irregular ellipse, offset from the cell centre
        off_a = 2 * math.pi * g(4)
        off = col("nuc_off") * radius * g(5)
        ndy, ndx = dy - off * torch.sin(off_a), dx - off * torch.cos(off_a)
        rho_n_px, _, _ = _radial(ndy, ndx, theta[:, j].reshape(n, 1, 1) + g(6) * math.pi,
                                 col("nuc_aspect"), nharm_amp[:, j], nharm_phase[:, j])
        rho_n = rho_n_px / (col("nuc_r") * radius)
        nucleus = col("nuc_h") * torch.clamp(1.0 - rho_n * rho_n, min=0.0).sqrt() * (1.0 + 0.2 * coarse)
        for q in range(2):  # nucleoli
            qa, qr = 2 * math.pi * g(7 + 2 * q), 0.5 * col("nuc_r") * radius * g(8 + 2 * q)
            d2 = (ndy - qr * torch.sin(qa)) ** 2 + (ndx - qr * torch.cos(qa)) ** 2
            nucleus = nucleus + col("nucleoli_h") * torch.exp(-0.5 * d2 / col("nucleoli_sigma_px") ** 2) \
                * (rho_n < 0.8).float()

        # membrane ridge, modulated along the rim, and sinusoidal ruffles just inside it
        ridge = col("ridge_h") * torch.exp(-0.5 * ((depth_px - col("ridge_depth_px")) / col("ridge_width_px")) ** 2) \
            * (0.55 + 0.45 * torch.cos(torch.round(col("ridge_m")) * alpha + 2 * math.pi * g(11)))
        ruffle = col("ruffle_h") * (0.5 + 0.5 * torch.cos(2 * math.pi * depth_px / col("ruffle_period_px")
                                                          + 2 * math.pi * g(12))) \
            * torch.exp(-depth_px.clamp_min(0.0) / (0.25 * radius))

        cell = torch.relu(cyto + nucleus + ridge + ruffle) * edge * inside
        cell = cell * col("height") * active[:, j].float().reshape(n, 1, 1)
        out = torch.maximum(out, cell)

    top = out.flatten(1).amax(dim=1).clamp_min(1e-12)
    target = peak if max_phase is None else torch.full_like(peak, float(max_phase))
    out = out * (target / top).reshape(n, 1, 1)
    return out.unsqueeze(1).contiguous()
