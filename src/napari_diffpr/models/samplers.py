"""Reverse-diffusion samplers for the DiffPR refinement stage.

Every sampler has the same shape::

    gen = sample_xxx(eps_fn, schedule, x_start, t_start, steps, generator=None)
    for step, total, x0_preview in gen: ...      # one event per network step
    x0 = <the generator's return value>

``eps_fn(x, t)`` predicts the noise eps of ``x`` at timestep(s) ``t`` (a float tensor of shape
(batch,) on x's device); ``x_start`` is already noised to the level ``t_start``. ``t_start`` is a
NOISE LEVEL (an integer timestep of the VP schedule, 0..T-1), not a fraction of a step list:
the first network call is at exactly alpha(t_start), sigma(t_start) whatever ``steps`` is.

Time grid (shared by all three samplers): ``steps`` levels from t_start down to 0 (uniform in t
for "pc"/"ddim", uniform in log-SNR for "dpm++"), and a final move from level 0 to clean data
(alpha = 1, sigma = 0, DDPM's x_0). So ddim and dpm++ cost ``steps`` network evaluations,
pc costs 2 x ``steps`` (one corrector and one predictor evaluation per step).

x0 is never clamped: phase maps in network units may leave [-1, 1].

Noise is drawn from ``generator`` on the generator's device and moved to x's device, so one
seed gives the same draws on CPU and GPU.

All sampler arithmetic runs under torch.inference_mode, one step at a time, so the grad mode
is never left switched while the caller holds the generator.

Guidance (``guide``): every sampler accepts ``guide(x0, alpha, sigma) -> x0'``, applied to each
Tweedie estimate before it is used; the step then continues from x0' with the noise direction
recomputed as eps' = (x - alpha x0') / sigma (DDIM / pc), or with x0' as the data prediction
(DPM-Solver++). ``guide=None`` runs the code of the unguided sampler unchanged.
"""
from __future__ import annotations

import math
from typing import Callable, Generator, Sequence

import torch

from ..torchfft import ifft2
from .schedule import VPSchedule

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# guide(x0, alpha, sigma) -> x0': measurement consistency applied to each x0 estimate (None: the
# unguided sampler, exactly as without the argument)
GuideFn = Callable[[torch.Tensor, float, float], torch.Tensor]
SamplerGen = Generator[tuple[int, int, torch.Tensor], None, torch.Tensor]

SAMPLERS = ("pc", "ddim", "dpm++")


# --- helpers -------------------------------------------------------------------------------
def _check(schedule: VPSchedule, x_start: torch.Tensor, t_start, steps) -> tuple[int, int]:
    if not isinstance(x_start, torch.Tensor) or not x_start.is_floating_point():
        raise TypeError(f"x_start must be a floating-point torch tensor, got {type(x_start).__name__}")
    if isinstance(t_start, bool) or int(t_start) != t_start or not 0 <= int(t_start) <= schedule.t_max:
        raise ValueError(f"t_start must be an integer noise level in 0..{schedule.t_max}, got {t_start!r}")
    if isinstance(steps, bool) or int(steps) != steps or int(steps) < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    t_start, steps = int(t_start), int(steps)
    # From level 0 there is only the final denoising move; more steps would repeat level 0.
    return t_start, (1 if t_start == 0 else steps)


def time_grid(schedule: VPSchedule, t_start: int, steps: int, spacing: str = "time") -> list[float]:
    """``steps`` decreasing timesteps from exactly ``t_start`` to 0 (just [t_start] when steps == 1),
    uniform in t (``spacing="time"``) or in log-SNR (``"logsnr"``)."""
    if steps == 1:
        return [float(t_start)]
    if spacing == "time":
        return [t_start * (steps - 1 - i) / (steps - 1) for i in range(steps)]
    if spacing == "logsnr":
        lo, hi = (float(v) for v in schedule.log_snr(torch.tensor([float(t_start), 0.0], dtype=torch.float64)))
        grid = torch.linspace(lo, hi, steps, dtype=torch.float64)
        ts = schedule.t_from_log_snr(grid).tolist()
        ts[0], ts[-1] = float(t_start), 0.0  # exact ends, whatever the round trip did
        return ts
    raise ValueError(f"spacing must be 'time' or 'logsnr', got {spacing!r}")


def _levels(schedule: VPSchedule, ts: Sequence[float]) -> list[tuple[float, float]]:
    """(alpha, sigma) at each grid time, plus (1, 0) for clean data at the end."""
    out = []
    for t in ts:
        a, s, _ = schedule.coefficients(t)
        out.append((a, s))
    out.append((1.0, 0.0))
    return out


def _t_vector(x: torch.Tensor, t: float) -> torch.Tensor:
    return torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


def _randn(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    gdev = generator.device if generator is not None else x.device
    z = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype)
    return z if z.device == x.device else z.to(x.device)


