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
           "ruffle_h", "ruffle_period_px", "fiber_h", "fiber_period_px", "texture", "granule_h")
_P = {name: i for i, name in enumerate(_PARAMS)}

_ROUND = dict(aspect=(1.0, 1.15), harm=(0.0, 0.04), height=(0.8, 1.0), body_h=(0.55, 0.75),
              body_p=(0.5, 0.5), nuc_aspect=(1.0, 1.15), nucleoli_h=(0.0, 0.04),
              nucleoli_sigma_px=(1.0, 2.0), ridge_h=(0.12, 0.25), ridge_depth_px=(1.5, 3.0),
              ridge_width_px=(0.8, 1.5), ridge_m=(4, 10), ruffle_h=(0.04, 0.08),
              ruffle_period_px=(3.5, 6.0), fiber_h=(0.0, 0.0), fiber_period_px=(5.0, 5.0))
_SPREAD = dict(height=(0.8, 1.0), body_h=(0.3, 0.45), body_p=(0.25, 0.4), nuc_off=(0.0, 0.2),
               nuc_aspect=(1.0, 1.3), nuc_harm=(0.0, 0.06), nucleoli_h=(0.1, 0.25),
               nucleoli_sigma_px=(1.5, 3.0), ridge_h=(0.1, 0.2), ridge_depth_px=(2.0, 4.0),
               ridge_width_px=(1.0, 2.0), ridge_m=(6, 16), ruffle_h=(0.05, 0.12),
               ruffle_period_px=(4.0, 7.0), texture=(0.2, 0.35), granule_h=(0.08, 0.15))
_RANGES = {  # kind -> {param: (low, high)}
    # lymphocyte: a large round nucleus filling most of a small round cell
    "bcell": dict(_ROUND, radius=(0.10, 0.16), nuc_off=(0.0, 0.15), nuc_r=(0.6, 0.75),
                  nuc_harm=(0.0, 0.05), nuc_h=(0.35, 0.5), texture=(0.15, 0.3), granule_h=(0.08, 0.15)),
    # granulocyte: a lobed nucleus and a granular cytoplasm
    "wbc": dict(_ROUND, radius=(0.09, 0.15), aspect=(1.0, 1.2), harm=(0.0, 0.06), nuc_off=(0.0, 0.2),
                nuc_r=(0.45, 0.6), nuc_aspect=(1.1, 1.5), nuc_harm=(0.25, 0.45), nuc_h=(0.3, 0.45),
                texture=(0.25, 0.4), granule_h=(0.2, 0.35)),
    "hela": dict(_SPREAD, radius=(0.16, 0.26), aspect=(1.0, 1.8), harm=(0.05, 0.15), nuc_r=(0.3, 0.42),
                 nuc_h=(0.45, 0.6), fiber_h=(0.02, 0.05), fiber_period_px=(4.0, 7.0)),
    # fibroblast: elongated, with protrusions and stress fibres along its long axis
    "3t3": dict(_SPREAD, radius=(0.13, 0.2), aspect=(2.0, 3.5), harm=(0.1, 0.25), nuc_r=(0.3, 0.4),
                nuc_aspect=(1.2, 1.6), nuc_h=(0.5, 0.65), fiber_h=(0.05, 0.12),
                fiber_period_px=(4.0, 7.0)),
    # polystyrene/silica beads: homogeneous spheres
    "beads": dict(radius=(0.05, 0.12), aspect=(1.0, 1.0), harm=(0.0, 0.0), height=(0.5, 1.0),
                  body_h=(1.0, 1.0), body_p=(0.5, 0.5), nuc_off=(0.0, 0.0), nuc_r=(0.5, 0.5),
                  nuc_aspect=(1.0, 1.0), nuc_harm=(0.0, 0.0), nuc_h=(0.0, 0.0),
                  nucleoli_h=(0.0, 0.0), nucleoli_sigma_px=(1.0, 1.0),
                  ridge_h=(0.0, 0.0), ridge_depth_px=(1.0, 1.0), ridge_width_px=(1.0, 1.0),
                  ridge_m=(4, 4), ruffle_h=(0.0, 0.0), ruffle_period_px=(4.0, 4.0),
                  fiber_h=(0.0, 0.0), fiber_period_px=(5.0, 5.0), texture=(0.0, 0.0), granule_h=(0.0, 0.0)),
}
assert all(set(r) == set(_PARAMS) for r in _RANGES.values())
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


def _uniform(shape, generator, device):
    from ._random import rand

    return rand(shape, generator, device)


