"""Chromatic single-exposure RGB brightfield forward model (seed 001), torch, batched.

A thin phase object ``t = exp(i·2π·OPD/λ)`` (no dispersion: the OPD is fixed, so the phase
scales as 1/λ) is imaged with white light. For each of ``n_wavelengths`` wavelengths between 0.4
and 0.7 µm the field is propagated by the angular spectrum to the defocus of each colour
channel (the microscope's chromatic focal shift) through a detection pupil of ``NA_det/λ``;
each channel sums the intensities weighted by its Gaussian spectral response (or, with
``defocus_model="wavelength"``, each wavelength has its own focus on a parabola through the
channels' defocus values). Partially coherent
Köhler illumination of ``NA_ill`` makes a defocused intensity pattern the average over tilted
plane waves, i.e. a shift of ``z·tan θ`` per tilt: we blur each channel by a disk of radius
``|z|·tan(asin(NA_ill/n_medium))``. ``illumination="sources"`` computes it exactly instead (Abbe):
the incoherent sum of the images under ``n_sources`` tilted plane waves spread evenly over the
condenser's disk, each with the pupil and defocus at the tilted frequencies; slower (one set of
FFTs per source point), for checking the blur (benchmarks/diag_partial_coherence.py).
The empty field is exactly 1 in every channel before noise. All lengths in µm.
"""
from __future__ import annotations

import math

from .camera import expose
from .propagation import frequency_grid

SPECTRUM_UM = (0.4, 0.7)
CHANNEL_SIGMA_UM = 0.05  # std of each channel's Gaussian response (≈120 nm FWHM, a Bayer filter)
NEGLIGIBLE_WEIGHT = 1e-2  # (channel, wavelength) pairs below this fraction of the channel's
                          # peak response are skipped (the rest renormalised): ~20 % fewer FFTs


def spectral_weights(wavelengths, n_wavelengths, sigma_um=CHANNEL_SIGMA_UM):
    """Sample wavelengths ``(K,)`` from 0.4 to 0.7 µm and channel weights ``(3, K)`` (each row a
    Gaussian response centred at the channel's wavelength, normalised to sum 1)."""
    import torch

    lam = torch.linspace(SPECTRUM_UM[0], SPECTRUM_UM[1], int(n_wavelengths), dtype=torch.float64)
    centre = torch.tensor(wavelengths, dtype=torch.float64).reshape(3, 1)
    w = torch.exp(-0.5 * ((lam[None, :] - centre) / sigma_um) ** 2)
    return lam, w / w.sum(dim=1, keepdim=True)


def source_blur_otf(shape, pixel_size_um, defocus_um, na_illumination, n_medium, device):
    """OTF of the partial-coherence blur: a disk of radius ``|z|·tan θ_ill`` (µm), per sample and
    channel, ``(n, 3, H, W//2+1)`` for ``rfft2``. ``2 J1(2π r f) / (2π r f)``, 1 at f = 0."""
    import torch

    h, w = shape[-2:]
    fy = torch.fft.fftfreq(h, d=pixel_size_um, device=device).reshape(1, 1, h, 1)
    fx = torch.fft.rfftfreq(w, d=pixel_size_um, device=device).reshape(1, 1, 1, -1)
    f = torch.sqrt(fy * fy + fx * fx)
    sin_t = (na_illumination / n_medium).reshape(-1, 1, 1, 1)
    tan_t = sin_t / torch.sqrt(1.0 - sin_t * sin_t)
    radius = defocus_um.abs().reshape(*defocus_um.shape, 1, 1) * tan_t
    arg = 2 * math.pi * radius * f
    safe = torch.where(arg > 1e-6, arg, torch.ones_like(arg))
    return torch.where(arg > 1e-6, 2.0 * torch.special.bessel_j1(safe) / safe, torch.ones_like(arg))


def focal_shift(lam, wavelengths, defocus_um):
    """Defocus (µm) of each sample wavelength ``lam`` ``(K,)``: the parabola through the three
    channels' ``(wavelength, defocus)`` points (a smooth chromatic focal shift, as of an
    achromat). ``defocus_um`` ``(B, 3)`` gives ``(B, K)``."""
    import torch

    lc = [float(v) for v in wavelengths]
    lam = lam.to(torch.float64)
    basis = torch.stack([  # (3, K) Lagrange basis
        torch.prod(torch.stack([(lam - lc[d]) / (lc[c] - lc[d]) for d in range(3) if d != c]), dim=0)
        for c in range(3)])
    return defocus_um.to(torch.float64) @ basis


def source_points(n_sources: int) -> list[tuple[float, float]]:
    """``n_sources`` points (unit-free, inside the unit disk) of equal area on a Fermat spiral:
    the condenser's directions as fractions of its NA, each standing for the same light."""
    golden = math.pi * (3.0 - math.sqrt(5.0))
    return [(math.sqrt((i + 0.5) / n_sources) * math.sin(i * golden),
             math.sqrt((i + 0.5) / n_sources) * math.cos(i * golden)) for i in range(int(n_sources))]


