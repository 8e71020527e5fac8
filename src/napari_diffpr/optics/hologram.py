"""Off-axis hologram forward model (torch, batched).

Sign convention (stated once, used everywhere)::

    O(y, x) = A · exp(i φ)                          object wave, band-limited by the pupil
    R(y, x) = exp(i 2π (fy·y + fx·x))               plane reference, (y, x) in pixels,
                                                    (fy, fx) the carrier in cycles/pixel
    I ∝ |a·O + R|²  =  a²|O|² + 1 + a·O·R* + a·O*·R

``a`` sets the fringe visibility ``V = 2a / (1 + a²)`` of the empty field; ``I`` is normalised so
the empty field's mean is 1. In ``np.fft.fft2`` / ``np.fft.fftfreq`` coordinates (cycles/pixel,
no fftshift) the term ``O·R*`` — the one that carries ``O`` itself — is centred at
``(−fy, −fx)``, its twin ``O*·R`` at ``(+fy, +fx)``, and ``|O|² + 1`` at 0. Demodulate by
band-passing around ``(−fy, −fx)`` and multiplying by ``R`` (or shifting by ``+carrier``): the
result is ``a·O``, whose angle is ``+φ`` (cells positive).
"""
from __future__ import annotations

import math

from . import _random
from .camera import expose
from .propagation import disk_band_limit

HEADROOM = 1.15  # ADC full scale above the brightest expected fringe, so noise rarely clips


def object_weight(visibility):
    """``a`` such that ``|a + e^{iθ}|²`` has fringe visibility ``V = 2a/(1+a²)`` (a ≤ 1)."""
    import torch

    v = torch.as_tensor(visibility)
    return (1.0 - torch.sqrt(1.0 - v * v)) / v


def band_limit(phase, amplitude, pupil_radius, *, with_phase=True):
    """Object field ``A·exp(iφ)`` low-passed by a disk of ``pupil_radius`` cycles/px (per sample).
    Returns the field and (if ``with_phase``) its unwrapped phase: ``φ`` plus the change the
    low-pass made, measured relative to ``φ`` so that no unwrapping is needed."""
    import torch

    unit = torch.polar(torch.ones_like(phase), phase)
    field = unit if amplitude is None else unit * amplitude
    mask = disk_band_limit(phase.shape, pupil_radius, device=phase.device).reshape(
        phase.shape[0], 1, *phase.shape[-2:])
    from ..torchfft import ifft2  # torch's own is wrong at 2048² on >1 thread
    field_bl = ifft2(torch.fft.fft2(field) * mask)
    if not with_phase:
        return field_bl, None
    return field_bl, phase + torch.angle(field_bl * unit.conj())


def reference_wave(shape, carrier, device, aberration=None):
    """``R = exp(i (2π (fy y + fx x) + w))`` per sample, ``carrier`` a ``(n, 2)`` tensor (fy, fx)
    and ``w`` an optional ``(n, 1, H, W)`` wavefront error in radians."""
    import torch

    h, w = shape[-2:]
    c = carrier.to(device=device, dtype=torch.float64)
    # separable: exp(i2π fy y)·exp(i2π fx x); float64 and mod 2π keep large frames exact
    ay = torch.remainder(2 * math.pi * c[:, 0, None] * torch.arange(h, device=device, dtype=torch.float64), 2 * math.pi)
    ax = torch.remainder(2 * math.pi * c[:, 1, None] * torch.arange(w, device=device, dtype=torch.float64), 2 * math.pi)
    ry = torch.polar(torch.ones_like(ay), ay).to(torch.complex64).reshape(-1, 1, h, 1)
    rx = torch.polar(torch.ones_like(ax), ax).to(torch.complex64).reshape(-1, 1, 1, w)
    ref = ry * rx
    if aberration is not None:
        ref = ref * torch.polar(torch.ones_like(aberration), aberration)
    return ref


def fringe_intensity(field, reference, visibility):
    """``|a·O + R|² / (1 + a²)``: mean 1 on the empty field. ``field`` None means no object
    (``O = 1``), computed as ``1 + V·Re(R)``."""
    a = object_weight(visibility).to(reference.real).reshape(-1, 1, 1, 1)
    if field is None:
        return 1.0 + (2.0 * a / (1.0 + a * a)) * reference.real
    u = a * field + reference
    return (u.real * u.real + u.imag * u.imag) / (1.0 + a * a)


def _unit_grid(shape, device):
    import torch

    h, w = shape[-2:]
    y = torch.linspace(-1.0, 1.0, h, device=device).reshape(1, 1, h, 1)
    x = torch.linspace(-1.0, 1.0, w, device=device).reshape(1, 1, 1, w)
    return y, x


