"""Measurement consistency for the RGB refinement methods (issue 8): after sampling, the phase
takes a few preconditioned conjugate-gradient steps toward reproducing the measured RGB image
through the chromatic brightfield model (optics.brightfield) with the user's optics.

Why preconditioned: the image sees a phase error at spatial frequency k through the defocus
transfer, ~k^2 at low k, so a plain gradient step (the in-sampler ``guidance``) corrects almost
only fine detail, while the networks' errors sit in the broad shape of the cells (their dry-mass
errors). The gradient is filtered by 1/(k^4 + k0^4), a Gauss-Newton-like inverse of a k^2
transfer, and each step's length is the optimum of the linearised misfit. Conjugate (Polak-Ribiere+)
directions converge on the lowest frequencies, which carry the dry mass, where steepest descent
with the same filter stalled.

Why masked: unconfined, that band-pass step also put rings around the cells and ripple into the
background (SSIM fell on the test rows). The preconditioner is therefore W P W, with W a soft mask
of the cells (the network's phase away from its background, a few pixels wider): still positive
semi-definite, and the background keeps the network's values. The background level is the image
median. On some fields the networks' cells sit on a broad halo (their dry-mass excess) that lifts
the median, and the mask then leaves part of the halo out of the steps' reach; a mask measured from
a low percentile of the smoothed phase fixed those fields but lost dry mass in low light on the
test rows, and the lower mode or a fitted background did not help (session 9, docs/benchmarks.md).

Why a window: a camera frame is a window on a larger field, so cells are cut by its edge and
their defocus fringes do not wrap around. The steps therefore simulate the phase mirrored beyond
the frame, leave a band along the frame out of the misfit, and precondition on a zero-padded canvas
(a linear, not circular, convolution). With the periodic model of the first version, corrections
wrapped across the frame edge: on validation images cut from twice-wider fields the steps
*worsened* ZMD's median dry-mass error from 12.9 to 17.8 %; with the window 6.9 %, and PSNR
+3.3 dB over no steps (+2.5 over the periodic steps; session 9, docs/benchmarks.md). On whole periodic renders (the simulator's FFT propagation wraps)
the periodic model fits better (33.6 against 32.9 dB); ``boundary="periodic"`` keeps it.

Why a defect correction: the disk blur misses that a tilted illumination also moves the pupil over
the object's spectrum, and with it the steps fit a model error (defocus ±0.5 µm: the dry-mass error
grew from 26 to 37 %). The exact source sum in every step costs ~20x. With
``illumination="blur + sources defect"`` the gradients and line searches keep the blur, and every
few steps the two models' difference at the current phase is added to it; the fixed point fits the
image through the exact model (session 11, docs/benchmarks.md).

On validation images (docs/models.md, benchmarks/diag_rgb_consistency.py) 16 steps lifted ZMD from
33.15 to 37.00 dB median and cut its median |dry-mass error| from 7.6 to 3.6 %; at 30 photons/px
they fit the noise (23.0 -> 10.1 dB), so the number of steps shrinks with the image's noise,
estimated from the image itself.

Importing this module imports torch.
"""
from __future__ import annotations

from typing import Any, Generator

import numpy as np
import torch

from ..result import Progress

N_WAVELENGTHS = 24
LOW_CUTOFF = 0.03          # k0, cycles per pixel: sets how far below k^2 the step's gain stops growing
SUPPORT_LEVEL = 0.05       # |phase - background| above this fraction of its maximum is "cell"
SUPPORT_MARGIN_PX = 3      # the support grows by this many pixels, then is blurred (sigma below)
SUPPORT_BLUR_PX = 1.5
NOISE_REFERENCE = 0.06     # image noise (fraction of the background) up to which all steps are taken
NOISE_LIMIT = 0.15         # above it (~50 photons/px) no steps: they fit the noise
SOURCE_POINTS = 19         # the fewest condenser directions of the exact partial coherence (illumination="sources")
SOURCE_TOLERANCE = 0.06    # 19 directions are within it up to NA 0.3/0.55 (the session-11 steps); more beyond
ILLUMINATION_MODELS = ("blur", "sources", "blur + sources defect")