def _band_noise(n, h, w, center_px, generator, device):
    """Unit-variance periodic random texture with features about ``center_px`` pixels across."""
    import torch

    from ._random import randn

    white = randn((n, h, w), generator, device)
    fy = torch.fft.fftfreq(h, device=device).reshape(h, 1)
    fx = torch.fft.rfftfreq(w, device=device).reshape(1, -1)
    f = torch.sqrt(fy * fy + fx * fx)
    f0 = 1.0 / center_px
    band = torch.exp(-0.5 * ((f - f0) / (0.5 * f0)) ** 2)
    tex = torch.fft.irfft2(torch.fft.rfft2(white) * band, s=(h, w))
    return tex / tex.flatten(1).std(dim=1).clamp_min(1e-12).reshape(n, 1, 1)


def _radial(dy, dx, theta, aspect, harm_amp, harm_phase):
    """Normalised radius (1 on the boundary, in units of the cell's equivalent radius) of an
    irregular ellipse with axes ``sqrt(aspect)`` and ``1/sqrt(aspect)``, the polar angle, and the
    local boundary scale (turns ``1 - rho`` into a fraction of the radius)."""
    import torch

    c, s = torch.cos(theta), torch.sin(theta)
    stretch = torch.sqrt(aspect)
    u = (dx * c + dy * s) / stretch
    v = (-dx * s + dy * c) * stretch
    r = torch.sqrt(u * u + v * v)
    alpha = torch.atan2(v, u)
    wobble = torch.ones_like(r)
    for i in range(harm_amp.shape[-1]):
        k = i + 2
        wobble = wobble + harm_amp[..., i, None, None] * torch.cos(k * alpha + harm_phase[..., i, None, None])
    wobble = wobble.clamp(0.3, _MAX_WOBBLE)
    return r / wobble, alpha, wobble, v / stretch


_MAX_WOBBLE = 1.6
_CANDIDATES = 8  # best-candidate placement: the farthest of this many random centres


def _place(radius, active, h, w, generator, device):
    """Cell centres (n, K) in pixels: each new cell takes, of a few random candidates, the one
    that overlaps the cells already placed the least (so fields look like sparse cultures)."""
    import torch

    n, k = radius.shape
    cand = _uniform((n, k, _CANDIDATES, 2), generator, device)
    cy_all = (0.15 + 0.7 * cand[..., 0]) * h
    cx_all = (0.15 + 0.7 * cand[..., 1]) * w
    cy = torch.zeros((n, k), device=device)
    cx = torch.zeros((n, k), device=device)
    for j in range(k):
        if j == 0:
            pick = torch.zeros(n, dtype=torch.long, device=device)
        else:
            d = torch.sqrt((cy_all[:, j, :, None] - cy[:, None, :j]) ** 2
                           + (cx_all[:, j, :, None] - cx[:, None, :j]) ** 2)
            gap = d - radius[:, None, :j] - radius[:, j, None, None]
            gap = torch.where(active[:, None, :j], gap, torch.full_like(gap, 1e9))
            pick = gap.amin(dim=2).argmax(dim=1)
        cy[:, j] = cy_all[:, j].gather(1, pick[:, None])[:, 0]
        cx[:, j] = cx_all[:, j].gather(1, pick[:, None])[:, 0]
    return cy, cx


def _bump(x2):
    """Compact smooth bump ``(1 − x²)²`` for ``x² < 1``, else 0: a Gaussian look-alike (FWHM
    1.08 in units of x) without the cost of ``exp`` over every window pixel."""
    t = (1.0 - x2).clamp_min(0.0)
    return t * t


_BUMP_PER_SIGMA = 2.2  # _bump(r²/(2.2σ)²) has the FWHM of a Gaussian of standard deviation σ


