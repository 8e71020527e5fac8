"""The unconditional diffusion prior of DiffPR (seed 000 §4.2): a symmetric U-Net ε_θ(x_t, t)
that predicts the noise added to a phase map (in network units, see models.inputs).

Sized for a CPU: residual blocks with a sinusoidal timestep embedding and GroupNorm, and no
self-attention at all — attention at the low-resolution levels would make memory grow with the
square of the image area at inference (1024² inputs), and the refinement starts from a mildly
noised estimate, so the global context attention buys matters little. Fully convolutional:
H and W must be multiples of 2**(len(channel_mults) - 1).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .unet import _groups


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps t (batch,) in [0, 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)   # each block starts as the identity: stabler early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class DiffusionUNet(nn.Module):
    """ε-prediction U-Net: forward(x (B, channels, H, W), t (B,) float timesteps in [0, 1000))
    -> predicted ε, same shape as x."""

    def __init__(self, channels: int = 1, base_channels: int = 32, channel_mults=(1, 2, 2, 2),
                 num_res_blocks: int = 1, dropout: float = 0.0):
        super().__init__()
        self.init_kwargs = dict(channels=channels, base_channels=base_channels,
                                channel_mults=list(channel_mults), num_res_blocks=num_res_blocks,
                                dropout=dropout)
        self.channels = channels
        self.channel_mults = tuple(channel_mults)
        temb = base_channels * 4
        self.temb_dim = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.stem = nn.Conv2d(channels, base_channels, 3, padding=1)

        widths = [base_channels * m for m in self.channel_mults]
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skip_widths = [base_channels]
        cur = base_channels
        for level, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(cur, w, temb, dropout))
                cur = w
                skip_widths.append(cur)
            self.down_blocks.append(blocks)
            if level < len(widths) - 1:
                self.downsamples.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skip_widths.append(cur)
        self.mid = nn.ModuleList([ResBlock(cur, cur, temb, dropout), ResBlock(cur, cur, temb, dropout)])

        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(cur + skip_widths.pop(), w, temb, dropout))
                cur = w
            self.up_blocks.append(blocks)
            if level > 0:
                self.upsamples.append(nn.Conv2d(cur, cur, 3, padding=1))
        self.out_norm = nn.GroupNorm(_groups(cur), cur)
        self.out_conv = nn.Conv2d(cur, channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        m = self.size_multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            from ..errors import InputError
            raise InputError(f"the diffusion prior needs H and W to be multiples of {m}; "
                             f"got {x.shape[-2]} x {x.shape[-1]}")
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_mlp(timestep_embedding(t, self.temb_dim))
        h = self.stem(x)
        skips = [h]
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
                skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        for i, blocks in enumerate(self.up_blocks):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsamples):
                h = self.upsamples[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out_conv(F.silu(self.out_norm(h)))
