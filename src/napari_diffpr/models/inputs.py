"""What the networks see, and how their outputs become radians.

Holograms: the networks do NOT see the raw fringes. A cheap FFT step first demodulates the +1
order to DC (carrier found automatically, any direction and sign), low-pass filters it with a
smooth disk of radius ``filter_fraction`` x the carrier distance, divides by the background
hologram's field when one is given, removes the residual tilt and offset, and picks the sign that
makes cells positive. The network input is 3 channels: cos and sin of the wrapped phase and the
centred log amplitude. This makes the networks independent of the carrier frequency and
direction (which a U-Net trained for minutes on a CPU cannot learn from raw fringes), leaves them
the jobs that need learning — unwrapping, denoising, restoring detail beyond the filter — and
lets a background hologram remove the setup's aberrations before the network runs.

RGB: the 3 channels, each divided by its mean (the empty field is ~1), minus 1, divided by the
fixed ``rgb_contrast`` of the weight config.

Phase scaling: network value = (phase_rad - phase_offset_rad) / phase_scale_rad, with both
numbers stored in each weight file's config; one mapping for both modalities, so one diffusion
prior serves both.

Importing this module imports torch; the registry imports it lazily.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, RetrievalError
from ..torchfft import ifft2

DEFAULT_CONFIG: dict[str, Any] = {
    "phase_scale_rad": 3.0,      # radians per network unit
    "phase_offset_rad": 0.0,     # radians at network value 0 (the zero-phase background)
    "filter_fraction": 0.5,      # low-pass radius / carrier distance for the demodulation
    "min_carrier": 0.06,         # cycles/px: below this the search ignores the 0 order
    "rgb_contrast": 0.1,         # RGB channel contrast (I/mean - 1) that maps to network value 1
    "size_multiple": 16,
}
HOLOGRAM_INPUT = "demodulated: cos(phase), sin(phase), centred log amplitude"
# Physics-anchored input (issue 7): the three channels above plus the unwrapped Fourier phase in
# the predictor's network units. Networks trained on it add a learned correction to that channel
# (``residual_channel`` 3 in their model kwargs), so the phase scale comes from the physics.
HOLOGRAM_INPUT_UNWRAPPED = ("demodulated+unwrapped: cos(phase), sin(phase), centred log amplitude, "
                            "unwrapped phase in network units")
RGB_INPUT = "rgb: (I_c / mean(I_c) - 1) / rgb_contrast"
# Physics-normalised RGB input (issue 8): features computed with the user's optics (models.rgb_inputs)
from .rgb_inputs import CHANNELS as _RGB_PHYSICS_CHANNELS  # noqa: E402
from .rgb_inputs import RGB_PHYSICS_INPUT  # noqa: E402

INPUT_CHANNELS = {HOLOGRAM_INPUT: 3, HOLOGRAM_INPUT_UNWRAPPED: 4, RGB_INPUT: 3,
                  RGB_PHYSICS_INPUT: _RGB_PHYSICS_CHANNELS}


def _cfg(config: dict | None, key: str):
    if config and key in config:
        return config[key]
    return DEFAULT_CONFIG[key]


# ----------------------------------------------------------------------------- phase mapping
def phase_to_network(phase_rad, config: dict | None = None):
    """Radians -> network units (numpy array or torch tensor, a new object)."""
    return (phase_rad - _cfg(config, "phase_offset_rad")) / _cfg(config, "phase_scale_rad")


def network_to_phase(x, config: dict | None = None):
    """Network units -> radians (numpy array or torch tensor, a new object)."""
    return x * _cfg(config, "phase_scale_rad") + _cfg(config, "phase_offset_rad")


def down4(phase: torch.Tensor) -> torch.Tensor:
    """The Down operator of the reduced U-Net's target: 4 x 4 average pooling."""
    return F.avg_pool2d(phase, 4)