def image_noise(measured: np.ndarray) -> float:
    """Robust per-pixel noise of the RGB image relative to its background (each channel divided
    by its mean): the MAD of the 2 x 2 mixed difference, which removes smooth image content and
    keeps white noise at its variance."""
    y = np.moveaxis(np.asarray(measured, np.float64), -1, 0)
    y = y / y.mean(axis=(1, 2), keepdims=True)
    d = (y[:, :-1, :-1] - y[:, 1:, :-1] - y[:, :-1, 1:] + y[:, 1:, 1:]) / 2
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def steps_for_noise(max_steps: int, noise: float, power: float = 2.0) -> int:
    """Steps taken at this noise: all of ``max_steps`` up to NOISE_REFERENCE (~300 photons/px),
    then fewer with the signal-to-noise ratio to ``power`` (2: the SNR power, 5 of 16 at ~100
    photons/px; 4: 4 of 32 there), and none above NOISE_LIMIT (~30 photons/px, where the steps fit
    the noise)."""
    if noise > NOISE_LIMIT:
        return 0
    if noise <= 0:
        return int(max_steps)
    return int(min(max_steps, np.floor(max_steps * (NOISE_REFERENCE / noise) ** power)))


def brightfield_simulator(optics: dict, n_wavelengths: int = N_WAVELENGTHS, illumination: str = "blur",
                          n_sources: int = SOURCE_POINTS):
    """``simulate(phase (B, 1, H, W) rad) -> RGB (B, 3, H, W)``, each channel / its mean, under the
    optics dict of ``models.methods.rgb_optics``: the defocus model the user stated (per channel,
    or a focal-shift curve through the channels' centre wavelengths) and the channel bandwidth.
    ``illumination``: the partial coherence as the disk blur or as the sum over ``n_sources``
    condenser directions (optics.brightfield.forward)."""
    from ..optics.brightfield import forward
    from .rgb_inputs import check_optics

    o = check_optics(optics)
    model = o.get("focal_shift_model", "channel")
    defocus = o["defocus_given_um"] if model == "wavelength" else o["defocus_um"]

    def simulate(phase: torch.Tensor) -> torch.Tensor:
        n = phase.shape[0]
        img = forward(phase, pixel_size_um=o["pixel_size_um"], wavelengths=o["wavelengths_um"],
                      defocus_um=torch.tensor([tuple(defocus)], dtype=torch.float32).expand(n, 3),
                      na_illumination=torch.full((n,), o["na_illumination"]), na_detection=o["na_detection"],
                      n_medium=o["medium_index"], reference_wavelength=o["wavelengths_um"][1],
                      n_wavelengths=n_wavelengths, photons=None, read_noise=torch.zeros(n), generator=None,
                      channel_sigma_um=float(o.get("channel_bandwidth_um", 0.05)), defocus_model=model,
                      illumination=illumination, n_sources=n_sources)
        return img / img.mean(dim=(2, 3), keepdim=True)

    return simulate


