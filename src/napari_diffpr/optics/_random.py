"""Random draws that honour a torch.Generator living on another device than the data (a CPU
generator keeps results identical on CPU and GPU)."""
from __future__ import annotations


def _gen_device(generator, device):
    return generator.device if generator is not None else device


def rand(shape, generator, device):
    import torch

    return torch.rand(shape, generator=generator, device=_gen_device(generator, device)).to(device)


def randn(shape, generator, device):
    import torch

    return torch.randn(shape, generator=generator, device=_gen_device(generator, device)).to(device)


def poisson(rate, generator):
    """Poisson counts with mean ``rate`` (drawn on the generator's device)."""
    import torch

    gdev = _gen_device(generator, rate.device)
    return torch.poisson(rate.to(gdev), generator=generator).to(rate.device)


def uniform(shape, low, high, generator, device):
    return low + (high - low) * rand(shape, generator, device)


def log_uniform(shape, low, high, generator, device):
    import math

    import torch

    return torch.exp(uniform(shape, math.log(low), math.log(high), generator, device))
