"""Off-axis demodulation with torch FFTs (issue 12): the same computation as
``HalfRows`` + ``fourier.demodulate`` (row real FFTs of the mean-removed, zero-margined image,
column FFTs only where the filter is, pruned inverse FFTs), on a torch device: CUDA or Apple
MPS for speed, or the CPU (``fft_device="torch-cpu"``) to check it against the scipy path.
Results agree with scipy's within float32 rounding. torch is imported only here.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .fftutil import next_fast_len
from .filters import filter_extent, sideband_filter
from .sideband import Sideband

FFT_DEVICES = ("cpu", "auto", "torch-cpu", "cuda", "mps")


def torch_device(fft_device: str):
    """The torch device for ``fft_device``, or None for the scipy path ("cpu", or "auto"
    without CUDA/MPS)."""
    if fft_device == "cpu":
        return None
    import torch

    from ..device import available_devices

    if fft_device == "torch-cpu":
        return torch.device("cpu")
    if fft_device == "auto":
        best = available_devices()[0]
        return None if best == "cpu" else torch.device(best)
    if fft_device not in available_devices():
        raise ParameterError(f"fft_device {fft_device!r} is not available on this machine; available: "
                             f"{', '.join(d for d in available_devices() if d != 'cpu')} or cpu / torch-cpu / auto")
    return torch.device(fft_device)


def demodulate_torch(image: np.ndarray, margin: int, sideband: Sideband, shape: str, radius: float,
                     device) -> np.ndarray:
    """Complex64 field (H0 x W0, numpy) carried by ``sideband`` of ``image``; see
    ``fourier.demodulate`` for the method (this is its line-by-line port)."""
    import torch

    image = np.asarray(image, dtype=np.float32)
    h0, w0 = image.shape
    margin = max(0, int(margin))
    h = next_fast_len(h0 + 2 * margin) if margin else h0
    w = next_fast_len(w0 + 2 * margin) if margin else w0
    sb, conjugate = sideband.canonical()
    img = torch.from_numpy(image - np.float32(image.mean())).to(device)
    buf = torch.zeros((h0, w), dtype=torch.float32, device=device)
    buf[:, :w0] = img
    rows = torch.fft.rfft(buf, dim=1)  # H0 x (W // 2 + 1)
    ky0, kx0 = int(round(sb.fy * h)), int(round(sb.fx * w))
    ext = filter_extent(shape, radius)
    ry = min(int(math.ceil(ext * h)) + 1, (h - 1) // 2)
    rx = min(int(math.ceil(ext * w)) + 1, (w - 1) // 2)
    oy, ox = np.arange(-ry, ry + 1), np.arange(-rx, rx + 1)
    c = (kx0 + ox) % w
    direct = c <= w // 2
    stored = np.where(direct, c, (w - c) % w)
    cols = torch.fft.fft(rows[:, torch.from_numpy(stored).to(device)].T.contiguous(), n=h, dim=1)  # [kx, ky]
    if not direct.all():
        mirror = torch.from_numpy((-np.arange(h)) % h).to(device)
        flip = torch.from_numpy(~direct).to(device)
        cols[flip] = torch.conj(cols[flip][:, mirror])
    weights = sideband_filter(shape, (ky0 + oy) / h - sb.fy, (kx0 + ox) / w - sb.fx, radius)
    band = cols[:, torch.from_numpy((ky0 + oy) % h).to(device)] * torch.from_numpy(weights.T.copy()).to(device)
    dy, dx = sb.fy - ky0 / h, sb.fx - kx0 / w
    ramp_y = np.exp(-2j * np.pi * (dy + ry / h) * np.arange(h0, dtype=np.float64)).astype(np.complex64)
    ramp_x = np.exp(-2j * np.pi * (dx + rx / w) * np.arange(w0, dtype=np.float64)).astype(np.complex64)
    cols = torch.fft.ifft(band, n=h, dim=1)[:, :h0] * torch.from_numpy(ramp_y).to(device)[None, :]
    field = torch.fft.ifft(cols.T.contiguous(), n=w, dim=1)[:, :w0] * torch.from_numpy(ramp_x).to(device)[None, :]
    if conjugate:
        field = torch.conj(field)
    return field.to(torch.complex64).cpu().numpy()