def reference_aberration(shape, peak_to_valley_rad, generator, device):
    """A random low-order wavefront (tilt, defocus, astigmatism) of the given peak-to-valley in
    radians per sample, ``(n, 1, H, W)``: the imperfect optics both holograms share."""
    n = peak_to_valley_rad.shape[0]
    y, x = _unit_grid(shape, device)
    c = _random.randn((n, 5, 1, 1), generator, device)
    w = c[:, 0:1] * x + c[:, 1:2] * y + c[:, 2:3] * (x * x + y * y) + c[:, 3:4] * (x * x - y * y) \
        + c[:, 4:5] * (x * y)
    span = (w.amax(dim=(-2, -1), keepdim=True) - w.amin(dim=(-2, -1), keepdim=True)).clamp_min(1e-12)
    return w / span * peak_to_valley_rad.to(device).reshape(n, 1, 1, 1)


def illumination_envelope(shape, falloff, generator, device):
    """Intensity envelope of a Gaussian-like beam, 1 at its (randomly offset) centre and
    ``1 − falloff`` at a distance of one half-diagonal from it, ``(n, 1, H, W)``."""
    import torch

    n = falloff.shape[0]
    y, x = _unit_grid(shape, device)
    c = _random.uniform((n, 2, 1, 1), -0.3, 0.3, generator, device)
    r2 = ((y - c[:, 0:1]) ** 2 + (x - c[:, 1:2]) ** 2) / 2.0
    keep = (1.0 - falloff.to(device)).clamp_min(1e-6).reshape(n, 1, 1, 1)
    return torch.exp(r2 * torch.log(keep))


def forward(phase, amplitude, carrier, visibility, pupil_radius, photons, read_noise, bit_depth,
            generator, aberration=None, envelope=None, with_truth=True):
    """Holograms and sample-free backgrounds for a batch.

    Tensors, one value per sample: ``phase``/``amplitude`` ``(n, 1, H, W)`` (amplitude may be
    None), ``carrier`` ``(n, 2)``, ``visibility``, ``pupil_radius``, ``photons`` (or None),
    ``read_noise`` ``(n,)``; optional ``aberration`` (reference wavefront, rad) and ``envelope``
    (intensity), ``(n, 1, H, W)``, shared by hologram and background.
    Returns ``(hologram, background, phase_band_limited, field)`` (the phase is None unless
    ``with_truth``)."""

    field, phase_bl = band_limit(phase, amplitude, pupil_radius, with_phase=with_truth)
    ref = reference_wave(phase.shape, carrier, phase.device, aberration)
    full_scale = (1.0 + visibility) * HEADROOM
    holo = fringe_intensity(field, ref, visibility)
    bg = fringe_intensity(None, ref, visibility)
    if envelope is not None:
        holo, bg = holo * envelope, bg * envelope
    holo = expose(holo, photons, read_noise, bit_depth, generator, full_scale)
    bg = expose(bg, photons, read_noise, bit_depth, generator, full_scale)
    return holo, bg, phase_bl, field


def random_settings(n, generator, device, carrier=None, visibility=None, pupil_radius=None,
                    photons=None, read_noise=None, pupil_fraction=(0.6, 1.0)):
    """Per-sample settings for training: a carrier of 0.1–0.3 cycles/px at any angle, a pupil of
    ``pupil_fraction`` (60–100 %) of the non-overlap limit |carrier|/3, visibility 0.3–0.95, 200–20 000 photons
    (log-uniform) and 0–5 e⁻ read noise. Any argument given (not None) is used as is."""
    import torch

    r = _random
    if carrier is None:
        norm = r.uniform((n,), 0.1, 0.3, generator, device)
        ang = r.uniform((n,), 0.0, 2 * math.pi, generator, device)
        carrier_t = torch.stack([norm * torch.sin(ang), norm * torch.cos(ang)], dim=1)
    else:
        carrier_t = torch.as_tensor(carrier, dtype=torch.float32, device=device).reshape(-1, 2).expand(n, 2)
    cnorm = carrier_t.norm(dim=1)
    pupil = (cnorm / 3.0 * r.uniform((n,), *pupil_fraction, generator, device) if pupil_radius is None
             else torch.full((n,), float(pupil_radius), device=device))
    vis = (r.uniform((n,), 0.3, 0.95, generator, device) if visibility is None
           else torch.full((n,), float(visibility), device=device))
    ph = (r.log_uniform((n,), 200.0, 20000.0, generator, device) if photons is None
          else torch.full((n,), float(photons), device=device))
    rn = (r.uniform((n,), 0.0, 5.0, generator, device) if read_noise is None
          else torch.full((n,), float(read_noise), device=device))
    return carrier_t, vis, pupil, ph, rn
