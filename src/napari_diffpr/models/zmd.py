"""Zero-Mean Diffusion (seed 001, arXiv:2406.04388 §3.4) for chromatic RGB images, in PyTorch.

    mu      = mu_theta(X)                 a vanilla U-Net on the physics features (rgb_inputs),
                                          residual on the TIE channel: the expected phase
    r       ~ p_theta(r | X, mu)           a conditional eps-prediction diffusion U-Net generates
                                          the residual r = (phi - mu) / residual_scale_rad,
                                          conditioned on the features and on mu
    phi     = mu + residual_scale_rad * r

The two networks are one module (``ZMD``) trained jointly by our own loop
(``napari-diffpr train zmd-rgb``): loss = MSE(mu, phi) + MSE(eps_hat, eps), with mu detached
where it conditions the diffusion, so the mean network learns exactly what a plain U-Net
trained with MSE would. Sampling starts from sigma(t_start) x noise at ``t_start`` (default 400,
see DEFAULT_T_START: the zero-mean residual makes that an unbiased start) and uses
our samplers (dpm++/ddim, <= 10 network evaluations by default). ``samples=N`` draws N
residuals in one batch: the result is mu + the mean residual, the per-pixel std of the N
samples is the uncertainty map (same Result fields as DiffPR).

Importing this module imports torch; the registry imports it lazily.
"""
from __future__ import annotations

import time
from typing import Any, Generator

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..result import Progress
from . import inputs
from .prior import DiffusionUNet
from .samplers import SAMPLERS, get_sampler, network_evaluations
from .schedule import VPSchedule
from .unet import VanillaUNet

RESIDUAL_SCALE_RAD = 0.3
# Where sampling starts. The residual is zero-mean, so x_t = sigma_t * eps is an unbiased start at
# any level (alpha_t E[r] = 0; it leaves out alpha_t^2 Var r, 0.08 of the variance at t = 400).
# Starting at t = 999 (pure noise) failed with the shipped 1350-step denoiser: its x0 estimates
# (x - sigma eps_hat) / alpha blow up above t ~ 600, where sigma / alpha > 6 amplifies small eps
# errors (x0 error 2.6 at t = 900, 7.4 at t = 999 against a residual std of 0.64; 0.15 at
# t = 300). Measured on validation crops (rms residual error, residual units; mean network 0.470):
# t_start 200: 1 sample 0.453, mean of 4 0.438; 400: 0.461 / 0.423; 600: 0.523 / 0.430;
# 999: 3.65 / 1.59.
DEFAULT_T_START = 400