# ----------------------------------------------------------------------------- holograms
def _carrier(spec: torch.Tensor, min_carrier: float) -> torch.Tensor:
    """Sub-pixel carrier (fy, fx) in cycles/px per image from |FFT| (B, H, W), searching the
    half plane fy > 0 (or fy == 0, fx > 0) outside the 0 order. The other sideband is its
    complex conjugate, so the sign is fixed later from the phase itself."""
    b, h, w = spec.shape
    fy = torch.fft.fftfreq(h, device=spec.device)[:, None]
    fx = torch.fft.fftfreq(w, device=spec.device)[None, :]
    half = (fy > 0) | ((fy == 0) & (fx > 0))
    allowed = half & (fy ** 2 + fx ** 2 >= min_carrier ** 2)
    mag = torch.where(allowed, spec, torch.zeros((), device=spec.device))
    idx = mag.reshape(b, -1).argmax(dim=1)
    iy, ix = idx // w, idx % w

    def refine(line_m, line_0, line_p):
        # parabola through three log magnitudes: offset of the vertex in bins
        lm, l0, lp = (torch.log(v + 1e-12) for v in (line_m, line_0, line_p))
        den = lm - 2 * l0 + lp
        off = torch.where(den.abs() > 1e-12, 0.5 * (lm - lp) / den, torch.zeros_like(den))
        return off.clamp(-0.5, 0.5)

    ar = torch.arange(b, device=spec.device)
    oy = refine(spec[ar, (iy - 1) % h, ix], spec[ar, iy, ix], spec[ar, (iy + 1) % h, ix])
    ox = refine(spec[ar, iy, (ix - 1) % w], spec[ar, iy, ix], spec[ar, iy, (ix + 1) % w])
    cy = fy[iy, 0] + oy / h
    cx = fx[0, ix] + ox / w
    return torch.stack([cy, cx], dim=1)


def _phasor(angle: torch.Tensor) -> torch.Tensor:
    """exp(i angle) via torch.polar: several times faster than complex torch.exp on a CPU."""
    angle = angle.float()
    return torch.polar(torch.ones_like(angle), angle)


def _sideband(holo: torch.Tensor, carrier: torch.Tensor, fraction: float) -> torch.Tensor:
    """Shift the sideband at ``carrier`` to DC and low-pass it (smooth disk): complex (B, H, W)."""
    b, h, w = holo.shape
    y = torch.arange(h, device=holo.device, dtype=torch.float32)[:, None]
    x = torch.arange(w, device=holo.device, dtype=torch.float32)[None, :]
    ramp = _phasor(-2 * math.pi * (carrier[:, 0, None, None] * y + carrier[:, 1, None, None] * x))
    spec = torch.fft.fft2(holo * ramp)
    fy = torch.fft.fftfreq(h, device=holo.device)[:, None]
    fx = torch.fft.fftfreq(w, device=holo.device)[None, :]
    rho = torch.sqrt(fy ** 2 + fx ** 2)[None]
    radius = fraction * torch.linalg.vector_norm(carrier, dim=1)[:, None, None]
    # cosine roll-off over the outer 20% of the radius: less ringing than a hard disk
    edge = ((rho - 0.8 * radius) / (0.2 * radius)).clamp(0, 1)
    filt = 0.5 * (1 + torch.cos(math.pi * edge))
    return ifft2(spec * filt)


