"""Forward-model guidance for RGB refinement (issue 8, item 3): keep each x0 estimate of the
reverse diffusion (DiffPR-rgb, ZMD) consistent with the measured RGB image through the
differentiable chromatic brightfield model (optics.brightfield) and the user's optics.

At every sampler step, with the phase p(x0) the estimate stands for and A(p) the simulated RGB
image (each channel divided by its mean, as the measurement y is), one gradient step on
L = ||A(p(x0)) - y||^2 is taken, of length ``guidance`` x the step that minimises the linearised
L along the gradient g (t* = ||g||^2 / (2 ||J g||^2), J g by a finite difference: one more
forward model). DPS-style, but with that step length instead of a hand-tuned one; guidance = 0
is the unguided sampler, 1 the full linearised step. The model uses the per-channel defocus
(``defocus_model="channel"``), 12 wavelengths and the given NAs; noise is not modelled.

Importing this module imports torch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

N_WAVELENGTHS = 12
CHANNEL_SIGMA_UM = 0.05


def rgb_forward_guide(measured: np.ndarray, optics: dict, to_phase: Callable[[torch.Tensor], torch.Tensor],
                      guidance: float, device="cpu", stats: dict | None = None):
    """``guide(x0, alpha, sigma) -> x0'`` for our samplers. ``measured``: the RGB image (H, W, 3);
    ``optics``: models.rgb_inputs' dict (per-channel defocus); ``to_phase(x0)``: the phase in
    radians (B, 1, H, W) that the estimate x0 stands for (differentiable). ``stats`` (a dict)
    collects the relative residual ||A(p) - y|| / ||y - 1|| before each step."""
    from ..optics.brightfield import forward
    from .rgb_inputs import check_optics

    o = check_optics(optics)
    y = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(measured, np.float32), -1, 0)))[None].to(device)
    y = y / y.mean(dim=(2, 3), keepdim=True)
    h, w = y.shape[-2:]
    y_contrast = float(torch.linalg.vector_norm(y - 1))

    def simulate(phase: torch.Tensor) -> torch.Tensor:
        n = phase.shape[0]
        img = forward(phase, pixel_size_um=o["pixel_size_um"], wavelengths=o["wavelengths_um"],
                      defocus_um=torch.tensor([o["defocus_um"]], dtype=torch.float32).expand(n, 3),
                      na_illumination=torch.full((n,), o["na_illumination"]), na_detection=o["na_detection"],
                      n_medium=o["medium_index"], reference_wavelength=o["wavelengths_um"][1],
                      n_wavelengths=N_WAVELENGTHS, photons=None, read_noise=torch.zeros(n), generator=None,
                      channel_sigma_um=CHANNEL_SIGMA_UM, defocus_model="channel")
        return img / img.mean(dim=(2, 3), keepdim=True)

    def guide(x0: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        if guidance <= 0:
            return x0
        with torch.inference_mode(False), torch.enable_grad():
            x = x0.detach().clone().requires_grad_(True)
            phase = to_phase(x)[..., :h, :w]
            r = simulate(phase) - y
            loss = (r * r).sum()
            (g,) = torch.autograd.grad(loss, x)
        with torch.inference_mode(False), torch.no_grad():
            x = x0.detach().clone()
            eps = 1e-3 / max(float(g.abs().max()), 1e-12)
            jg = (simulate(to_phase(x - eps * g)[..., :h, :w]) - simulate(to_phase(x)[..., :h, :w])) / (-eps)
            num = (g * g).flatten(1).sum(1)
            den = 2 * (jg * jg).flatten(1).sum(1)
            t = torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num))
            out = x - guidance * t.reshape(-1, 1, 1, 1) * g
        if stats is not None:
            stats.setdefault("relative_residual", []).append(
                float(torch.linalg.vector_norm(r.detach()) / max(y_contrast * r.shape[0] ** 0.5, 1e-12)))
        return out.to(x0.dtype)

    return guide
