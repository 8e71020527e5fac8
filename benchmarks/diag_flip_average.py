"""Flip averaging for ZMD: run another benchmark script with ZMD's networks averaged over the 8
flips and quarter turns of the image. The physics features (models.rgb_inputs) are isotropic, so a
flipped image gives flipped features; the mean network is averaged over all 8 transforms, and
diffusion sample i runs wholly under transform i (mod 8), so 4 samples see 4 transforms.

    cd benchmarks && python diag_flip_average.py diag_rgb_consistency.py --n 4 --rows ...
    python benchmarks/diag_flip_average.py benchmarks/diag_rgb_reversed.py --exact

The wrapped script's own arguments follow its name; its results files record its own command
only, so say that they were made through this wrapper.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import torch
from torch import nn


def forward_transform(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element k of the dihedral group (0-3: quarter turns; 4-7: mirrored, then turned)."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


def inverse_transform(x: torch.Tensor, k: int) -> torch.Tensor:
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


class FlipAveragedMean(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return sum(inverse_transform(self.net(forward_transform(x, k)), k) for k in range(8)) / 8


class FlipPerSampleDenoiser(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.size_multiple = net.size_multiple

    def forward(self, xt, t, cond):
        t = t.expand(xt.shape[0]) if t.ndim == 0 else t
        return torch.cat([inverse_transform(self.net(forward_transform(xt[i:i + 1], i % 8), t[i:i + 1],
                                                     forward_transform(cond[i:i + 1], i % 8)), i % 8)
                          for i in range(xt.shape[0])])


def flip_averaged(model: nn.Module) -> nn.Module:
    """Wrap ``model`` (a ZMD) in place, once: load_model caches the module, so a second pipeline
    gets the same, already wrapped, networks."""
    if not isinstance(model.mean, FlipAveragedMean):
        model.mean = FlipAveragedMean(model.mean)
        model.denoiser = FlipPerSampleDenoiser(model.denoiser)
    return model


def main() -> None:
    import napari_diffpr.models.zmd as zmd

    load = zmd.load_zmd

    def load_flip_averaged(device: str = "auto"):
        pipe = load(device)
        flip_averaged(pipe.model)
        return pipe

    zmd.load_zmd = load_flip_averaged
    script = Path(sys.argv[1]).resolve()
    sys.argv = sys.argv[1:]
    sys.path.insert(0, str(script.parent))
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main()
