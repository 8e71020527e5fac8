"""The torch inverse 2-D FFT the project uses, around a torch 2.13 CPU bug.

``torch.fft.ifft2`` (and ``ifftn``) with the default "backward" norm returns the result scaled
by 1/N twice for a 2048 x 2048 transform when torch runs on more than one CPU thread (measured
on this project's machine with torch 2.13.0+cpu: a round trip of 2048² noise came back ~4.2e6
times too small; 1024², 2000², 2047², 2049², 3072² and 4096², one thread, and 1-D ``ifft`` were
right). It zeroed DiffPR's result on 1024² holograms (its band limit transforms a mirrored
2048² map). The unscaled inverse (norm="forward") is right, so this scales it by hand.
"""
from __future__ import annotations

import torch


def ifft2(spectrum: torch.Tensor) -> torch.Tensor:
    """Inverse 2-D FFT over the last two axes, normalised by 1/(H W) like numpy's ``ifft2``."""
    n = spectrum.shape[-1] * spectrum.shape[-2]
    return torch.fft.ifft2(spectrum, norm="forward") / n
