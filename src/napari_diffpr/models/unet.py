"""Stage-1 phase predictors (seed 000 §4.1, Fig. 1a/b): a vanilla U-Net with full skips and the
reduced (asymmetric) U-Net whose high-resolution skips are removed and whose output is H/4 x W/4.

Both are fully convolutional; H and W must be multiples of 16 (four stride-2 downsamplings).
Importing this module imports torch, so only import it lazily from the registry.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import InputError


def _groups(channels: int) -> int:
    # GroupNorm rather than BatchNorm: batches here are small (1 image at inference, 16 in
    # training) and GroupNorm behaves the same in train and eval mode.
    for g in (8, 4, 2):
        if channels % g == 0:
            return g
    return 1


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by GroupNorm and SiLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(_groups(cout), cout), nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(_groups(cout), cout), nn.SiLU(),
        )

    def forward(self, x):
        return self.body(x)


class Down(nn.Module):
    """Stride-2 convolution (halves H and W), then a ConvBlock."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1),
                                  nn.GroupNorm(_groups(cout), cout), nn.SiLU())
        self.block = ConvBlock(cout, cout)

    def forward(self, x):
        return self.block(self.down(x))


class Up(nn.Module):
    """Bilinear x2 upsampling, concatenation with the skip (if any), then a ConvBlock."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.block = ConvBlock(cin + cskip, cout)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.block(x)


def _residual(head: nn.Conv2d, channel: int | None, in_channels: int) -> int | None:
    """Residual learning on top of an input channel (the unwrapped Fourier phase): the output is
    that channel (4x4-pooled for the reduced U-Net) plus the head's correction. The head starts
    at zero, so an untrained network returns the physics estimate itself."""
    if channel is None:
        return None
    if not 0 <= channel < in_channels:
        raise ValueError(f"residual_channel {channel} is not one of the {in_channels} input channels")
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return int(channel)


def check_multiple_of_16(x: torch.Tensor) -> None:
    h, w = x.shape[-2:]
    if h % 16 or w % 16:
        raise InputError(f"the networks need H and W to be multiples of 16 (pad first, see "
                         f"models.inputs.prepare_input); got {h} x {w}")


def _widths(base: int, n: int) -> list[int]:
    # Double per level but cap at 8x base: the deepest levels dominate the parameter count.
    return [base * min(2 ** i, 8) for i in range(n)]


class VanillaUNet(nn.Module):
    """The canonical U-Net: ``depth`` stride-2 downsamplings, as many upsamplings, a skip at
    every level (including full resolution); output H x W with ``out_channels`` channels."""

    def __init__(self, in_channels: int, out_channels: int = 1, base_channels: int = 32, depth: int = 4,
                 residual_channel: int | None = None):
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self.init_kwargs = dict(in_channels=in_channels, out_channels=out_channels,
                                base_channels=base_channels, depth=depth)
        if residual_channel is not None:
            self.init_kwargs["residual_channel"] = residual_channel
        w = _widths(base_channels, depth + 1)
        self.depth = depth
        self.stem = ConvBlock(in_channels, w[0])
        self.downs = nn.ModuleList(Down(w[i], w[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(Up(w[i + 1], w[i], w[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(w[0], out_channels, 1)
        self.output_scale = 1
        self.residual_channel = _residual(self.head, residual_channel, in_channels)

    def forward(self, x):
        check_multiple_of_16(x)
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in self.ups:
            h = up(h, skips.pop())
        out = self.head(h)
        if self.residual_channel is not None:
            out = out + x[:, self.residual_channel:self.residual_channel + 1]
        return out


class ReducedUNet(nn.Module):
    """The asymmetric U-Net of DiffPR: 4 stride-2 downsamplings (to H/16), only 2 upsamplings
    (back to H/4) with skips from the H/8 and H/4 levels; the H and H/2 skips are removed, so
    nothing high-frequency reaches the decoder. Output: H/4 x W/4 (trained against 4x4
    average-pooled targets)."""

    def __init__(self, in_channels: int, out_channels: int = 1, base_channels: int = 32,
                 residual_channel: int | None = None):
        super().__init__()
        self.init_kwargs = dict(in_channels=in_channels, out_channels=out_channels,
                                base_channels=base_channels)
        if residual_channel is not None:
            self.init_kwargs["residual_channel"] = residual_channel
        w = _widths(base_channels, 5)
        self.stem = ConvBlock(in_channels, w[0])
        self.downs = nn.ModuleList(Down(w[i], w[i + 1]) for i in range(4))
        self.up1 = Up(w[4], w[3], w[3])   # H/16 -> H/8, skip from H/8
        self.up2 = Up(w[3], w[2], w[2])   # H/8 -> H/4, skip from H/4
        self.head = nn.Conv2d(w[2], out_channels, 1)
        self.output_scale = 4
        self.residual_channel = _residual(self.head, residual_channel, in_channels)

    def forward(self, x):
        check_multiple_of_16(x)
        h = self.stem(x)
        feats = []
        for down in self.downs:
            h = down(h)
            feats.append(h)          # H/2, H/4, H/8, H/16
        h = self.up1(feats[3], feats[2])
        h = self.up2(h, feats[1])
        out = self.head(h)
        if self.residual_channel is not None:
            c = self.residual_channel
            out = out + F.avg_pool2d(x[:, c:c + 1], 4)   # Down of the physics estimate
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