def render(n: int, shape, kinds, generator=None, device="cpu", max_phase=None, reference_size=None):
    """Draw ``n`` phantoms of ``shape`` (H, W) on ``device``; ``kinds`` is one kind per image.
    Returns a float32 tensor ``(n, 1, H, W)`` in radians.

    ``reference_size`` (pixels): cell radii are fractions of it instead of the image size, and
    the number of cells grows with the image area over ``reference_size**2`` (at least one), so
    a larger field shows more cells of the same size rather than larger cells.

    Each cell is drawn only inside a window around it (the batch-wide largest extent of that
    cell slot, moved to lie inside the image) and max-composited, which keeps it fast."""
    import torch

    h, w = int(shape[0]), int(shape[1])
    size = float(min(h, w)) if reference_size is None else float(reference_size)
    area = 1.0 if reference_size is None else h * w / size ** 2
    slots = MAX_CELLS if reference_size is None else max(
        MAX_CELLS, math.ceil(max(_SCENE[k][1] for k in kinds) * area))
    device = torch.device(device)
    lo, hi = _range_table()
    lo, hi = lo.to(device), hi.to(device)

    image_kind = torch.tensor([KINDS.index(k) for k in kinds], device=device)
    u_scene = _uniform((n, 2), generator, device)
    cmin = torch.tensor([_SCENE[k][0] for k in kinds], device=device, dtype=torch.float32)
    cmax = torch.tensor([_SCENE[k][1] for k in kinds], device=device, dtype=torch.float32)
    counts = cmin + torch.floor(u_scene[:, 0] * (cmax - cmin + 1))
    if reference_size is not None:
        counts = torch.ceil(counts * area).clamp_min(1.0)
    peak_lo = torch.tensor([_SCENE[k][2][0] for k in kinds], device=device)
    peak_hi = torch.tensor([_SCENE[k][2][1] for k in kinds], device=device)
    peak = peak_lo + u_scene[:, 1] * (peak_hi - peak_lo)

    # kind of each cell: the image's kind, or a random cell kind in a mixed field
    u_kind = _uniform((n, slots), generator, device)
    mixed = image_kind == KINDS.index("mixed")
    random_kind = torch.floor(u_kind * len(CELL_KINDS)).long().clamp_max(len(CELL_KINDS) - 1)
    cell_kind = torch.where(mixed[:, None], random_kind, image_kind[:, None].clamp_max(len(CELL_KINDS) - 1))
    u = _uniform((n, slots, len(_PARAMS)), generator, device)
    prm = lo[cell_kind] + u * (hi[cell_kind] - lo[cell_kind])
    prm[..., _P["radius"]] *= torch.where(mixed[:, None], _MIXED_SIZE, 1.0) * size

    geo = _uniform((n, slots, 16 + 4 * _N_HARM), generator, device)
    active = torch.arange(slots, device=device)[None, :] < counts[:, None]
    radius_all = prm[..., _P["radius"]]
    aspect_all = prm[..., _P["aspect"]]
    cy, cx = _place(radius_all * aspect_all.sqrt(), active, h, w, generator, device)
    theta = geo[..., 3] * math.pi
    harm_amp = prm[..., _P["harm"], None] * geo[..., 16:16 + _N_HARM]
    harm_phase = 2 * math.pi * geo[..., 16 + _N_HARM:16 + 2 * _N_HARM]
    nharm_amp = prm[..., _P["nuc_harm"], None] * (0.5 + 0.5 * geo[..., 16 + 2 * _N_HARM:16 + 3 * _N_HARM])
    nharm_phase = 2 * math.pi * geo[..., 16 + 3 * _N_HARM:16 + 4 * _N_HARM]
    # the farthest a cell reaches from its centre, in pixels
    reach = radius_all * aspect_all.sqrt() * (1.0 + harm_amp.sum(-1)).clamp_max(_MAX_WOBBLE) + 2.0
    reach = torch.where(active, reach, torch.zeros_like(reach))
    # largest cell of every image first: each slot's window (the batch-wide largest reach in that
    # slot) then fits its cells tightly, and empty trailing slots are skipped
    order = torch.argsort(reach, dim=1, descending=True)

    def by_size(t):
        idx = order.reshape(*order.shape, *([1] * (t.ndim - 2))).expand_as(t)
        return t.gather(1, idx)

    prm, geo, cy, cx, theta, active, reach = (by_size(t) for t in (prm, geo, cy, cx, theta, active, reach))
    harm_amp, harm_phase, nharm_amp, nharm_phase = (by_size(t) for t in (harm_amp, harm_phase, nharm_amp, nharm_phase))

    fine = _band_noise(n, h, w, 3.5, generator, device).flatten(1)     # granules, speckle
    coarse = _band_noise(n, h, w, 8.0, generator, device).flatten(1)   # cytoplasm/chromatin mottling

    canvas = torch.zeros((n, h * w), device=device)
    for j in range(slots):
        half = int(math.ceil(float(reach[:, j].max())))
        if half <= 2:
            continue
        p = prm[:, j]

        def col(name):
            return p[:, _P[name]].reshape(n, 1, 1)

        def g(i):
            return geo[:, j, i].reshape(n, 1, 1)

        # a window around the cell, shifted (not cropped) to lie inside the image
        by, bx = min(2 * half + 1, h), min(2 * half + 1, w)
        y0 = (torch.round(cy[:, j]).long() - half).clamp(0, h - by).reshape(n, 1, 1)
        x0 = (torch.round(cx[:, j]).long() - half).clamp(0, w - bx).reshape(n, 1, 1)
        wy, wx = torch.broadcast_tensors(y0 + torch.arange(by, device=device).reshape(1, -1, 1),
                                         x0 + torch.arange(bx, device=device).reshape(1, 1, -1))
        dy = wy.float() - cy[:, j].reshape(n, 1, 1)
        dx = wx.float() - cx[:, j].reshape(n, 1, 1)
        idx = (wy * w + wx).flatten(1)
        t_fine = fine.gather(1, idx).reshape(dy.shape)
        t_coarse = coarse.gather(1, idx).reshape(dy.shape)

        radius = col("radius")
        rho_r, alpha, wobble, minor = _radial(dy, dx, theta[:, j].reshape(n, 1, 1), col("aspect"),
                                              harm_amp[:, j], harm_phase[:, j])
        rho = rho_r / radius
        depth_px = (1.0 - rho) * radius * wobble  # distance inside the membrane, ~pixels
        edge = depth_px.clamp(0.0, 1.0)  # one-pixel soft edge against aliasing

        body = col("body_h") * torch.clamp(1.0 - rho * rho, min=0.0) ** col("body_p")
        granules = torch.relu(t_fine - 0.8)
        fibers = col("fiber_h") * (0.5 + 0.5 * torch.cos(2 * math.pi * minor / col("fiber_period_px")
                                                         + 0.3 * t_coarse))
        cyto = body * (1.0 + col("texture") * (0.3 * t_fine + 0.7 * t_coarse)) \
            + (col("granule_h") * granules + fibers) * (rho < 0.92).float()

        # nucleus: its own irregular ellipse, offset from the cell centre
        off_a = 2 * math.pi * g(4)
        shift = col("nuc_off") * radius * g(5)
        ndy, ndx = dy - shift * torch.sin(off_a), dx - shift * torch.cos(off_a)
        rho_n_r, _, _, _ = _radial(ndy, ndx, theta[:, j].reshape(n, 1, 1) + g(6) * math.pi,
                                   col("nuc_aspect"), nharm_amp[:, j], nharm_phase[:, j])
        rho_n = rho_n_r / (col("nuc_r") * radius)
        nucleus = col("nuc_h") * torch.clamp(1.0 - rho_n * rho_n, min=0.0).sqrt() * (1.0 + 0.25 * t_coarse)
        for q in range(2):  # nucleoli
            qa, qr = 2 * math.pi * g(7 + 2 * q), 0.5 * col("nuc_r") * radius * g(8 + 2 * q)
            ey, ex = ndy - qr * torch.sin(qa), ndx - qr * torch.cos(qa)
            reach_q = (_BUMP_PER_SIGMA * col("nucleoli_sigma_px")) ** 2
            nucleus = nucleus + col("nucleoli_h") * _bump((ey * ey + ex * ex) / reach_q) \
                * (rho_n < 0.8).float()

        # membrane ridge, modulated along the rim (folds), and sinusoidal ruffles inside it
        across = (depth_px - col("ridge_depth_px")) / (_BUMP_PER_SIGMA * col("ridge_width_px"))
        ridge = col("ridge_h") * _bump(across * across) \
            * (0.55 + 0.45 * torch.cos(torch.round(col("ridge_m")) * alpha + 2 * math.pi * g(11)))
        ruffle = col("ruffle_h") * (0.5 + 0.5 * torch.cos(2 * math.pi * depth_px / col("ruffle_period_px")
                                                          + 2 * math.pi * g(12))) \
            * (1.0 - depth_px.clamp_min(0.0) / (0.6 * radius)).clamp_min(0.0).square()  # ~exp(−depth/0.25R)

        cell = torch.relu(cyto + nucleus + ridge + ruffle) * edge  # edge is 0 outside the cell
        cell = cell * col("height") * active[:, j].float().reshape(n, 1, 1)
        canvas.scatter_reduce_(1, idx, cell.flatten(1), reduce="amax")

    out = canvas.reshape(n, h, w)
    top = out.flatten(1).amax(dim=1).clamp_min(1e-12)
    target = peak if max_phase is None else torch.full_like(peak, float(max_phase))
    out = out * (target / top).reshape(n, 1, 1)
    return out.unsqueeze(1).contiguous()