def _remove_tilt_and_offset(u: torch.Tensor, noisy: torch.Tensor | None = None) -> torch.Tensor:
    """Remove a residual linear phase ramp (mean phase gradient: compact cells on a flat
    background add ~nothing to it) and the phase offset of the background. ``noisy`` (B,) bool:
    estimate the gradient of those fields on a copy smoothed over ~2 px instead."""

    def gradient(v):
        return (torch.angle((v[:, 1:, :] * v[:, :-1, :].conj()).sum(dim=(1, 2))),
                torch.angle((v[:, :, 1:] * v[:, :, :-1].conj()).sum(dim=(1, 2))))

    gy, gx = gradient(u)
    m = int(3 * SIGN_VOTE_SMOOTHING_PX)   # the periodic blur mixes opposite edges: leave them out
    if noisy is not None and bool(noisy.any()) and min(u.shape[-2:]) > 8 * m:
        # At a few photons/px the band-limited noise's neighbour correlation carries the
        # carrier-detection error as a ramp of its own and outweighs the signal (HL60 at 5
        # photons/px: a false tilt of 1.4 fringes, then the wrong sign). Smoothing fixes that
        # but biases clean fields with cells cut by the frame edge (tiles of a large frame:
        # 0.1-0.2 rad across a 512² tile), so it is used only where the noise is high.
        sy, sx = gradient(_gaussian_blur(u, SIGN_VOTE_SMOOTHING_PX)[:, m:-m, m:-m])
        gy, gx = torch.where(noisy, sy, gy), torch.where(noisy, sx, gx)
    h, w = u.shape[-2:]
    y = torch.arange(h, device=u.device, dtype=torch.float32)[:, None]
    x = torch.arange(w, device=u.device, dtype=torch.float32)[None, :]
    u = u * _phasor(-(gy[:, None, None] * y + gx[:, None, None] * x))
    # then a plane fitted to the background (the half of the pixels nearest zero phase), twice:
    # removes the offset and what the cells biased in the gradient estimate
    ones = torch.ones_like(y * x)
    basis = torch.stack([ones, y.expand_as(ones) / h, x.expand_as(ones) / w]).reshape(3, -1)  # (3, HW)
    for _ in range(2):
        ph = torch.angle(u).reshape(u.shape[0], -1)
        thr = ph.abs().median(dim=1, keepdim=True).values   # (a selection: 10x faster than quantile)
        wgt = (ph.abs() <= thr).float()
        normal = torch.einsum("bn,in,jn->bij", wgt, basis, basis) + 1e-6 * torch.eye(3, device=u.device)
        rhs = torch.einsum("bn,in,bn->bi", wgt, basis, ph)
        coef = torch.linalg.solve(normal, rhs)                        # (B, 3)
        plane = (coef @ basis).reshape(u.shape)
        u = u * _phasor(-plane)
    return u


def demodulate(holograms: torch.Tensor, backgrounds: torch.Tensor | None = None,
               config: dict | None = None, details: dict | None = None) -> torch.Tensor:
    """Complex object field (B, H, W) from holograms (B, H, W) or (B, 1, H, W), background
    holograms of the same shape optional (their field divides the object's: aberrations and
    reference tilt cancel). The sign is chosen so that cells (the minority of pixels, positive
    phase on a flat background) come out positive."""
    holo = holograms.float()
    if holo.ndim == 4:
        holo = holo[:, 0]
    holo = holo / holo.mean(dim=(1, 2), keepdim=True).clamp_min(1e-12) - 1
    spec = torch.fft.fft2(holo).abs()
    carrier = _carrier(spec, _cfg(config, "min_carrier"))
    fraction = _cfg(config, "filter_fraction")
    u = _sideband(holo, carrier, fraction)
    # white phase-noise variance per pixel of this field (before the band filter)
    noise = _phase_noise(spec, carrier, u)
    if backgrounds is not None:
        bg = backgrounds.float()
        if bg.ndim == 4:
            bg = bg[:, 0]
        bg = bg / bg.mean(dim=(1, 2), keepdim=True).clamp_min(1e-12) - 1
        ub = _sideband(bg, carrier, fraction)
        noise = noise + _phase_noise(torch.fft.fft2(bg).abs(), carrier, ub)
        ub_abs = ub.abs()
        floor = 0.05 * ub_abs.mean(dim=(1, 2), keepdim=True)
        u = u * ub.conj() / (ub_abs.clamp_min(floor) ** 2)
    if details is not None:
        details.update(carrier=carrier, radius=fraction * torch.linalg.vector_norm(carrier, dim=1),
                       phase_noise=noise)
    u = _remove_tilt_and_offset(u, noisy=torch.nan_to_num(noise, nan=0.0) > NOISY_PHASE_VARIANCE)
    # cells positive: compact cells on a flat background give a positively skewed phase. Skew of
    # the phase relative to a Gaussian-smoothed field (sigma = max(16 px, 1/8 of the frame)),
    # so smooth aberrations and wraps do not vote. Right on 98 % of simulated holograms without
    # a background hologram (mean-minus-median of the raw phase: 87 %).
    # The field is first smoothed over ~2 px, so the per-pixel phase noise (~1 rad at a few
    # photons/px) votes less: 563 instead of 562 of 576 simulated signs right. (The wrong signs
    # of the HL60 hologram at 5 photons/px came from the false tilt, fixed above, not from here.)
    sigma = max(16.0, min(u.shape[-2:]) / 8)
    hp = torch.angle(_gaussian_blur(u, SIGN_VOTE_SMOOTHING_PX) * _gaussian_blur(u, sigma).conj())
    hp = hp.reshape(u.shape[0], -1)
    skew = (hp - hp.mean(dim=1, keepdim=True)).pow(3).mean(dim=1)
    return torch.where((skew < 0)[:, None, None], u.conj(), u)


