"""Diagnostic for issue 7: do the hologram networks depend on the image size?

    python benchmarks/diag_size_dependence.py            # prints one line per size x model x tiling

For ``simulate.sample("hologram", size=N, seed=1)`` at N = 256, 512 and 1024 it runs the shipped
vanilla and reduced U-Nets on the whole frame's network input and on overlapping 64² and 128²
tiles of that same input (the input is computed once on the whole frame, so the demodulation and
the unwrapped-phase channel are identical; Hann-blended), and prints PSNR against the truth, the
median background phase and the slope of predicted against true phase over the cells, with
Fourier filtering and default DiffPR (everything from the hologram) for reference. Tiles of the training crop size (64²) test whether the size
dependence comes from normalisation statistics over a larger field.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import napari_diffpr as nd
from napari_diffpr.models.inputs import crop_output, network_to_phase, prepare_input
from napari_diffpr.models.weights import load_model


def tiled(net, x: torch.Tensor, t: int, f: int) -> torch.Tensor:
    """``net`` on t x t tiles of ``x`` at half-tile stride, outputs (1/f scale) Hann-blended."""
    _, _, h, w = x.shape
    ys = list(range(0, max(h - t, 0) + 1, t // 2))
    xs = list(range(0, max(w - t, 0) + 1, t // 2))
    ys += [h - t] if ys[-1] != h - t else []
    xs += [w - t] if xs[-1] != w - t else []
    to = t // f
    win1 = torch.hann_window(to + 2, periodic=False)[1:-1]
    win = (win1[:, None] * win1[None, :]).clamp_min(1e-3)
    acc, wsum = torch.zeros(h // f, w // f), torch.zeros(h // f, w // f)
    for y in ys:
        for xx in xs:
            acc[y // f:y // f + to, xx // f:xx // f + to] += net(x[:, :, y:y + t, xx:xx + t])[0, 0] * win
            wsum[y // f:y // f + to, xx // f:xx // f + to] += win
    return (acc / wsum)[None, None]


def main() -> None:
    torch.set_num_threads(2)
    for size in (256, 512, 1024):
        s = nd.simulate.sample("hologram", size=size, seed=1)
        truth = s["phase"]
        bg, cell = truth < 0.05, truth > 0.3
        for name in ("unet-hologram", "reduced-unet-hologram"):
            net, cfg = load_model(name, "cpu")
            f = 4 if name.startswith("reduced") else 1
            x, crop = prepare_input(s["measurement"], "hologram", s["background"], cfg)
            for t in (0, 64, 128):
                with torch.no_grad():
                    out = net(x) if t == 0 else tiled(net, x, t, f)
                if f == 4:
                    out = F.interpolate(out, scale_factor=4, mode="bicubic", align_corners=False)
                p = network_to_phase(crop_output(out, crop), cfg)[0, 0].numpy()
                slope = np.polyfit(truth[cell], p[cell], 1)[0]
                print(f"{size} {name:22s} {'whole frame' if not t else f'tiles {t}²':11s} PSNR "
                      f"{nd.compare(p, truth)['psnr']:.2f} dB  background {np.median(p[bg]):+.3f} rad  "
                      f"slope {slope:.3f}", flush=True)
        for method in ("fourier", "diffpr"):
            kw = {"device": "cpu"} if method == "diffpr" else {}
            p = nd.reconstruct(s["measurement"], method, background=s["background"], **kw).phase
            print(f"{size} {method:34s} PSNR {nd.compare(p, truth)['psnr']:.2f} dB  "
                  f"slope {np.polyfit(truth[cell], p[cell], 1)[0]:.3f}", flush=True)


if __name__ == "__main__":
    main()
