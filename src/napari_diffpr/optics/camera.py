"""Camera noise shared by the forward models: Poisson shot noise, Gaussian read noise, ADC."""
from __future__ import annotations

from . import _random

#: Above this mean count a Gaussian N(λ, λ), rounded, stands in for the Poisson draw (it is
#: indistinguishable in an image and ~10x cheaper); below it the exact Poisson sampler runs.
GAUSSIAN_SHOT_NOISE_ABOVE = 30.0


def shot_noise(rate, generator):
    """Photo-electron counts with mean ``rate`` (exact Poisson for small means)."""
    import torch

    counts = torch.round(rate + rate.sqrt() * _random.randn(rate.shape, generator, rate.device))
    low = rate < GAUSSIAN_SHOT_NOISE_ABOVE
    if bool(low.any()):
        counts[low] = _random.poisson(rate[low], generator)
    return counts


def expose(intensity, photons, read_noise, bit_depth, generator, full_scale=None):
    """Turn a noise-free ``intensity`` (``(n, ...)``, 1 = mean background) into a camera frame.

    ``photons``: mean photo-electrons per pixel at intensity 1 (tensor ``(n,)``), or None for no
    noise at all. ``read_noise``: electrons rms (tensor ``(n,)``). ``bit_depth``: None returns
    electrons as floats (or the intensity itself when ``photons`` is None); an integer digitises to
    ``0 … 2^bits − 1`` with the gain set so that ``full_scale`` (intensity units, per sample)
    reaches the top code."""
    import torch

    n = intensity.shape[0]
    view = (n,) + (1,) * (intensity.ndim - 1)
    if photons is None:
        electrons = intensity.clone()
        scale = torch.ones(view, device=intensity.device)
    else:
        scale = photons.reshape(view).to(intensity)
        electrons = shot_noise(intensity.clamp_min(0.0) * scale, generator)
        electrons = electrons + read_noise.reshape(view).to(intensity) * _random.randn(
            intensity.shape, generator, intensity.device)
    if bit_depth is None:
        return electrons.float()
    top = float(2 ** int(bit_depth) - 1)
    fs = full_scale.reshape(view).to(intensity) if full_scale is not None else torch.full(view, 2.0).to(intensity)
    gain = top / (fs * scale)  # codes per electron
    return torch.round(electrons * gain).clamp(0.0, top).float()