class CondDiffusionUNet(DiffusionUNet):
    """eps-prediction U-Net for a 1-channel x_t conditioned on ``cond_channels`` maps
    (concatenated to x_t): forward(x_t (B,1,H,W), t (B,), cond (B,C,H,W)) -> eps (B,1,H,W)."""

    def __init__(self, cond_channels: int, base_channels: int = 16, channel_mults=(1, 2, 4, 4),
                 num_res_blocks: int = 1, dropout: float = 0.0):
        super().__init__(channels=1 + cond_channels, base_channels=base_channels,
                         channel_mults=channel_mults, num_res_blocks=num_res_blocks, dropout=dropout)
        self.init_kwargs = dict(cond_channels=cond_channels, base_channels=base_channels,
                                channel_mults=list(channel_mults), num_res_blocks=num_res_blocks, dropout=dropout)
        self.cond_channels = cond_channels
        cin = self.out_conv.in_channels
        self.out_conv = nn.Conv2d(cin, 1, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None or cond.shape[1] != self.cond_channels:
            raise ValueError(f"the conditional denoiser needs {self.cond_channels} condition channels")
        return super().forward(torch.cat([x, cond.to(x.dtype)], dim=1), t)


class ZMD(nn.Module):
    """The mean network and the conditional residual denoiser. ``forward(x)`` is the mean
    network alone (network phase units, full resolution)."""

    def __init__(self, in_channels: int = 7, base_channels: int = 16, depth: int = 4,
                 residual_channel: int | None = 0, diffusion_base_channels: int = 16,
                 diffusion_channel_mults=(1, 2, 4, 4)):
        super().__init__()
        self.init_kwargs = dict(in_channels=in_channels, base_channels=base_channels, depth=depth,
                                residual_channel=residual_channel,
                                diffusion_base_channels=diffusion_base_channels,
                                diffusion_channel_mults=list(diffusion_channel_mults))
        self.mean = VanillaUNet(in_channels, 1, base_channels, depth, residual_channel)
        self.denoiser = CondDiffusionUNet(in_channels + 1, diffusion_base_channels, diffusion_channel_mults)
        self.output_scale = 1

    @property
    def size_multiple(self) -> int:
        return max(16, self.denoiser.size_multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean(x)

    def condition(self, x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, mu], dim=1)


def residual_units(config: dict | None) -> float:
    """Network units of the residual: (phi - mu) in radians / this."""
    return float((config or {}).get("residual_scale_rad", RESIDUAL_SCALE_RAD))


def zmd_loss(model: ZMD, x: torch.Tensor, target: torch.Tensor, schedule: VPSchedule, g: torch.Generator,
             config: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, mean-network MSE, denoiser eps-MSE) for features ``x`` (B, C, H, W) and the
    phase ``target`` (B, 1, H, W) in network units; timesteps uniform on [0, T)."""
    mu = model.mean(x)
    mean_loss = torch.mean((mu - target) ** 2)
    ratio = inputs._cfg(config, "phase_scale_rad") / residual_units(config)
    r0 = (target - mu.detach()) * ratio
    t = torch.randint(0, schedule.num_timesteps, (x.shape[0],), generator=g, device=x.device).float()
    eps = torch.randn(r0.shape, generator=g, device=x.device)
    xt = schedule.add_noise(r0, t, eps)
    eps_hat = model.denoiser(xt, t, model.condition(x, mu.detach()))
    diff_loss = torch.mean((eps_hat - eps) ** 2)
    return mean_loss + diff_loss, mean_loss.detach(), diff_loss.detach()


class ZMDPipeline:
    """ZMD inference on one device from a ``ZMD`` module and its weight config."""

    def __init__(self, model: ZMD, config: dict, device="cpu", name: str = "zmd-rgb"):
        self.model = model
        self.config = dict(config)
        self.device = torch.device(device)
        self.name = name
        self.schedule = VPSchedule(**self.config.get("schedule", {}))

    def run(self, frame: np.ndarray, *, optics: dict | None = None, sampler: str = "dpm++", steps: int = 10,
            samples: int = 1, seed: int = 0, t_start: int | None = None, mean_only: bool = False,
            guidance: float = 0.0, extras: dict | None = None) -> Generator[Progress, None, tuple[np.ndarray, dict[str, Any]]]:
        """Yield Progress; return (phase radians float32 H x W, metadata). ``mean_only``: the mean
        network alone (no diffusion). ``extras`` receives ``uncertainty`` and ``samples`` for N > 1."""
        if sampler not in SAMPLERS or sampler == "pc":
            raise ParameterError(f"zmd samples with 'dpm++' or 'ddim'; got {sampler!r}")
        if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= 1000:
            raise ParameterError(f"steps must be a whole number 1..1000; got {steps!r}")
        if isinstance(samples, bool) or int(samples) != samples or not 1 <= samples <= 64:
            raise ParameterError(f"samples must be a whole number 1..64; got {samples!r}")
        t_start = DEFAULT_T_START if t_start is None else int(t_start)
        if not 1 <= t_start <= self.schedule.t_max:
            raise ParameterError(f"t_start must be in 1..{self.schedule.t_max}; got {t_start}")
        steps, samples = int(steps), int(samples)
        t0 = time.perf_counter()
        x, crop = inputs.prepare_input(frame, "rgb", None, self.config, optics=optics)
        mult = self.model.size_multiple
        if x.shape[-1] % mult or x.shape[-2] % mult:
            ph, pw = (-x.shape[-2]) % mult, (-x.shape[-1]) % mult
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x.to(self.device)
        with torch.inference_mode():
            mu = self.model.mean(x)
        mu_rad = inputs.network_to_phase(mu, self.config)
        mu_np = inputs.crop_output(mu_rad, crop)[0, 0].float().cpu().numpy().copy()
        meta: dict[str, Any] = {"model": self.name, "device": str(self.device),
                                "mean_seconds": time.perf_counter() - t0, "optics": optics}
        yield Progress(stage="mean network", step=1, total=1, preview=mu_np, message="mu_theta(X)")
        if mean_only:
            meta["refinement"] = "none (mean network only)"
            return mu_np, meta
        t1 = time.perf_counter()
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        shape = (samples, 1, *x.shape[-2:])
        x_t = (self.schedule.coefficients(t_start)[1] * torch.randn(shape, generator=gen)).to(self.device)
        cond = self.model.condition(x, mu).expand(samples, -1, -1, -1)

        def eps_fn(xt, t):
            return self.model.denoiser(xt, t, cond)

        scale = residual_units(self.config)
        options = {}
        if guidance > 0:
            from .rgb_guidance import rgb_forward_guide
            gstats: dict = {}
            mu_full = mu_rad.detach()

            def to_phase(r):
                return mu_full + scale * r

            options["guide"] = rgb_forward_guide(frame, optics or {}, to_phase, float(guidance), self.device, gstats)
            meta["guidance_stats"] = gstats
        walk = get_sampler(sampler)(eps_fn, self.schedule, x_t, t_start, steps, generator=gen, **options)
        try:
            while True:
                try:
                    step, total, r0 = next(walk)
                except StopIteration as stop:
                    r_final = stop.value
                    break
                prev = mu_np + scale * inputs.crop_output(r0.mean(dim=0, keepdim=True), crop)[0, 0].cpu().numpy()
                yield Progress(stage=f"residual diffusion: {sampler}", step=step, total=total, preview=prev)
        finally:
            walk.close()
        r_rad = scale * inputs.crop_output(r_final, crop)[:, 0].float().cpu().numpy()
        phase = (mu_np + r_rad.mean(axis=0)).astype(np.float32)
        if extras is not None and samples > 1:
            extras["uncertainty"] = r_rad.std(axis=0, ddof=1).astype(np.float32)
            extras["samples"] = (mu_np[None] + r_rad).astype(np.float32)
        meta.update({"refinement": "zero-mean diffusion of the residual phi - mu, from sigma(t_start) * noise",
                     "sampler": sampler, "steps": steps, "t_start": t_start, "samples": samples, "seed": int(seed),
                     "guidance": float(guidance),
                     "network_evaluations": 1 + samples * network_evaluations(sampler, steps),
                     "residual_scale_rad": scale, "refine_seconds": time.perf_counter() - t1,
                     "schedule": self.schedule.config()})
        return phase, meta


def load_zmd(device: str = "auto") -> ZMDPipeline:
    from ..device import resolve_device
    from .weights import load_model

    dev = resolve_device(device)
    model, cfg = load_model("zmd-rgb", dev)
    return ZMDPipeline(model, cfg, dev)
