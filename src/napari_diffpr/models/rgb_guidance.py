"""Forward-model guidance for RGB refinement (issue 8, item 3): keep each x0 estimate of the
reverse diffusion (DiffPR-rgb, ZMD) consistent with the measured RGB image through the
differentiable chromatic brightfield model (optics.brightfield) and the user's optics.

At every sampler step, with the phase p(x0) the estimate stands for and A(p) the simulated RGB
image (each channel divided by its mean, as the measurement y is), one gradient step on
L = ||A(p(x0)) - y||^2 is taken, of length ``guidance`` x the step that minimises the linearised
L along the gradient g (t* = ||g||^2 / (2 ||J g||^2), J g by a finite difference: one more
forward model). DPS-style, but with that step length instead of a hand-tuned one; guidance = 0
is the unguided sampler, 1 the full linearised step. The model is the consistency step's
(``rgb_consistency.brightfield_simulator``: the focal-shift model and channel bandwidth the user
stated, the given NAs) with 12 wavelengths instead of 24, since it runs at every sampler step;
noise is not modelled.

Like the consistency steps, the model treats the frame as a camera window on a larger field (the
phase mirrored beyond it, a band along it out of the misfit; ``rgb_consistency._framed``). Until
session 10 the guidance used the periodic model, whose defocus fringes wrap across the frame edge;
on validation camera windows ZMD scored 27.82 dB with it and 28.17 dB with the window model
(docs/benchmarks.md).

Importing this module imports torch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

N_WAVELENGTHS = 12


def rgb_forward_guide(measured: np.ndarray, optics: dict, to_phase: Callable[[torch.Tensor], torch.Tensor],
                      guidance: float, device="cpu", stats: dict | None = None, boundary: str = "window"):
    """``guide(x0, alpha, sigma) -> x0'`` for our samplers. ``measured``: the RGB image (H, W, 3);
    ``optics``: models.methods.rgb_optics' dict; ``to_phase(x0)``: the phase in
    radians (B, 1, H, W) that the estimate x0 stands for (differentiable). ``stats`` (a dict)
    collects the relative residual ||A(p) - y|| / ||y - 1|| before each step. ``boundary``:
    ``"window"`` (the frame is part of a larger field) or ``"periodic"`` (the model before session 10)."""
    from .rgb_consistency import _framed, brightfield_simulator, check_boundary, frame_margins

    check_boundary(boundary)
    y = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(measured, np.float32), -1, 0)))[None].to(device)
    y = y / y.mean(dim=(2, 3), keepdim=True)
    h, w = y.shape[-2:]
    y_contrast = float(torch.linalg.vector_norm(y - 1))

    simulate = brightfield_simulator(optics, N_WAVELENGTHS)
    keep = None
    if boundary == "window":
        pad, edge = frame_margins(optics, (h, w))
        simulate, keep = _framed(simulate, pad, edge, (h, w))
        keep = keep.to(device)

    def guide(x0: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        if guidance <= 0:
            return x0
        with torch.inference_mode(False), torch.enable_grad():
            x = x0.detach().clone().requires_grad_(True)
            phase = to_phase(x)[..., :h, :w]
            r = simulate(phase) - y
            r = r if keep is None else r * keep
            loss = (r * r).sum()
            (g,) = torch.autograd.grad(loss, x)
        with torch.inference_mode(False), torch.no_grad():
            x = x0.detach().clone()
            eps = 1e-3 / max(float(g.abs().max()), 1e-12)
            jg = (simulate(to_phase(x - eps * g)[..., :h, :w]) - simulate(to_phase(x)[..., :h, :w])) / (-eps)
            jg = jg if keep is None else jg * keep
            num = (g * g).flatten(1).sum(1)
            den = 2 * (jg * jg).flatten(1).sum(1)
            t = torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num))
            out = x - guidance * t.reshape(-1, 1, 1, 1) * g
        if stats is not None:
            stats.setdefault("relative_residual", []).append(
                float(torch.linalg.vector_norm(r.detach()) / max(y_contrast * r.shape[0] ** 0.5, 1e-12)))
        return out.to(x0.dtype)

    return guide