# The source sum's relative image error against the continuum of condenser directions (image
# difference / image contrast, a 128² phantom, 401 directions as the reference;
# benchmarks/diag_source_points.py, docs/benchmarks.md "Condenser directions") is about
# SOURCE_ERROR_19 · NA_ill · (1 - σ²)^-1.2 with 19 directions (σ = NA_ill / NA_det), falling as 1/n.
# 19 directions are 5 % off at NA 0.3/0.55 and 48 % at NA 0.5/0.55, where the tilted pupils' edge
# comes close to the undiffracted light.
SOURCE_ERROR_19 = 0.12
MAX_SOURCE_POINTS = 301


def source_sum_error(na_illumination: float, na_detection: float, n_sources: int = 19) -> float:
    """The source sum's expected relative image error against the continuum, by the law above."""
    na = float(na_illumination)
    sigma2 = min((na / float(na_detection)) ** 2, 0.99)
    return SOURCE_ERROR_19 * na * (1.0 - sigma2) ** -1.2 * 19 / int(n_sources)


def source_points_needed(na_illumination: float, na_detection: float, tolerance: float,
                         minimum: int = 19, maximum: int = MAX_SOURCE_POINTS) -> int:
    """Condenser directions for a source sum within ``tolerance`` (relative image error) of the
    continuum, by the measured error law above; at least ``minimum``, at most ``maximum``."""
    if float(na_illumination) <= 0:
        return int(minimum)
    error_19 = source_sum_error(na_illumination, na_detection)
    return int(min(maximum, max(minimum, math.ceil(19 * error_19 / float(tolerance)))))


def _object_spectrum(opd, lam_k):
    """FFT of the object's transmission ``exp(i 2π OPD / λ)`` at one wavelength."""
    import torch

    return torch.fft.fft2(torch.polar(torch.ones_like(opd), opd * (2 * math.pi / lam_k)))


def _defocus_fields(opd, lam_k, z, f2, n_medium, na_detection, tilt=None, spectrum=None):
    """Intensity ``|ifft(T · P · H_z)|²`` of the object at one wavelength for defocus ``z``
    ``(B, C, 1, 1)``: ``(n, C, H, W)``. ``tilt`` = (fy, fx, qy, qx): illuminated by a plane wave
    of spatial frequency q (cycles/µm), i.e. the pupil and defocus taken at f + q (the ramp the
    tilt puts on the field drops out of the intensity). ``spectrum``: ``_object_spectrum(opd,
    lam_k)`` if already computed (the same for every tilt)."""
    import torch

    if tilt is not None:
        fy, fx, qy, qx = tilt
        f2 = (fy + qy) ** 2 + (fx + qx) ** 2
    if spectrum is None:
        spectrum = _object_spectrum(opd, lam_k)
    kn = n_medium / lam_k
    # defocus phase without the common piston 2π z n/λ (irrelevant for intensity)
    kz_rel = torch.sqrt(torch.clamp(kn * kn - f2, min=0.0)) - kn
    passband = (f2 <= (na_detection / lam_k) ** 2).to(torch.float32)
    h, w = f2.shape[-2:]
    tf = torch.polar(passband.expand(z.shape[0], z.shape[1], h, w), 2 * math.pi * z * kz_rel)
    from ..torchfft import ifft2  # torch's own is wrong at 2048² on >1 thread
    field = ifft2(spectrum * tf)
    return field.real * field.real + field.imag * field.imag


