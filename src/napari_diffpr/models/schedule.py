"""The variance-preserving (VP) noise schedule of DDPM/DiffPR, on a continuous timestep axis.

The prior is trained on the discrete linear-beta DDPM schedule (T = 1000 steps); samplers
need the noise level between integer steps too (DPM-Solver++ on a log-SNR grid, DDIM on a
coarse grid). We interpolate log(alpha) piecewise linearly between integer timesteps, which
is exact at every integer step and keeps alpha^2 + sigma^2 = 1 everywhere; ``t_from_log_snr``
inverts that interpolation exactly.

Notation (per timestep t in [0, T-1], fractional allowed):
    alpha(t) = sqrt(alphas_cumprod[t]),  sigma(t) = sqrt(1 - alphas_cumprod[t])
    x_t = alpha(t) x_0 + sigma(t) eps,   log_snr(t) = log(alpha^2 / sigma^2)

torch is imported at module import: this module is only imported lazily (by the methods'
run functions and by training code), never by the package's import path.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class VPSchedule:
    """Discrete linear-beta DDPM schedule, interpolated continuously between integer steps.

    num_timesteps: T; timesteps run 0 (almost clean) .. T-1 (almost pure noise).
    beta_start, beta_end: the per-step noise variances at t = 0 and t = T-1 (DDPM's 1e-4, 0.02).
    """

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        if int(num_timesteps) != num_timesteps or num_timesteps < 2:
            raise ValueError(f"num_timesteps must be an integer >= 2, got {num_timesteps!r}")
        if not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start!r}, {beta_end!r}")
        self.num_timesteps = int(num_timesteps)
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        # Tables in float64 on the CPU: the cumulative product loses digits in float32 near t = 0.
        self.betas = torch.linspace(self.beta_start, self.beta_end, self.num_timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self._log_alpha = 0.5 * torch.log(self.alphas_cumprod)  # decreasing in t
        self._tables: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return (f"VPSchedule(num_timesteps={self.num_timesteps}, beta_start={self.beta_start}, "
                f"beta_end={self.beta_end})")

    def config(self) -> dict:
        """The constructor arguments, e.g. to store next to trained weights."""
        return {"num_timesteps": self.num_timesteps, "beta_start": self.beta_start, "beta_end": self.beta_end}

    @property
    def t_max(self) -> int:
        """The largest timestep, T - 1 (the noisiest level)."""
        return self.num_timesteps - 1

    # --- internals -------------------------------------------------------------------------
    def _work_dtype(self, device: torch.device) -> torch.dtype:
        return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64

    def _table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(log_alpha table, its negation: increasing, for searchsorted) on ``device``."""
        dtype = self._work_dtype(device)
        key = (str(device), dtype)
        if key not in self._tables:
            table = self._log_alpha.to(device=device, dtype=dtype)
            self._tables[key] = (table, (-table).contiguous())
        return self._tables[key]

    @staticmethod
    def _as_tensor(t) -> torch.Tensor:
        return t if isinstance(t, torch.Tensor) else torch.as_tensor(t, dtype=torch.float64)

    @staticmethod
    def _out_dtype(t: torch.Tensor) -> torch.dtype:
        return t.dtype if t.is_floating_point() else torch.float32

    def _log_alpha_work(self, t: torch.Tensor) -> torch.Tensor:
        """log alpha(t) in the working precision (float64 except on MPS)."""
        table, _ = self._table(t.device)
        tw = t.to(table.dtype).clamp(0.0, float(self.t_max))
        lo = tw.floor().clamp(max=self.t_max - 1)
        frac = tw - lo
        idx = lo.long()
        return table[idx] * (1.0 - frac) + table[idx + 1] * frac

    # --- public ----------------------------------------------------------------------------
    def log_alpha(self, t) -> torch.Tensor:
        """log alpha(t), linear between integer steps; t is clamped to [0, T-1]."""
        t = self._as_tensor(t)
        return self._log_alpha_work(t).to(self._out_dtype(t))

    def alpha(self, t) -> torch.Tensor:
        """Signal scale sqrt(alphas_cumprod) at timestep(s) t."""
        t = self._as_tensor(t)
        return torch.exp(self._log_alpha_work(t)).to(self._out_dtype(t))

    def sigma(self, t) -> torch.Tensor:
        """Noise scale sqrt(1 - alphas_cumprod) at timestep(s) t."""
        t = self._as_tensor(t)
        # -expm1(2 log alpha) keeps precision where alpha is close to 1 (small t).
        return torch.sqrt(-torch.expm1(2.0 * self._log_alpha_work(t))).to(self._out_dtype(t))

    def log_snr(self, t) -> torch.Tensor:
        """log(alpha^2 / sigma^2) at timestep(s) t; decreases with t."""
        t = self._as_tensor(t)
        la = self._log_alpha_work(t)
        return (2.0 * la - torch.log(-torch.expm1(2.0 * la))).to(self._out_dtype(t))

    def t_from_log_snr(self, log_snr) -> torch.Tensor:
        """The (fractional) timestep whose log-SNR is ``log_snr``; exact inverse of log_snr(t),
        clamped to [0, T-1] for values outside the schedule's range."""
        l = self._as_tensor(log_snr)
        table, neg = self._table(l.device)
        lw = l.to(table.dtype)
        # alpha^2 = sigmoid(l)  =>  -log alpha = 0.5 * softplus(-l)
        target = 0.5 * F.softplus(-lw)
        idx = (torch.searchsorted(neg, target.reshape(-1).contiguous(), right=True) - 1)
        idx = idx.clamp(0, self.t_max - 1).reshape(target.shape)
        lo, hi = neg[idx], neg[idx + 1]
        t = idx.to(table.dtype) + (target - lo) / (hi - lo)
        return t.clamp(0.0, float(self.t_max)).to(self._out_dtype(l))

    def add_noise(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """x_t = alpha(t) x0 + sigma(t) noise. ``t`` is a scalar, a single timestep (shape (1,))
        or one per batch item (shape (batch,)); the result has x0's dtype and a fresh buffer."""
        t = self._as_tensor(t).to(x0.device)
        a = self.alpha(t).to(x0.dtype)
        s = self.sigma(t).to(x0.dtype)
        if a.ndim == 1 and x0.ndim > 1:
            if a.shape[0] not in (1, x0.shape[0]):
                raise ValueError(f"got {a.shape[0]} timesteps for a batch of {x0.shape[0]}")
            shape = (-1,) + (1,) * (x0.ndim - 1)
            a, s = a.reshape(shape), s.reshape(shape)
        return a * x0 + s * noise

    def coefficients(self, t: float) -> tuple[float, float, float]:
        """(alpha, sigma, log_snr) at a single timestep as Python floats, computed in float64:
        samplers use these scalars so each step costs no extra tensor work."""
        la = float(self.log_alpha(torch.tensor(float(t), dtype=torch.float64)))
        sigma2 = -math.expm1(2.0 * la)
        return math.exp(la), math.sqrt(sigma2), 2.0 * la - math.log(sigma2)
