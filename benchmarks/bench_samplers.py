"""How much do the samplers themselves cost in accuracy? A DiffPR refinement with an EXACT prior.

Phase maps are drawn from a stationary Gaussian random field (power spectrum ~ (k0^2 + k^2)^-2,
so most power sits at low frequencies, like cells), for which the optimal noise predictor is
known in closed form per Fourier mode: eps*(x_t)(k) = sigma X_t(k) / (alpha^2 P(k) + sigma^2).
Stage 1 is imitated by the reduced U-Net's Down/Up pair (4 x 4 average pooling, bicubic x4),
then Algorithm 1 runs with each sampler. PSNR against the truth ([0, 1] scaling of
napari_diffpr.compare) isolates the sampler's discretisation error from any training error:
the paper's claim to check here is "dpm++ at <= 10 steps is within 0.2 dB of pc at 100".

    python benchmarks/bench_samplers.py [--size 128] [--images 8] [--t 100 200 400]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from napari_diffpr import compare
from napari_diffpr.models.samplers import get_sampler
from napari_diffpr.models.schedule import VPSchedule

# (sampler, steps, options); pc with the corrector off / weaker shows what the corrector costs
RUNS = (("pc", 100, {}), ("pc", 100, {"snr": 0.05}), ("pc", 100, {"snr": 0.0}), ("dpm++", 5, {}),
        ("dpm++", 10, {}), ("dpm++", 20, {}), ("ddim", 10, {}), ("ddim", 50, {}))


def spectrum(size: int, k0: float = 0.02) -> torch.Tensor:
    """Per-mode variance P(k) (orthonormal FFT), scaled so the field's pixel std is 0.5."""
    ky = torch.fft.fftfreq(size, dtype=torch.float64)[:, None]
    kx = torch.fft.fftfreq(size, dtype=torch.float64)[None, :]
    p = (k0 ** 2 + ky ** 2 + kx ** 2) ** -2.0
    return p * (0.25 * size * size / p.sum())


def draw_fields(n: int, p: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    white = torch.randn((n, 1) + tuple(p.shape), generator=g, dtype=torch.float64)
    return torch.fft.ifft2(torch.fft.fft2(white, norm="ortho") * p.sqrt(), norm="ortho").real


def exact_eps(p: torch.Tensor, schedule: VPSchedule):
    def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = schedule.alpha(t.double()).view(-1, 1, 1, 1)
        s = schedule.sigma(t.double()).view(-1, 1, 1, 1)
        xk = torch.fft.fft2(x.double(), norm="ortho")
        return torch.fft.ifft2(s * xk / (a * a * p + s * s), norm="ortho").real.to(x.dtype)
    return eps_fn


def exact_limits(x_t: torch.Tensor, p: torch.Tensor, schedule: VPSchedule, t: int, seed: int) -> dict:
    """Closed-form end points per Fourier mode: the ODE keeps x_t / sqrt(alpha^2 P + sigma^2)
    fixed; the reverse SDE draws from the Gaussian posterior of x0 given x_t."""
    a, s, _ = schedule.coefficients(t)
    xk = torch.fft.fft2(x_t, norm="ortho")
    ode = torch.fft.ifft2(xk * (p / (a * a * p + s * s)).sqrt(), norm="ortho").real
    mean = torch.fft.ifft2(xk * (a * p / (a * a * p + s * s)), norm="ortho").real
    white = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(seed), dtype=x_t.dtype)
    post_sd = (p * s * s / (a * a * p + s * s)).sqrt()
    fresh = torch.fft.ifft2(torch.fft.fft2(white, norm="ortho") * post_sd, norm="ortho").real
    return {"exact-ode": ode, "exact-sde": mean + fresh}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--t", type=int, nargs="+", default=[100, 200, 400])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    sched = VPSchedule()
    p = spectrum(args.size)
    truth = draw_fields(args.images, p, args.seed)
    stage1 = F.interpolate(F.avg_pool2d(truth, 4), scale_factor=4, mode="bicubic", align_corners=False)
    eps_fn = exact_eps(p, sched)

    def psnr(x: torch.Tensor) -> float:
        return float(np.mean([compare(x[i, 0].numpy(), truth[i, 0].numpy())["psnr"]
                              for i in range(args.images)]))

    print(f"{args.images} Gaussian-random-field images {args.size}x{args.size}, exact prior; "
          f"PSNR (dB) against the truth, mean over images")
    print(f"stage 1 (Down/Up only): {psnr(stage1):.2f} dB")
    print("exact-ode: the probability-flow ODE solved in closed form (the limit of ddim/dpm++); "
          "exact-sde: an exact posterior sample p(x0 | x_t) (the limit of pc)")
    print(f"{'t_corrupt':>9} {'sampler':>14} {'steps':>5} {'NFE':>4} {'PSNR':>7} {'vs pc100':>8} {'s':>6}")
    for t in args.t:
        noise = torch.randn(stage1.shape, generator=torch.Generator().manual_seed(args.seed + t), dtype=torch.float64)
        x_t = sched.add_noise(stage1, torch.tensor([float(t)]), noise)
        ref = None
        for name, steps, options in RUNS:
            gen = torch.Generator().manual_seed(args.seed + 1)
            t0 = time.perf_counter()
            calls = [0]

            def counted(x, tt, calls=calls):
                calls[0] += 1
                return eps_fn(x, tt)

            walk = get_sampler(name)(counted, sched, x_t, t, steps, generator=gen, **options)
            label = name + "".join(f" {k}={v}" for k, v in options.items())
            while True:
                try:
                    next(walk)
                except StopIteration as stop:
                    out = stop.value
                    break
            score = psnr(out)
            ref = score if ref is None else ref
            print(f"{t:>9} {label:>14} {steps:>5} {calls[0]:>4} {score:>7.2f} "
                  f"{score - ref:>+8.2f} {time.perf_counter() - t0:>6.2f}")
        for name, out in exact_limits(x_t, p, sched, t, args.seed + 2).items():
            print(f"{t:>9} {name:>14} {'-':>5} {'-':>4} {psnr(out):>7.2f} {psnr(out) - ref:>+8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