def _x0(x: torch.Tensor, eps: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """Tweedie's data estimate (x - sigma eps) / alpha."""
    return (x - sigma * eps) / alpha


# --- DDIM (eta = 0) --------------------------------------------------------------------------
def sample_ddim(eps_fn: EpsFn, schedule: VPSchedule, x_start: torch.Tensor, t_start: int, steps: int,
                generator: torch.Generator | None = None, guide: GuideFn | None = None) -> SamplerGen:
    """Deterministic DDIM (eta = 0) on a grid uniform in t; ``generator`` is unused (kept for a
    common signature). Returns x_0."""
    t_start, steps = _check(schedule, x_start, t_start, steps)
    ts = time_grid(schedule, t_start, steps, "time")
    lv = _levels(schedule, ts)
    x = x_start
    for i, t in enumerate(ts):
        (a, s), (a_next, s_next) = lv[i], lv[i + 1]
        with torch.inference_mode():
            eps = eps_fn(x, _t_vector(x, t))
            x0 = _x0(x, eps, a, s)
            if guide is not None:
                x0 = guide(x0, a, s)
                eps = (x - a * x0) / s
            x = x0 if s_next == 0.0 else a_next * x0 + s_next * eps
        yield i + 1, steps, x0
    return x


# --- DPM-Solver++(2M) ------------------------------------------------------------------------
def sample_dpmpp_2m(eps_fn: EpsFn, schedule: VPSchedule, x_start: torch.Tensor, t_start: int, steps: int,
                    generator: torch.Generator | None = None, guide: GuideFn | None = None) -> SamplerGen:
    """DPM-Solver++(2M) (Lu et al. 2022, data prediction, multistep second order) on a grid
    uniform in lambda = log(alpha / sigma). The first step is first order (no history yet), the
    last (to clean data, lambda = inf) too, as in DPM-Solver's ``lower_order_final``.
    Deterministic; ``generator`` is unused. Returns x_0."""
    t_start, steps = _check(schedule, x_start, t_start, steps)
    ts = time_grid(schedule, t_start, steps, "logsnr")
    lv = _levels(schedule, ts)
    lam = [math.log(a / s) for a, s in lv[:-1]]
    x = x_start
    x0_prev, h_prev = None, None
    for i, t in enumerate(ts):
        (a, s), (a_next, s_next) = lv[i], lv[i + 1]
        with torch.inference_mode():
            eps = eps_fn(x, _t_vector(x, t))
            x0 = _x0(x, eps, a, s)
            if guide is not None:
                x0 = guide(x0, a, s)
            if s_next == 0.0:
                x = x0  # lambda -> inf: the first-order update is x0 itself
            else:
                h = lam[i + 1] - lam[i]
                d = x0
                if x0_prev is not None:
                    r = h_prev / h
                    d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
                # x_next = (sigma_next / sigma) x - alpha_next (e^-h - 1) D
                x = (s_next / s) * x + (-a_next * math.expm1(-h)) * d
                h_prev = h
            x0_prev = x0
        yield i + 1, steps, x0
    return x


# --- predictor-corrector (score SDE) -----------------------------------------------------------
def sample_pc(eps_fn: EpsFn, schedule: VPSchedule, x_start: torch.Tensor, t_start: int, steps: int,
              generator: torch.Generator | None = None, snr: float = 0.16,
              corrector_steps: int = 1, guide: GuideFn | None = None) -> SamplerGen:
    """The paper's sampler (Song et al. 2021): at each level one Langevin corrector step, then
    a reverse-diffusion predictor step to the next level; no noise on the final move to clean
    data (score SDE's ``denoise``). Grid uniform in t.

    Reverse-diffusion predictor for a move from level t to s < t: with a = alpha_t / alpha_s
    and b = 1 - a^2 (the forward variance added between s and t; b = beta_t on DDPM's full
    grid, so this reduces to score SDE's discretisation there):
        x <- (2 - a) x + b * score + sqrt(b) z,   score = -eps / sigma_t.
    Langevin corrector at level t: step = 2 (1 - beta_t) (snr |z| / |score|)^2,
        x <- x + step * score + sqrt(2 step) z.
    Stochastic: draws from ``generator``. Returns x_0 (the noise-free last predictor mean)."""
    t_start, steps = _check(schedule, x_start, t_start, steps)
    if snr < 0 or corrector_steps < 0:
        raise ValueError(f"snr and corrector_steps must be >= 0, got {snr!r}, {corrector_steps!r}")
    ts = time_grid(schedule, t_start, steps, "time")
    lv = _levels(schedule, ts)
    slope = (schedule.beta_end - schedule.beta_start) / schedule.t_max
    x = x_start
    batch = x.shape[0]
    for i, t in enumerate(ts):
        (a_t, s_t), (a_next, s_next) = lv[i], lv[i + 1]
        tv = _t_vector(x, t)
        with torch.inference_mode():
            one_minus_beta = 1.0 - (schedule.beta_start + slope * t)
            for _ in range(corrector_steps if snr > 0 else 0):
                score = eps_fn(x, tv).mul_(-1.0 / s_t)
                z = _randn(x, generator)
                g = score.reshape(batch, -1).norm(dim=-1).mean()
                n = z.reshape(batch, -1).norm(dim=-1).mean()
                # a zero score (x already at the mode) carries no step size: stay put
                step = torch.where(g > 0, 2.0 * one_minus_beta * (snr * n / g.clamp_min(1e-30)) ** 2,
                                   torch.zeros_like(g))
                x = x + step * score + torch.sqrt(2.0 * step) * z
            eps = eps_fn(x, tv)
            x0 = _x0(x, eps, a_t, s_t)
            if guide is not None:
                x0 = guide(x0, a_t, s_t)
                eps = (x - a_t * x0) / s_t
            a = a_t / a_next
            b = 1.0 - a * a
            x_mean = (2.0 - a) * x - (b / s_t) * eps
            x = x_mean if s_next == 0.0 else x_mean + math.sqrt(b) * _randn(x, generator)
        yield i + 1, steps, x0
    return x


_BY_NAME = {"pc": sample_pc, "ddim": sample_ddim, "dpm++": sample_dpmpp_2m}


def shell_error_variance(measurement: torch.Tensor, estimate: torch.Tensor, band: torch.Tensor,
                         noise_var: float, shells: int = 24) -> torch.Tensor:
    """Per-pixel error variance (H, W) of ``estimate`` against the truth, per radial frequency
    shell inside ``band`` (0 outside): the measurement's mean squared difference from the
    estimate in that shell minus the measurement's own white noise ``noise_var`` (>= 0).
    ``measurement`` and ``estimate`` (..., H, W) in the same units; a first-stage estimate's
    error is far larger than ΠGDM's r² assumes at a low noise level, and this says by how much."""
    h, w = measurement.shape[-2:]
    diff = torch.fft.fft2((measurement - estimate).reshape(-1, h, w)[0])
    power = diff.abs().pow(2) / (h * w)                      # per-pixel variance units
    fy = torch.fft.fftfreq(h, device=band.device)[:, None]
    fx = torch.fft.fftfreq(w, device=band.device)[None, :]
    rho = torch.sqrt(fy ** 2 + fx ** 2)
    inside = band > 0
    out = torch.zeros((h, w), dtype=power.dtype, device=power.device)
    if not bool(inside.any()):
        return out
    edges = torch.linspace(0.0, float(rho[inside].max()) * (1 + 1e-6), shells + 1)
    for a, b in zip(edges[:-1], edges[1:]):
        m = inside & (rho >= a) & (rho < b)
        if bool(m.any()):
            out[m] = max(float(power[m].mean()) - float(noise_var), 0.0)
    return out


def wiener_guide(measurement: torch.Tensor, band: torch.Tensor, noise_var: float | torch.Tensor,
                 guidance: float, error_var: torch.Tensor | None = None) -> GuideFn:
    """Measurement-consistent x0 (a ΠGDM-style projection for a diagonal operator, one FFT
    pair, no backprop): inside the band, each Fourier coefficient of x0 moves toward the
    measurement's, by the Wiener weight of the two error variances,

        X0' = X0 + band * r^2 / (r^2 + noise_var / guidance) * (Y - X0),
        r^2 = sigma^2 / (alpha^2 + sigma^2)   (ΠGDM's error variance of the x0 estimate),

    ``measurement`` (..., H, W) in the sampler's units (broadcast over the batch), ``band``
    (H, W) in [0, 1] (0: the prior alone decides), ``noise_var`` the measurement's white noise
    variance per pixel (same units), ``guidance`` > 0 scales the measurement's precision (1: as
    estimated; larger: trust the measurement more). ``error_var`` (H, W), optional: a floor on
    r² per frequency (``shell_error_variance`` of the estimate the sampler starts from), so a
    warm start from a coarse estimate is not trusted more than its measured error allows."""
    if not guidance > 0:
        raise ValueError(f"guidance must be > 0 for a guide (0 means no guide); got {guidance!r}")
    y_hat = torch.fft.fft2(measurement)
    nv = torch.as_tensor(noise_var, dtype=measurement.dtype, device=measurement.device)
    nv = torch.nan_to_num(nv, nan=float("inf")).clamp_min(1e-12) / float(guidance)

    def guide(x0: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
        r2 = sigma * sigma / (alpha * alpha + sigma * sigma)
        if error_var is not None:
            r2 = torch.clamp(error_var, min=r2)
        w = band * (r2 / (r2 + nv))
        x_hat = torch.fft.fft2(x0)
        return ifft2(x_hat + w * (y_hat - x_hat)).real.to(x0.dtype)

    return guide


def get_sampler(name: str):
    """The sampler function for "pc", "ddim" or "dpm++"."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {name!r}") from None


def network_evaluations(name: str, steps: int, snr: float = 0.16, corrector_steps: int = 1) -> int:
    """How many eps_fn calls a sampler makes for ``steps`` (pc: corrector + predictor, unless
    ``snr`` is 0)."""
    get_sampler(name)
    if name == "pc" and snr > 0:
        return (1 + corrector_steps) * steps
    return steps