def frame_margins(optics: dict, shape: tuple[int, int]) -> tuple[int, int]:
    """(pad, edge) in pixels for a camera frame that is a window on a larger field: the forward
    model runs on the phase mirrored ``pad`` pixels beyond the frame (about the reach of the
    detection cone over the largest defocus), and the misfit leaves out ``edge`` pixels along the
    frame, whose image depends on the unseen phase outside it."""
    from .rgb_inputs import check_optics

    o = check_optics(optics)
    dz = max(abs(float(v)) for v in o["defocus_um"])
    na, n = float(o["na_detection"]), float(o["medium_index"])
    reach = dz * na / max(np.sqrt(max(n * n - na * na, 1e-6)), 0.3) / float(o["pixel_size_um"])
    pad = int(max(1, min(max(8, np.ceil(reach) + 4), min(shape) - 1)))
    edge = int(min(max(3, np.ceil(reach / 2)), min(shape) // 4))
    return pad, edge


def check_boundary(boundary: str) -> None:
    """Refuse a frame model other than ``"window"`` or ``"periodic"`` before any compute."""
    if boundary not in ("window", "periodic"):
        raise ValueError(f"boundary must be 'periodic' or 'window'; got {boundary!r}")


def _framed(simulate, pad: int, edge: int, shape):
    """``simulate`` on the phase reflected ``pad`` pixels beyond the frame, cropped back to the
    frame and normalised there, and the 0/1 weight that leaves ``edge`` pixels out of the misfit."""
    import torch.nn.functional as F

    def run(phase: torch.Tensor) -> torch.Tensor:
        img = simulate(F.pad(phase, (pad, pad, pad, pad), mode="reflect"))[..., pad:-pad, pad:-pad]
        return img / img.mean(dim=(2, 3), keepdim=True)

    keep = torch.zeros((1, 1) + tuple(shape))
    keep[..., edge:shape[0] - edge, edge:shape[1] - edge] = 1.0
    return run, keep


def _low_frequency_preconditioner(h: int, w: int, k0: float = LOW_CUTOFF) -> torch.Tensor:
    k2 = torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None] ** 2
    p = 1.0 / (k2 ** 2 + k0 ** 4)
    p[0, 0] = 0.0      # the mean phase is not measured; leave it
    return p


def background_level(phase: np.ndarray, reference: str = "median") -> float:
    """The phase of the empty field: ``"background"`` the robust level of retrieval.background's
    automatic background (border first, then every pixel near the fit), ``"median"`` the image's
    median, ``"p5"`` its 5th percentile, ``"p5 smoothed"`` the 5th percentile after a Gaussian
    blur of 2 px (noise would otherwise pull the percentile below the background)."""
    if reference == "median":
        return float(np.median(phase))
    if reference == "p5":
        return float(np.percentile(phase, 5))
    if reference.startswith("p5 smoothed"):
        from scipy import ndimage as ndi

        sigma = 4.0 if reference.endswith("4 px") else 2.0
        return float(np.percentile(ndi.gaussian_filter(np.asarray(phase, np.float32), sigma), 5))
    if reference == "lower mode":
        from scipy import ndimage as ndi

        # the most common value below the median of the smoothed phase: the empty field's level
        # whatever the noise (which widens that peak but does not move it)
        sm = ndi.gaussian_filter(np.asarray(phase, np.float32), 2.0)
        lo, mid = np.percentile(sm, [1, 50])
        if mid <= lo:
            return float(mid)
        counts, edges = np.histogram(sm[sm <= mid], bins=48, range=(lo, mid))
        counts = ndi.gaussian_filter1d(counts.astype(np.float64), 1.5)
        i = int(np.argmax(counts))
        return float(0.5 * (edges[i] + edges[i + 1]))
    from ..retrieval.background import fit_background

    surface, _ = fit_background(phase, 0, "auto")
    return float(surface.flat[0])


def support_weight(phase: np.ndarray, margin_px: int = SUPPORT_MARGIN_PX, reference: str = "median") -> np.ndarray:
    """A soft 0..1 mask of where the phase differs from its background (the cells, ``margin_px``
    pixels wider, edges blurred): the steps change the phase only there."""
    from scipy import ndimage as ndi

    dev = np.abs(phase - background_level(phase, reference))
    top = float(dev.max())
    if top <= 0:
        return np.ones_like(phase, dtype=np.float32)
    m = ndi.binary_dilation(dev > SUPPORT_LEVEL * top, iterations=int(margin_px))
    return ndi.gaussian_filter(m.astype(np.float32), SUPPORT_BLUR_PX)


def condenser_directions(optics: dict) -> int:
    """The source sum's condenser directions for this microscope: SOURCE_POINTS, or more where that
    would leave an image error above SOURCE_TOLERANCE (optics.brightfield.source_points_needed;
    19 up to condenser NA 0.3 with detection NA 0.55, 156 at NA 0.5)."""
    from ..optics.brightfield import source_points_needed
    from .rgb_inputs import check_optics

    o = check_optics(optics)
    return source_points_needed(o["na_illumination"], o["na_detection"], SOURCE_TOLERANCE, minimum=SOURCE_POINTS)


def consistent(phase: np.ndarray, measured: np.ndarray, optics: dict, max_steps: int,
               stats: dict | None = None, low_cutoff: float = LOW_CUTOFF, masked: bool = True,
               adapt_to_noise: bool = True, conjugate: bool = True,
               mask_floor: float = 0.0, mask_margin_px: int = SUPPORT_MARGIN_PX,
               mask_reference: str = "median", boundary: str = "window",
               discrepancy: float | None = None, illumination: str = "blur",
               refresh_every: int = 4, n_sources: int | None = None,
               low_cutoff_per_um: float | None = None,
               noise_power: float = 2.0, min_steps: int = 0) -> Generator[Progress, None, np.ndarray]:
    """Yield Progress; return ``phase`` (H, W, rad) after up to ``max_steps`` preconditioned
    steps toward the measured image (H, W, 3). ``stats`` receives the noise estimate, the steps
    planned (``steps``) and taken (``steps_taken``) and the relative image residual before and after.
    ``low_cutoff``, ``masked``, ``adapt_to_noise``, ``conjugate`` (preconditioned nonlinear conjugate gradients, else
    preconditioned steepest descent), ``mask_floor`` (the mask's weight outside the cells: 0
    confines the steps to them, 1 is unmasked), ``mask_margin_px`` and ``mask_reference`` (see
    background_level) are there to compare the design's choices
    (benchmarks/diag_rgb_consistency.py). ``boundary``: ``"window"`` (the frame is part of a
    larger field: see the module docstring) or ``"periodic"`` (a whole periodic field).
    ``discrepancy`` (tau, or None): stop once the misfit is within tau times what the image noise
    alone leaves (Morozov's discrepancy principle), before the steps fit the noise.
    ``illumination``: the forward model's partial coherence: ``"blur"`` (the disk blur),
    ``"sources"`` (the exact sum over ``n_sources`` condenser directions, ~20x the cost), or
    ``"blur + sources defect"``: the steps use the disk blur plus the difference between the two
    models at the current phase, recomputed every ``refresh_every`` steps (a defect correction: the
    fixed point reproduces the image through the exact model, at one source-sum image per refresh,
    without its gradient). ``n_sources``: the condenser directions of the source sum (None:
    condenser_directions). ``low_cutoff_per_um``: k0 in cycles/µm instead of ``low_cutoff`` in
    cycles/pixel (the same gain for cells of the same physical size at any pixel size).
    ``noise_power``: how fast the steps fall with the noise (steps_for_noise). ``min_steps``: the
    ``discrepancy`` stop applies only from this step on, and images noisier than NOISE_REFERENCE
    take no more steps than ``min_steps`` would give them."""
    check_boundary(boundary)
    if illumination not in ILLUMINATION_MODELS:
        raise ValueError(f"illumination must be one of {ILLUMINATION_MODELS}; got {illumination!r}")
    noise = image_noise(measured)
    steps = steps_for_noise(int(max_steps), noise, noise_power) if adapt_to_noise else int(max_steps)
    if adapt_to_noise and min_steps > 0 and noise > NOISE_REFERENCE:
        # noisy images keep the schedule of the guaranteed steps: at ~100 photons/px 10 of 32 steps
        # lost 0.75 dB against 5 of 16 (validation, session 12)
        steps = min(steps, steps_for_noise(int(min_steps), noise, noise_power))
    info: dict[str, Any] = {"image_noise": noise, "steps": steps, "steps_taken": 0, "max_steps": int(max_steps),
                            "mask_reference": mask_reference}
    if stats is not None:
        stats.update(info)
    if steps <= 0:
        return phase
    if n_sources is None and illumination != "blur":
        n_sources = condenser_directions(optics)
    if n_sources is not None:
        info["n_sources"] = int(n_sources)
    if low_cutoff_per_um is not None:
        from .rgb_inputs import check_optics

        low_cutoff = float(low_cutoff_per_um) * float(check_optics(optics)["pixel_size_um"])
        info["low_cutoff"] = low_cutoff
    sources = dict(illumination="sources", n_sources=int(n_sources or SOURCE_POINTS))
    cheap = brightfield_simulator(optics, **(sources if illumination == "sources" else {}))
    exact = brightfield_simulator(optics, **sources) if illumination == "blur + sources defect" else None
    y = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(measured, np.float32), -1, 0)))[None]
    y = y / y.mean(dim=(2, 3), keepdim=True)
    keep = None
    if boundary == "window":
        pad, edge = frame_margins(optics, y.shape[-2:])
        cheap, keep = _framed(cheap, pad, edge, y.shape[-2:])
        if exact is not None:
            exact, _ = _framed(exact, pad, edge, y.shape[-2:])
        if stats is not None:
            stats.update({"frame_pad_px": pad, "frame_edge_px": edge})
    contrast = float(torch.linalg.vector_norm(y - 1)) or 1.0
    # the misfit the noise alone leaves, relative to the image contrast as the residuals are
    counted = y.numel() if keep is None else float(keep.sum()) * y.shape[1]
    noise_floor = noise * float(np.sqrt(counted)) / contrast
    info["noise_floor"] = noise_floor
    h, w_ = y.shape[-2:]
    # a window's corrections must not wrap across the frame edge: precondition on a zero-padded
    # canvas twice the frame (a linear, not circular, convolution)
    canvas = (2 * h, 2 * w_) if boundary == "window" else (h, w_)
    precondition = _low_frequency_preconditioner(*canvas, low_cutoff)

    def preconditioned(v: torch.Tensor) -> torch.Tensor:
        if canvas == (h, w_):
            return torch.fft.ifft2(torch.fft.fft2(v) * precondition).real
        return torch.fft.ifft2(torch.fft.fft2(v, s=canvas) * precondition).real[..., :h, :w_]

    p = torch.from_numpy(np.asarray(phase, np.float32))[None, None]
    w = None
    if masked and mask_floor < 1:
        w = torch.from_numpy(support_weight(np.asarray(phase, np.float32), mask_margin_px, mask_reference))[None, None]
        w = mask_floor + (1 - mask_floor) * w
    residuals = []
    previous = None        # (gradient, preconditioned gradient, direction) of the last step, for conjugacy
    defect = 0.0           # exact image minus the cheap model, at the last refresh

    def simulate(x):       # the steps' model: the cheap one plus the last defect
        return cheap(x) + defect

    with torch.inference_mode(False):
        for i in range(steps):
            x = p.clone().requires_grad_(True)
            with torch.enable_grad():
                blurred = cheap(x)
                if exact is not None and i % max(1, int(refresh_every)) == 0:
                    with torch.no_grad():   # the cheap image at p is the one just computed
                        defect = exact(p) - blurred.detach()
                    previous = None   # the model changed: restart the conjugate directions
                image = blurred + defect
                r = image - y if keep is None else (image - y) * keep
                loss = (r * r).sum()
                (g,) = torch.autograd.grad(loss, x)
            residuals.append(float(torch.linalg.vector_norm(r.detach())) / contrast)
            if discrepancy is not None and i >= min_steps and residuals[-1] <= discrepancy * noise_floor:
                info["stopped_at_noise"] = i
                break
            info["steps_taken"] = i + 1
            with torch.no_grad():
                # symmetric W P W keeps the step a descent direction while confining it to the cells
                gw = g if w is None else g * w
                z = preconditioned(gw)
                z = z if w is None else z * w
                d = z
                if conjugate and previous is not None:
                    g0, z0, d0 = previous      # Polak-Ribiere+, restarted when not a descent direction
                    beta = max(0.0, float(((g - g0) * z).sum()) / max(float((g0 * z0).sum()), 1e-30))
                    d = z + beta * d0
                    if float((g * d).sum()) <= 0:
                        d = z
                previous = (g, z, d)
                e = 1e-3 / max(float(d.abs().max()), 1e-12)
                jd = (simulate(p - e * d) - image.detach()) / (-e)
                jd = jd if keep is None else jd * keep
                den = 2 * float((jd * jd).sum())
                t = float((g * d).sum()) / den if den > 0 else 0.0
                p = p - t * d
            yield Progress(stage="measurement consistency", step=i + 1, total=steps, preview=p[0, 0].numpy().copy())
        with torch.no_grad():
            r = (simulate(p) if exact is None else exact(p)) - y
            residuals.append(float(torch.linalg.vector_norm(r if keep is None else r * keep)) / contrast)
    if stats is not None:
        stats.update(info)
        stats["relative_residual"] = residuals
    return p[0, 0].numpy().astype(np.float32)