def forward(phase, *, pixel_size_um, wavelengths, defocus_um, na_illumination, na_detection,
            n_medium, reference_wavelength, n_wavelengths, photons, read_noise, generator,
            channel_sigma_um=CHANNEL_SIGMA_UM, defocus_model="channel", illumination="blur", n_sources=37):
    """RGB images ``(n, 3, H, W)`` (background ≈ 1) of phase maps ``(n, 1, H, W)`` in radians at
    ``reference_wavelength``. ``defocus_um``: ``(3,)`` for the whole batch (cheap: one transfer
    function per wavelength) or ``(n, 3)`` per sample. ``na_illumination``, ``photons`` (or None)
    and ``read_noise``: ``(n,)`` tensors; the rest are numbers.

    ``defocus_model="channel"`` (seed 001 / cvdm): every wavelength a channel sees is imaged at
    that channel's defocus. ``"wavelength"``: each wavelength has one focus, on the parabola
    :func:`focal_shift` through the channels' points, and all channels see the same image of it
    (physically consistent; one propagation per wavelength instead of one per channel).

    ``illumination``: ``"blur"`` (the disk blur of the module docstring) or ``"sources"`` (the
    exact sum over ``n_sources`` condenser directions; one ``na_illumination`` for the batch)."""
    import torch

    from ..errors import ParameterError

    if illumination not in ("blur", "sources"):
        raise ParameterError(f"illumination must be 'blur' or 'sources', got {illumination!r}")
    if defocus_model not in ("channel", "wavelength"):
        raise ParameterError(f"defocus_model must be 'channel' or 'wavelength', got {defocus_model!r}")
    n, _, h, w = phase.shape
    device = phase.device
    lam, weights = spectral_weights(wavelengths, n_wavelengths, channel_sigma_um)
    weights = torch.where(weights > NEGLIGIBLE_WEIGHT * weights.amax(dim=1, keepdim=True), weights, 0.0)
    weights = (weights / weights.sum(dim=1, keepdim=True)).to(torch.float32)

    opd = phase * (reference_wavelength / (2 * math.pi))  # µm, (n, 1, H, W)
    fy, fx = frequency_grid((h, w), pixel_size_um, device=device)
    f2 = fy * fy + fx * fx
    if illumination == "sources":
        image = _sources_image(opd, lam, weights, wavelengths, defocus_um, na_illumination, (fy, fx),
                               n_medium, na_detection, defocus_model, n_sources)
    elif defocus_model == "wavelength":
        z_lam = focal_shift(lam, wavelengths, defocus_um.reshape(-1, 3).cpu()).to(device=device, dtype=torch.float32)
        spec = torch.zeros((n, 3, h, w // 2 + 1), dtype=torch.complex64, device=device)
        for k in range(lam.numel()):
            wk = weights[:, k]
            if not bool((wk > 0).any()):
                continue
            zk = z_lam[:, k].reshape(-1, 1, 1, 1)
            intensity = _defocus_fields(opd, float(lam[k]), zk, f2, n_medium, na_detection)
            otf = source_blur_otf((h, w), pixel_size_um, zk.reshape(-1, 1).expand(n, 1),
                                  na_illumination.to(device), n_medium, device)
            spec += wk.to(device).reshape(1, 3, 1, 1) * (torch.fft.rfft2(intensity) * otf)
        image = torch.fft.irfft2(spec, s=(h, w))
    else:
        image = _channel_model(opd, lam, weights, defocus_um, f2, n_medium, na_detection)
        z = defocus_um.to(device=device, dtype=torch.float32).reshape(-1, 3)
        otf = source_blur_otf((h, w), pixel_size_um, z.expand(n, 3), na_illumination.to(device), n_medium, device)
        image = torch.fft.irfft2(torch.fft.rfft2(image) * otf, s=(h, w))
    if photons is None:
        return image.float()
    electrons = expose(image, photons, read_noise, None, generator)
    return (electrons / photons.reshape(n, 1, 1, 1).to(electrons)).float()


def _channel_model(opd, lam, weights, defocus_um, f2, n_medium, na_detection):
    """Per-channel defocus: sum over wavelengths of each channel's weighted intensity at that
    channel's defocus, ``(n, 3, H, W)`` before the illumination blur."""
    import torch

    n, _, h, w = opd.shape
    device = opd.device
    z = defocus_um.to(device=device, dtype=torch.float32).reshape(-1, 3, 1, 1)
    image = torch.zeros((n, 3, h, w), device=device)
    for k in range(lam.numel()):
        chans = torch.nonzero(weights[:, k]).flatten()  # the channels that see this wavelength
        if chans.numel() == 0:
            continue
        intensity = _defocus_fields(opd, float(lam[k]), z[:, chans.to(device)], f2, n_medium, na_detection)
        wk = weights[chans, k].to(device).reshape(1, -1, 1, 1)
        image.index_add_(1, chans.to(device), wk * intensity)
    return image


def _sources_image(opd, lam, weights, wavelengths, defocus_um, na_illumination, grid, n_medium,
                   na_detection, defocus_model, n_sources):
    """The noise-free image ``(n, 3, H, W)`` with the partial coherence summed over ``n_sources``
    condenser directions (Abbe) instead of the disk blur; one condenser NA for the batch."""
    import torch

    from ..errors import ParameterError

    na = torch.as_tensor(na_illumination).reshape(-1)
    na_ill = float(na[0])
    if not bool((na == na_ill).all()):
        raise ParameterError("illumination='sources' takes one na_illumination for the whole batch")
    n, _, h, w = opd.shape
    device = opd.device
    fy, fx = grid
    f2 = fy * fy + fx * fx
    points = source_points(n_sources) if na_ill > 0 else [(0.0, 0.0)]
    image = torch.zeros((n, 3, h, w), device=device)
    for k in range(lam.numel()):
        chans = torch.nonzero(weights[:, k]).flatten()
        if chans.numel() == 0:
            continue
        lam_k = float(lam[k])
        if defocus_model == "wavelength":
            z = focal_shift(lam[k:k + 1], wavelengths, defocus_um.reshape(-1, 3).cpu()).to(device, torch.float32)
            z = z.reshape(-1, 1, 1, 1)
        else:
            z = defocus_um.to(device=device, dtype=torch.float32).reshape(-1, 3, 1, 1)[:, chans.to(device)]
        q = na_ill / lam_k   # the condenser disk in cycles/µm at this wavelength
        spectrum = _object_spectrum(opd, lam_k)   # the same for every direction
        acc = 0.0
        for py, px in points:
            acc = acc + _defocus_fields(opd, lam_k, z, f2, n_medium, na_detection,
                                        tilt=(fy, fx, q * py, q * px), spectrum=spectrum)
        wk = weights[chans, k].to(device).reshape(1, -1, 1, 1)
        image.index_add_(1, chans.to(device), wk * (acc / len(points)).expand(n, chans.numel(), h, w))
    return image