SIGN_VOTE_SMOOTHING_PX = 2.0
# white phase-noise variance (rad², before the band filter) above which the residual tilt is
# estimated on a smoothed field: HL60 at 20 / 5 photons/px has ~1.4 / 5.5, 2000 photons/px ~0.003
NOISY_PHASE_VARIANCE = 1.0


def _phase_noise(spec_abs: torch.Tensor, carrier: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per-pixel variance (rad^2) of the white phase noise of the demodulated field ``u``
    (B, H, W) before its band filter, from the hologram's |FFT| (B, H, W): shot, read and
    quantisation noise are white, so their level is the median power over the part of the
    spectrum that holds no order (|k| >= 0.8 |c|, >= 0.45 |c| from both sidebands; the median
    of an exponential variable is ln 2 times its mean). Complex noise of variance N/(HW) per
    pixel on a field of amplitude s puts N / (2 s^2 HW) on its phase. NaN where no such region
    exists."""
    b, h, w = spec_abs.shape
    fy = torch.fft.fftfreq(h, device=spec_abs.device)[None, :, None]
    fx = torch.fft.fftfreq(w, device=spec_abs.device)[None, None, :]
    cy, cx = carrier[:, 0, None, None], carrier[:, 1, None, None]
    cn = torch.sqrt(cy ** 2 + cx ** 2)
    rho = torch.sqrt(fy ** 2 + fx ** 2)
    empty = ((rho >= 0.8 * cn) & (torch.sqrt((fy - cy) ** 2 + (fx - cx) ** 2) >= 0.45 * cn)
             & (torch.sqrt((fy + cy) ** 2 + (fx + cx) ** 2) >= 0.45 * cn))
    power = spec_abs.float() ** 2
    out = []
    for i in range(b):
        vals = power[i][empty[i]]
        out.append(vals.median() / math.log(2) if vals.numel() >= 16 else torch.tensor(float("nan")))
    n0 = torch.stack(out).to(u.device)
    s2 = (u.abs() ** 2).reshape(b, -1).median(dim=1).values.clamp_min(1e-20)
    return n0 / (2 * s2 * h * w)


def _gaussian_blur(u: torch.Tensor, sigma: float) -> torch.Tensor:
    """Periodic Gaussian blur (sigma in pixels) of (B, H, W) via the FFT."""
    h, w = u.shape[-2:]
    fy = torch.fft.fftfreq(h, device=u.device)[:, None]
    fx = torch.fft.fftfreq(w, device=u.device)[None, :]
    gain = torch.exp(-2 * (math.pi * sigma) ** 2 * (fy ** 2 + fx ** 2))
    return ifft2(torch.fft.fft2(u) * gain)


def hologram_features(holograms: torch.Tensor, backgrounds: torch.Tensor | None = None,
                      config: dict | None = None) -> torch.Tensor:
    """Network input (B, C, H, W): cos and sin of the demodulated wrapped phase and the centred,
    clipped log amplitude (and, for the unwrapped representation of ``config["input"]``, the
    unwrapped phase in network units)."""
    if input_representation(config) == HOLOGRAM_INPUT_UNWRAPPED:
        return features_from_measurement(hologram_measurement(holograms, backgrounds, config), config)
    u = demodulate(holograms, backgrounds, config)
    return features_from_measurement({"field": u}, None)


def unwrap_field(u: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Unwrapped phase (B, H, W) radians of demodulated fields (B, H, W): the project's
    reliability-guided unwrapper (retrieval.unwrap, on a grid subsampled to the band
    ``radius`` (B,) cycles/px), then the 2 pi multiple nearest to the median removed, so the
    background sits near 0 rad as in the wrapped phase."""
    from ..retrieval.unwrap import unwrap

    ph = torch.angle(u).detach().cpu().numpy()
    out = []
    for i in range(ph.shape[0]):
        uw = unwrap(ph[i], "skimage", band_limit=float(radius[i]))
        uw = uw - 2 * math.pi * round(float(np.median(uw)) / (2 * math.pi))
        out.append(torch.from_numpy(np.ascontiguousarray(uw, dtype=np.float32)))
    return torch.stack(out).to(u.device)


def hologram_measurement(holograms: torch.Tensor, backgrounds: torch.Tensor | None = None,
                         config: dict | None = None) -> dict[str, torch.Tensor]:
    """The conventional reconstruction the learned methods stand on, from one demodulation:
    ``field`` (B, H, W) complex, ``unwrapped`` (B, H, W) radians, ``carrier`` (B, 2), the band
    ``radius`` (B,) cycles/px of the low-pass filter, ``phase_noise`` (B,) the estimated
    per-pixel variance (rad^2) of the white phase noise before that filter and
    ``with_background`` (bool)."""
    details: dict = {"with_background": backgrounds is not None}
    u = demodulate(holograms, backgrounds, config, details=details)
    details["field"] = u
    details["unwrapped"] = unwrap_field(u, details["radius"])
    return details


def band_filter(shape: tuple[int, int], radius: float, device="cpu") -> torch.Tensor:
    """The demodulation's smooth disk (H, W) on an FFT grid of ``shape``: 1 inside 0.8 x
    ``radius`` cycles/px, a cosine roll-off to 0 at ``radius``."""
    h, w = shape
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.fftfreq(w, device=device)[None, :]
    rho = torch.sqrt(fy ** 2 + fx ** 2)
    edge = ((rho - 0.8 * radius) / (0.2 * radius)).clamp(0, 1)
    return 0.5 * (1 + torch.cos(math.pi * edge))


def band_limit(phase: torch.Tensor, radius: float) -> torch.Tensor:
    """``phase`` (..., H, W) low-passed by ``band_filter`` at ``radius`` cycles/px: only the
    spatial frequencies the demodulation passed, i.e. those the measurement can vouch for. The
    map is mirrored to (2H, 2W) first, so the FFT's wrap-around sees no edge jump (no ringing
    at the borders)."""
    h, w = phase.shape[-2:]
    x = torch.cat([phase, phase.flip(-1)], dim=-1)
    x = torch.cat([x, x.flip(-2)], dim=-2)
    filt = band_filter((2 * h, 2 * w), radius, phase.device)
    return ifft2(torch.fft.fft2(x.float()) * filt).real[..., :h, :w].to(phase.dtype)


def features_from_measurement(m: dict, config: dict | None = None) -> torch.Tensor:
    """Network input for the configured hologram representation from ``hologram_measurement``."""
    u = m["field"]
    ph = torch.angle(u)
    loga = torch.log(u.abs().clamp_min(1e-6))
    loga = (loga - loga.reshape(loga.shape[0], -1).median(dim=1).values[:, None, None]).clamp(-3, 3)
    chans = [torch.cos(ph), torch.sin(ph), loga]
    if input_representation(config) == HOLOGRAM_INPUT_UNWRAPPED:
        chans.append(phase_to_network(m["unwrapped"], config))
    return torch.stack(chans, dim=1)


def input_representation(config: dict | None, modality: str = "hologram") -> str:
    """The input representation a weight config asks for (old configs without ``input``: the
    3-channel one); an unknown one is an error that names what is known."""
    rep = (config or {}).get("input", HOLOGRAM_INPUT if modality == "hologram" else RGB_INPUT)
    if rep not in INPUT_CHANNELS:
        raise RetrievalError(f"the weights ask for the input representation {rep!r}, which this version of "
                             f"napari-diffpr does not know; known: {', '.join(map(repr, INPUT_CHANNELS))}")
    kwargs = (config or {}).get("model_kwargs", {})
    if "in_channels" in kwargs and kwargs["in_channels"] != INPUT_CHANNELS[rep]:
        raise RetrievalError(f"weight config mismatch: input representation {rep!r} has {INPUT_CHANNELS[rep]} "
                             f"channels but the network takes in_channels={kwargs['in_channels']}")
    return rep


# ----------------------------------------------------------------------------- RGB
def rgb_features(images: torch.Tensor, config: dict | None = None) -> torch.Tensor:
    """Network input (B, 3, H, W) from RGB images (B, 3, H, W) or (B, H, W, 3)."""
    x = images.float()
    if x.shape[1] != 3 and x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    mean = x.mean(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return (x / mean - 1) / _cfg(config, "rgb_contrast")


# ----------------------------------------------------------------------------- padding
def pad_to_multiple(x: torch.Tensor, multiple: int = 16) -> tuple[torch.Tensor, dict]:
    """Reflect-pad (B, C, H, W) at the bottom and right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, {"height": h, "width": w, "pad_bottom": ph, "pad_right": pw}


def crop_output(t, crop: dict, scale: int = 1):
    """Undo ``pad_to_multiple`` on a network output (…, H'/scale, W'/scale): keep the top-left
    ceil(H/scale) x ceil(W/scale). For an exact H x W from a 1/4-scale map, upsample the padded
    map x4 first and crop with scale=1."""
    h = -(-crop["height"] // scale)
    w = -(-crop["width"] // scale)
    return t[..., :h, :w]


def prepare_input(frame: np.ndarray, modality: str, background: np.ndarray | None = None,
                  config: dict | None = None, measurement: dict | None = None,
                  optics: dict | None = None) -> tuple[torch.Tensor, dict]:
    """One validated frame -> network input (1, C, H', W') float32 on the CPU, padded to
    multiples of 16, and the crop info for ``crop_output``. ``frame`` is a hologram (H, W) or an
    RGB image (H, W, 3); it is not modified. For holograms, ``measurement`` (a dict) receives
    ``hologram_measurement``'s entries (unpadded). ``optics`` (RGB with physics-normalised weights):
    the microscope, see ``rgb_inputs.OPTICS_KEYS``; ignored by the older raw-RGB weights."""
    arr = np.asarray(frame, dtype=np.float32)
    if modality == "hologram":
        if arr.ndim != 2:
            raise InputError(f"a hologram must be a 2-D H x W array; got shape {arr.shape}")
        bg = None
        if background is not None:
            bga = np.asarray(background, dtype=np.float32)
            if bga.shape != arr.shape:
                raise InputError(f"the background hologram has shape {bga.shape}, "
                                 f"the hologram {arr.shape}; they must match")
            bg = torch.from_numpy(bga.copy())[None]
        rep = input_representation(config, "hologram")
        if rep == RGB_INPUT:
            raise RetrievalError("these weights were trained on RGB images, not holograms")
        with torch.no_grad():
            m = hologram_measurement(torch.from_numpy(arr.copy())[None], bg, config)
            x = features_from_measurement(m, config)
        if measurement is not None:
            measurement.update(m)
        if not torch.isfinite(x).all():
            raise RetrievalError("demodulating the hologram gave non-finite values: is it a hologram "
                                 "with visible fringes?")
    elif modality == "rgb":
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise InputError(f"an RGB image must be H x W x 3; got shape {arr.shape}")
        if background is not None:
            raise InputError("RGB images take no background")
        rep = (config or {}).get("input", RGB_INPUT)
        if rep == RGB_PHYSICS_INPUT:
            from .rgb_inputs import physics_features
            x = torch.from_numpy(physics_features(arr, optics, config))[None]
        elif rep != RGB_INPUT:
            raise RetrievalError(f"these weights expect the input {config.get('input')!r}, not an RGB image")
        else:
            x = rgb_features(torch.from_numpy(arr.copy())[None], config)
    else:
        raise InputError(f"modality must be 'hologram' or 'rgb'; got {modality!r}")
    return pad_to_multiple(x, _cfg(config, "size_multiple"))
