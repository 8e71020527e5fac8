"""TIE defaults (issue 8, item 4): the phase-scale error of ``tie`` on the project's simulator
against the Tikhonov regularisation level, for small cells (the "mixed" phantoms) and one large
smooth cell (a hemisphere-like cap 60 % of the field across), and the polychromatic effective
defocus.

    python benchmarks/bench_tie_defaults.py

Scale = integrated phase over the dilated cells (background median removed) / the truth's:
the dry-mass ratio. 128^2 images, 3 seeds each, 5000 photons, water, NA 0.3/0.55.
"""
from __future__ import annotations

import itertools

import numpy as np


def mass_ratio(est, tru, px):
    from scipy import ndimage as ndi

    m = ndi.binary_dilation(tru > 0.05 * tru.max(), iterations=max(2, int(round(1.0 / px))))
    bg = np.median(est[~m]) if (~m).sum() > 50 else 0.0
    return float((est[m] - bg).sum() / tru[m].sum())


def big_cell(size):
    y, x = np.mgrid[:size, :size]
    r = np.hypot(y - size / 2, x - size / 2) / (size * 0.3)
    return (3.0 * np.sqrt(np.clip(1 - r ** 2, 0, None))).astype(np.float32)


def main():
    import torch

    import napari_diffpr as dp

    torch.set_num_threads(1)
    print("| pixel µm | defocus ±µm | cells | reg 1 (old) scale / PSNR | reg 0.3 | reg 0.1 (new) | reg 0.03 |")
    print("|---|---|---|---|---|---|---|")
    for px, d, kind in itertools.product((0.2, 0.3), (0.5, 1.5, 3.0), ("mixed", "large")):
        cells = []
        for reg in (1.0, 0.3, 0.1, 0.03):
            rs = []
            for seed in range(3):
                ph = dp.simulate.phantom((128, 128), "mixed", seed=seed) if kind == "mixed" else big_cell(128)
                s = dp.simulate.rgb_brightfield(ph, pixel_size=px, defocus=(-d, 0, d), photons=5000.0, seed=seed)
                r = dp.reconstruct(s.image, "tie", defocus=(-d, 0, d), pixel_size=px, regularization=reg)
                rs.append((mass_ratio(r.phase, s.phase, px), dp.compare(r, s.phase)["psnr"]))
            r = np.array(rs)
            cells.append(f"{r[:, 0].mean():.2f} / {r[:, 1].mean():.1f} dB")
        print(f"| {px} | {d} | {kind} | " + " | ".join(cells) + " |", flush=True)
    print()
    print("| focal-shift model of the simulator | defocus given as | scale (large cell, noise-free, reg 0) |")
    print("|---|---|---|")
    for model, mode in (("channel", "per channel"), ("wavelength", "per channel"), ("wavelength", "at centre wavelengths")):
        s = dp.simulate.rgb_brightfield(big_cell(128), pixel_size=0.2, defocus=(-2, 0, 2), photons=None,
                                        defocus_model=model)
        r = dp.reconstruct(s.image, "tie", defocus=(-2, 0, 2), pixel_size=0.2, regularization=0.0, focal_shift=mode)
        print(f"| {model} | {mode} | {mass_ratio(r.phase, s.phase, 0.2):.3f} |")


if __name__ == "__main__":
    main()
