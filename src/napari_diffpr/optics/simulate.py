"""Simulated QPI data: cell phantoms and the off-axis hologram and chromatic RGB brightfield forward
models (``napari_diffpr.simulate``).

NumPy in / NumPy out for single images (:func:`phantom`, :func:`hologram`,
:func:`rgb_brightfield`, :func:`sample`), torch batches for training (:func:`phantom_batch`,
:func:`hologram_batch`, :func:`rgb_batch`). Everything is seeded: the single-image helpers take a
``seed``; the batch functions a ``torch.Generator`` (a CPU generator gives the same draws on any
device). Phase in radians, lengths in µm, frequencies of the hologram carrier in cycles/pixel.
See :mod:`.hologram` for the hologram's sign convention and where its orders sit in the FFT.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError, ParameterError
from . import _checks as chk
from .phantoms import KINDS
from .samples import HologramSample, RGBSample

__all__ = ["phantom", "phantom_batch", "hologram", "hologram_batch", "rgb_brightfield", "rgb_batch",
           "sample", "HologramSample", "RGBSample", "KINDS"]

DEFAULT_HOLOGRAM_WAVELENGTH_UM = 0.532
DEFAULT_HOLOGRAM_PIXEL_UM = 0.1


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(chk.seed(seed))


def _shape(shape) -> tuple[int, int]:
    if isinstance(shape, numbers.Integral):
        shape = (shape, shape)
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ParameterError(f"shape must be an int or (height, width), got {shape!r}") from None
    if min(h, w) < chk.MIN_IMAGE_SIZE:
        raise ParameterError(f"shape {h} x {w} is too small; at least {chk.MIN_IMAGE_SIZE} pixels a side")
    return h, w


def _device(device):
    from ..device import resolve_device

    return resolve_device(device)


# ----------------------------------------------------------------------------------- phantoms

def phantom(shape=(256, 256), kind: str = "mixed", seed: int = 0, max_phase: float | None = None) -> np.ndarray:
    """A cell phantom: float32 (H, W) phase in radians, exactly 0 on the background and >= 0 on
    the cells, with membrane ridges, granular cytoplasm/speckle and nuclei. ``kind`` is one of
    ``"bcell"``, ``"wbc"`` (small round cells), ``"hela"``, ``"3t3"`` (spread cells), ``"beads"``,
    ``"mixed"``. The peak phase is drawn in the kind's typical range (1–6 rad, like real cells
    at 532–633 nm) unless ``max_phase`` (rad) is given."""
    from .phantoms import _check_kind, render

    h, w = _shape(shape)
    _check_kind(kind)
    mp = chk.optional_number("max_phase", max_phase, minimum=0.0, strict_min=True, unit="rad")
    out = render(1, (h, w), [kind], generator=_generator(seed), device="cpu", max_phase=mp)
    return out[0, 0].numpy().astype(np.float32)


def phantom_batch(n: int, size, *, kinds=None, generator=None, device="cpu", max_phase=None,
                  reference_size=None):
    """``n`` phantoms as a float32 tensor ``(n, 1, H, W)`` (radians) on ``device``. ``size`` is an
    int or (H, W); ``kinds`` one kind name, a sequence of names to draw from per sample, or None
    for all kinds. ``generator``: a torch.Generator (None = torch's global RNG).
    ``reference_size`` (pixels, default the image size): cell radii are fractions of it and the
    cell count grows with the image area over its square, so cells keep their size in larger
    fields (``phantoms.render``)."""
    import torch

    from .phantoms import _check_kind, render

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    h, w = _shape(size)
    pool = list(KINDS) if kinds is None else [kinds] if isinstance(kinds, str) else list(kinds)
    if not pool:
        raise ParameterError("kinds is empty; give at least one phantom kind or None for all")
    for k in pool:
        _check_kind(k)
    gdev = generator.device if generator is not None else "cpu"
    idx = torch.randint(len(pool), (int(n),), generator=generator, device=gdev).tolist()
    mp = chk.optional_number("max_phase", max_phase, minimum=0.0, strict_min=True, unit="rad")
    ref = chk.optional_number("reference_size", reference_size, minimum=1.0, unit="px")
    return render(int(n), (h, w), [pool[i] for i in idx], generator=generator,
                  device=_device(device), max_phase=mp, reference_size=ref)


# ----------------------------------------------------------------------------------- hologram

def _hologram_args(carrier, visibility, pupil_radius, photons, read_noise, bit_depth):
    fy, fx = chk.carrier(carrier)
    vis = chk.number("visibility", visibility, minimum=0.0, maximum=1.0, strict_min=True)
    cnorm = float(np.hypot(fy, fx))
    if pupil_radius is None:
        pupil = cnorm / 3.0
    else:
        pupil = chk.number("pupil_radius", pupil_radius, minimum=0.0, maximum=0.5, strict_min=True,
                           unit="cycles/pixel")
    ph = chk.optional_number("photons", photons, minimum=0.0, strict_min=True, unit="photons/pixel")
    rn = chk.number("read_noise", read_noise, minimum=0.0, unit="electrons")
    if bit_depth is not None:
        if isinstance(bit_depth, bool) or not isinstance(bit_depth, numbers.Integral) or not 1 <= bit_depth <= 32:
            raise ParameterError(f"bit_depth must be an integer 1–32 or None (float output), got {bit_depth!r}")
        bit_depth = int(bit_depth)
    return (fy, fx), vis, pupil, ph, rn, bit_depth


def hologram(phase, amplitude=None, *, carrier=(0.2, 0.2), visibility=0.8, pupil_radius=None,
             photons=2000.0, read_noise=2.0, bit_depth=8, seed=0,
             reference_aberration=0.0, illumination_falloff=0.0,
             wavelength_um=DEFAULT_HOLOGRAM_WAVELENGTH_UM,
             pixel_size_um=DEFAULT_HOLOGRAM_PIXEL_UM) -> HologramSample:
    """Off-axis hologram of ``phase`` (H, W, radians) and optional ``amplitude`` (H, W, >= 0).

    Convention: ``I ∝ |a·O + R|²`` with ``O = A·exp(iφ)`` (band-limited by a disk pupil of
    ``pupil_radius`` cycles/px), ``R = exp(i 2π (fy·y + fx·x))``, (y, x) in pixels, ``carrier =
    (fy, fx)`` in cycles/px (any direction and sign, 0 < |carrier| <= 0.5), ``a`` chosen so the
    empty field's fringe visibility is ``visibility``. In ``np.fft.fftfreq`` coordinates the
    ``O·R*`` order sits at ``(−fy, −fx)``, its twin ``O*·R`` at ``(+fy, +fx)``.

    ``pupil_radius`` defaults to ``|carrier|/3``, the largest for which the ±1 orders (radius ρ)
    do not overlap the 0 order (radius 2ρ). ``photons``: mean photo-electrons per pixel at
    intensity 1 (Poisson shot noise; None = noise-free, read noise ignored too). ``read_noise``
    in electrons rms. ``bit_depth``: ADC bits (full scale just above the brightest fringe), None =
    float electrons. ``reference_aberration``: peak-to-valley (rad) of a random low-order
    wavefront (tilt, defocus, astigmatism) on the reference; ``illumination_falloff``: fraction
    of intensity lost towards the field's corners by a Gaussian-like beam (0 = flat). The
    background hologram has the same reference, aberration, envelope and noise model but no
    object, and its own noise draw. ``wavelength_um``/``pixel_size_um`` only go into ``meta`` (with the
    pupil's equivalent NA = pupil_radius·λ/pixel size)."""
    import torch

    from .hologram import forward, illumination_envelope
    from .hologram import reference_aberration as reference_aberration_map

    ph = chk.image("phase", phase)
    amp = None if amplitude is None else chk.image("amplitude", amplitude, allow_negative=False)
    if amp is not None and amp.shape != ph.shape:
        raise InputError(f"amplitude has shape {amp.shape} but phase has {ph.shape}; they must match")
    (fy, fx), vis, pupil, photons_v, rn, bits = _hologram_args(carrier, visibility, pupil_radius,
                                                                photons, read_noise, bit_depth)
    wl = chk.number("wavelength_um", wavelength_um, minimum=0.0, strict_min=True, unit="µm")
    px = chk.number("pixel_size_um", pixel_size_um, minimum=0.0, strict_min=True, unit="µm")
    aber = chk.number("reference_aberration", reference_aberration, minimum=0.0, unit="rad")
    fall = chk.number("illumination_falloff", illumination_falloff, minimum=0.0, maximum=1.0,
                      strict_max=True)
    gen = _generator(seed)
    one = lambda v: torch.tensor([v], dtype=torch.float32)  # noqa: E731
    aberration = reference_aberration_map(ph.shape, one(aber), gen, "cpu") if aber > 0 else None
    envelope = illumination_envelope(ph.shape, one(fall), gen, "cpu") if fall > 0 else None
    holo, bg, phase_bl, field = forward(
        torch.from_numpy(ph)[None, None], None if amp is None else torch.from_numpy(amp)[None, None],
        torch.tensor([[fy, fx]], dtype=torch.float32), one(vis), one(pupil),
        None if photons_v is None else one(photons_v), one(rn), bits, gen, aberration, envelope)
    meta = dict(kind="hologram", carrier=(fy, fx), carrier_units="cycles/pixel",
                sideband_object_fftfreq=(-fy, -fx), sideband_twin_fftfreq=(fy, fx),
                visibility=vis, pupil_radius=pupil, pupil_units="cycles/pixel",
                na_equivalent=pupil * wl / px, photons=photons_v, read_noise=rn, bit_depth=bits,
                seed=int(seed), reference_aberration_rad=aber, illumination_falloff=fall,
                wavelength_um=wl, pixel_size_um=px,
                convention="I ∝ |a·O + R|², O = A·exp(iφ), R = exp(i2π(fy·y + fx·x))")
    return HologramSample(hologram=holo[0, 0].numpy(), background=bg[0, 0].numpy(),
                          phase=phase_bl[0, 0].numpy().astype(np.float32), phase_true=ph,
                          amplitude=field[0, 0].abs().numpy().astype(np.float32), meta=meta)


def _batch_phase(phase, what="phase"):
    import torch

    if not isinstance(phase, torch.Tensor):
        raise InputError(f"{what} must be a torch tensor (n, 1, H, W); got {type(phase).__name__} "
                         "(use the single-image function for NumPy arrays)")
    if phase.ndim != 4 or phase.shape[1] != 1:
        raise InputError(f"{what} must have shape (n, 1, H, W), got {tuple(phase.shape)}")
    if not torch.isfinite(phase).all():
        raise InputError(f"{what} contains NaN or infinite values")
    return phase.float()


def hologram_batch(phase, *, amplitude=None, generator=None, randomize=True, carrier=None,
                   visibility=None, pupil_radius=None, photons=None, read_noise=None, bit_depth=8,
                   reference_aberration=None, illumination_falloff=None, noise=True,
                   return_truth=False, return_settings=False):
    """Holograms and backgrounds ``(n, 1, H, W)`` float32 of a phase batch ``(n, 1, H, W)``, on the
    phase's device. With ``randomize=True`` every setting left None is drawn per sample (carrier
    0.1–0.3 cycles/px at any angle, pupil 60–100 % of |carrier|/3, visibility 0.3–0.95,
    200–20 000 photons, 0–5 e⁻ read noise, a 0–2 rad reference aberration, 0–40 % illumination
    falloff); with ``randomize=False`` None means
    :func:`hologram`'s default. ``noise=False`` leaves out shot and read noise (then
    ``bit_depth=None`` gives the intensity itself, mean 1). ``return_truth=True`` adds the
    band-limited phase (the target a perfect retrieval reaches); ``return_settings=True`` adds a
    dict of the per-sample settings (tensors ``(n,)``, carrier ``(n, 2)`` as (fy, fx)).
    Outputs: ``(holograms, backgrounds[, truth][, settings])``."""
    import torch

    from . import _random as r
    from .hologram import forward, illumination_envelope, random_settings
    from .hologram import reference_aberration as reference_aberration_map

    ph = _batch_phase(phase)
    n, device = ph.shape[0], ph.device
    amp = None if amplitude is None else _batch_phase(amplitude, "amplitude").to(device)
    if amp is not None and amp.shape != ph.shape:
        raise InputError(f"amplitude has shape {tuple(amp.shape)} but phase has {tuple(ph.shape)}")
    if not randomize:
        carrier = (0.2, 0.2) if carrier is None else carrier
        visibility = 0.8 if visibility is None else visibility
        photons = 2000.0 if photons is None else photons
        read_noise = 2.0 if read_noise is None else read_noise
        reference_aberration = 0.0 if reference_aberration is None else reference_aberration
        illumination_falloff = 0.0 if illumination_falloff is None else illumination_falloff
    if carrier is not None:
        chk.carrier(carrier)
    if visibility is not None:
        chk.number("visibility", visibility, minimum=0.0, maximum=1.0, strict_min=True)
    if pupil_radius is not None:
        chk.number("pupil_radius", pupil_radius, minimum=0.0, maximum=0.5, strict_min=True)
    if photons is not None:
        chk.number("photons", photons, minimum=0.0, strict_min=True)
    if read_noise is not None:
        chk.number("read_noise", read_noise, minimum=0.0)
    settings = random_settings(n, generator, device, carrier, visibility, pupil_radius, photons, read_noise,
                               pupil_fraction=(0.6, 1.0) if randomize else (1.0, 1.0))
    carrier_t, vis, pupil, ph_count, rn = settings
    if not noise:
        ph_count = None
    aber = (r.uniform((n,), 0.0, 2.0, generator, device) if reference_aberration is None else
            torch.full((n,), chk.number("reference_aberration", reference_aberration, minimum=0.0), device=device))
    fall = (r.uniform((n,), 0.0, 0.4, generator, device) if illumination_falloff is None else
            torch.full((n,), chk.number("illumination_falloff", illumination_falloff, minimum=0.0,
                                        maximum=1.0, strict_max=True), device=device))
    aberration = reference_aberration_map(ph.shape, aber, generator, device) if bool((aber > 0).any()) else None
    envelope = illumination_envelope(ph.shape, fall, generator, device) if bool((fall > 0).any()) else None
    holo, bg, phase_bl, _ = forward(ph, amp, carrier_t, vis, pupil, ph_count, rn, bit_depth, generator,
                                    aberration, envelope, with_truth=return_truth)
    out = (holo, bg) + ((phase_bl,) if return_truth else ())
    if return_settings:
        out += (dict(carrier=carrier_t, visibility=vis, pupil_radius=pupil, photons=ph_count,
                     read_noise=rn, reference_aberration=aber, illumination_falloff=fall),)
    return out


# ----------------------------------------------------------------------------------- RGB

def _rgb_args(pixel_size, wavelengths, defocus, na_illumination, na_detection, n_medium,
              reference_wavelength, n_wavelengths, photons, read_noise, defocus_model="channel"):
    px = chk.number("pixel_size", pixel_size, minimum=0.0, strict_min=True, unit="µm")
    wls = chk.triple("wavelengths", wavelengths, positive=True, unit="µm")
    dz = chk.triple("defocus", defocus, unit="µm")
    nm = chk.number("n_medium", n_medium, minimum=1.0, unit="(refractive index)")
    na_i = chk.number("na_illumination", na_illumination, minimum=0.0, maximum=nm, strict_max=True)
    na_d = chk.number("na_detection", na_detection, minimum=0.0, maximum=nm, strict_min=True)
    lref = chk.number("reference_wavelength", reference_wavelength, minimum=0.0, strict_min=True, unit="µm")
    if isinstance(n_wavelengths, bool) or not isinstance(n_wavelengths, numbers.Integral) or n_wavelengths < 3:
        raise ParameterError(f"n_wavelengths must be an integer >= 3 (samples of 0.4–0.7 µm), got {n_wavelengths!r}")
    ph = chk.optional_number("photons", photons, minimum=0.0, strict_min=True, unit="photons/pixel")
    rn = chk.number("read_noise", read_noise, minimum=0.0, unit="electrons")
    if defocus_model not in ("channel", "wavelength"):
        raise ParameterError(f"defocus_model must be 'channel' (one defocus per colour channel) or "
                             f"'wavelength' (one focus per wavelength); got {defocus_model!r}")
    if defocus_model == "wavelength" and min(abs(a - b) for a, b in ((wls[0], wls[1]), (wls[1], wls[2]),
                                                                     (wls[0], wls[2]))) < 1e-3:
        raise ParameterError(f"defocus_model='wavelength' fits a focal shift through the three channels, "
                             f"so their wavelengths must differ; got {wls}")
    return px, wls, dz, na_i, na_d, nm, lref, int(n_wavelengths), ph, rn


def rgb_brightfield(phase, *, pixel_size=0.2, wavelengths=(0.63, 0.55, 0.45), defocus=(-1.5, 0.0, 1.5),
                    na_illumination=0.3, na_detection=0.55, n_medium=1.33, reference_wavelength=0.55,
                    n_wavelengths=50, photons=5000.0, read_noise=2.0, seed=0,
                    defocus_model="channel") -> RGBSample:
    """Chromatic single-exposure brightfield image (H, W, 3; R, G, B last; empty field ≈ 1) of a
    thin phase object. All lengths in µm. ``phase`` is radians at ``reference_wavelength``
    (OPD = phase·λref/2π; at λ the phase is OPD·2π/λ, no dispersion). ``n_wavelengths`` samples
    of 0.4–0.7 µm weighted by Gaussian channel responses centred at ``wavelengths`` (R, G, B);
    channel c is focused at ``defocus[c]`` (positive = propagated downstream of the object);
    detection pupil NA/λ; partially coherent blur from ``na_illumination``; Poisson noise at
    ``photons`` per pixel (None = noise-free) plus ``read_noise`` electrons.
    ``defocus_model="wavelength"`` instead gives every wavelength one focus, on the parabola
    through the three (wavelength, defocus) points, seen by all channels (physically consistent
    chromatic focal shift)."""
    import torch

    from .brightfield import forward

    ph = chk.image("phase", phase)
    px, wls, dz, na_i, na_d, nm, lref, nwl, photons_v, rn = _rgb_args(
        pixel_size, wavelengths, defocus, na_illumination, na_detection, n_medium,
        reference_wavelength, n_wavelengths, photons, read_noise, defocus_model)
    gen = _generator(seed)
    img = forward(torch.from_numpy(ph)[None, None], pixel_size_um=px, wavelengths=wls,
                  defocus_um=torch.tensor([dz]), na_illumination=torch.tensor([na_i]),
                  na_detection=na_d, n_medium=nm, reference_wavelength=lref, n_wavelengths=nwl,
                  photons=None if photons_v is None else torch.tensor([photons_v]),
                  read_noise=torch.tensor([rn]), generator=gen, defocus_model=defocus_model)
    meta = dict(kind="rgb", pixel_size_um=px, wavelengths_um=wls, defocus_um=dz,
                na_illumination=na_i, na_detection=na_d, n_medium=nm,
                reference_wavelength_um=lref, wavelength_um=lref, n_wavelengths=nwl,
                photons=photons_v, read_noise=rn, seed=int(seed), channel_order="RGB",
                defocus_model=defocus_model)
    return RGBSample(image=img[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32),
                     phase=ph, meta=meta)


def rgb_batch(phase, *, generator=None, randomize=True, pixel_size=0.2, wavelengths=(0.63, 0.55, 0.45),
              defocus=(-1.5, 0.0, 1.5), na_illumination=0.3, na_detection=0.55, n_medium=1.33,
              reference_wavelength=0.55, n_wavelengths=12, photons=5000.0, read_noise=2.0,
              noise=True, defocus_model="channel"):
    """RGB brightfield batch ``(n, 3, H, W)`` float32 (background ≈ 1) of a phase batch
    ``(n, 1, H, W)`` (radians at ``reference_wavelength``), on the phase's device. Parameters as in
    :func:`rgb_brightfield` (12 wavelengths by default, for speed). ``randomize=True`` draws per
    sample illumination NA × 0.7–1.3, photons × 0.2–5 (log-uniform) and read noise × 0–2 around the
    given values, and per batch (one transfer function per wavelength keeps it fast) a defocus
    scale of 0.8–1.2. ``noise=False`` (or ``photons=None``) leaves out shot and read noise."""
    import torch

    from . import _random as r
    from .brightfield import forward

    ph = _batch_phase(phase)
    n, device = ph.shape[0], ph.device
    px, wls, dz, na_i, na_d, nm, lref, nwl, photons_v, rn = _rgb_args(
        pixel_size, wavelengths, defocus, na_illumination, na_detection, n_medium,
        reference_wavelength, n_wavelengths, photons, read_noise, defocus_model)
    dz_t = torch.tensor(dz, device=device)
    na_t = torch.full((n,), na_i, device=device)
    ph_t = None if photons_v is None or not noise else torch.full((n,), photons_v, device=device)
    rn_t = torch.full((n,), rn, device=device)
    if randomize:
        dz_t = dz_t * r.uniform((1,), 0.8, 1.2, generator, device)
        na_t = (na_t * r.uniform((n,), 0.7, 1.3, generator, device)).clamp(max=0.95 * nm)
        if ph_t is not None:
            ph_t = ph_t * r.log_uniform((n,), 0.2, 5.0, generator, device)
        rn_t = rn_t * r.uniform((n,), 0.0, 2.0, generator, device)
    return forward(ph, pixel_size_um=px, wavelengths=wls, defocus_um=dz_t, na_illumination=na_t,
                   na_detection=na_d, n_medium=nm, reference_wavelength=lref, n_wavelengths=nwl,
                   photons=ph_t, read_noise=rn_t, generator=generator, defocus_model=defocus_model)


# ----------------------------------------------------------------------------------- samples

def sample(kind: str = "hologram", size: int = 256, seed: int = 0) -> dict:
    """Ready-made sample data for napari and the CLI: a mixed-cell phantom imaged as an off-axis
    ``"hologram"`` or a chromatic ``"rgb"`` brightfield image. Returns ``{"measurement",
    "background" (None for rgb), "phase" (ground truth, radians), "meta"}``; ``meta`` has
    ``pixel_size_um``, ``wavelength_um`` (and for rgb ``wavelengths_um``, ``defocus_um``)."""
    if kind not in ("hologram", "rgb"):
        raise ParameterError(f"sample kind must be 'hologram' or 'rgb', got {kind!r}")
    h, w = _shape(size)
    phase = phantom((h, w), "mixed", seed=seed)
    if kind == "hologram":
        s = hologram(phase, seed=seed)
        return {"measurement": s.hologram, "background": s.background, "phase": s.phase,
                "meta": dict(s.meta, phantom="mixed")}
    s = rgb_brightfield(phase, seed=seed)
    return {"measurement": s.image, "background": None, "phase": s.phase,
            "meta": dict(s.meta, phantom="mixed")}
