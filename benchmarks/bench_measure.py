"""The numbers quoted in docs/measure.md, from the same configurations as the tests:
per-cell dry mass against analytic truth (in focus; 5 µm out of focus with and without
autofocus), the DryMass cross-check, compensation without a background hologram, and the
measured HL60 hologram with and without autofocus.

    python benchmarks/bench_measure.py        (run from the repository root)
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import napari_diffpr as dp  # noqa: E402
from napari_diffpr.measure import measure  # noqa: E402
from napari_diffpr.optics.cells import defocused_hologram  # noqa: E402

from cell_scenes import N_MEDIUM, PX_UM, WL_UM, match, scene  # noqa: E402

OPTICS = dict(wavelength=WL_UM, pixel_size=PX_UM, medium_index=N_MEDIUM)


def errors(table, truth):
    return [100 * (table.loc[r, "dry_mass_pg"] / m - 1) for (r, _), (_, _, m) in zip(match(table, truth), truth)]


def fmt(errs):
    return " ".join(f"{e:+.2f}%" for e in errs)


def main():
    warnings.filterwarnings("ignore")
    phase, truth = scene()
    print("truth dry mass (pg):", " ".join(f"{m:.2f}" for _, _, m in truth))
    for d, refocus in ((0.0, None), (5.0, "auto"), (-5.0, "auto"), (5.0, None), (-5.0, None)):
        s = defocused_hologram(phase, d, wavelength_um=WL_UM, pixel_size_um=PX_UM, medium_index=N_MEDIUM, seed=11)
        res = dp.reconstruct(s.hologram, "fourier", background=s.background, refocus=refocus, **OPTICS)
        t = measure(res)
        print(f"recorded at {d:+.0f} µm, refocus={refocus} (found {res.metadata.get('refocus_um')}): "
              f"{len(t)} cells, errors {fmt(errors(t, truth))}")
        if d == 0.0:
            in_focus = res
    try:
        from drymass.anasphere import relative_dry_mass
    except ImportError:
        print("DryMass not installed: cross-check skipped")
    else:
        class Q:
            pha, shape = in_focus.phase.astype(float), in_focus.phase.shape

            def __getitem__(self, k):
                return {"wavelength": WL_UM * 1e-6, "pixel size": PX_UM * 1e-6}[k]
        far = [t for i, t in enumerate(truth) if i not in (2, 3)]
        auto = measure(in_focus)
        for ((cy, cx), r, m), (row, _) in zip(far, match(auto, far)):
            theirs = relative_dry_mass(Q(), r * 1e-6, (cy / PX_UM, cx / PX_UM), alpha=0.18, rad_fact=1.2) * 1e12
            yy, xx = np.indices(in_focus.phase.shape)
            disk = ((yy - cy / PX_UM) ** 2 + (xx - cx / PX_UM) ** 2 < (r / PX_UM * 1.2) ** 2).astype(int)
            ours_disk = measure(in_focus, disk, background="none").dry_mass_pg[0]
            print(f"DryMass cell r={r}: DryMass {theirs:.3f} pg, ours same disk {ours_disk:.3f} pg "
                  f"({100 * (ours_disk / theirs - 1):+.4f}%), ours default labels {auto.loc[row, 'dry_mass_pg']:.3f} pg "
                  f"({100 * (auto.loc[row, 'dry_mass_pg'] / theirs - 1):+.2f}%), truth {m:.3f}")
    # autofocus and refocused phase PSNR (tests/test_refocus.py: unclipped camera)
    def recording(d):
        s = defocused_hologram(phase, d, wavelength_um=WL_UM, pixel_size_um=PX_UM, medium_index=N_MEDIUM,
                               seed=7, bit_depth=None)
        return s.hologram, s.background
    h0, b0 = recording(0.0)
    psnr0 = dp.compare(dp.reconstruct(h0, "fourier", background=b0), phase)["psnr"]
    print(f"in-focus recording: PSNR {psnr0:.2f} dB")
    for d in (-20.0, -12.0, -5.0, -2.0, 2.0, 5.0, 12.0, 20.0):
        h, b = recording(d)
        r = dp.reconstruct(h, "fourier", background=b, refocus="auto", **OPTICS)
        plain = dp.compare(dp.reconstruct(h, "fourier", background=b), phase)["psnr"]
        print(f"recorded at {d:+.0f} µm: autofocus {r.metadata['refocus_um']:+.3f} µm (error "
              f"{r.metadata['refocus_um'] + d:+.3f}), PSNR {dp.compare(r, phase)['psnr']:.2f} dB "
              f"({dp.compare(r, phase)['psnr'] - psnr0:+.2f} vs in focus; not refocused {plain:.2f} dB), "
              f"{r.metadata['timings']['refocus_s']:.2f} s")
    # compensation (tests/test_compensate.py)
    from scipy.ndimage import binary_dilation

    from napari_diffpr.retrieval.compensate import compensate
    far = ~binary_dilation(phase > 1e-3, iterations=10)
    far[:10] = far[-10:] = far[:, :10] = far[:, -10:] = False
    s = dp.simulate.hologram(phase, reference_aberration=8.0, seed=3, pixel_size_um=PX_UM, wavelength_um=WL_UM)
    ref = dp.reconstruct(s.hologram, "fourier", background=s.background).phase[far].std()
    raw = dp.reconstruct(s.hologram, "fourier", background_fit="none")
    poly2 = dp.reconstruct(s.hologram, "fourier", background_fit="poly2").phase[far].std()
    plane = dp.reconstruct(s.hologram, "fourier", background_fit="plane").phase[far].std()
    zern = compensate(raw, order=2).phase[far].std()
    print(f"compensation: background std {ref:.4f} rad dividing by the true background; without it: "
          f"poly2 {poly2:.4f} ({poly2 / ref:.2f}x), zernike-2 {zern:.4f} ({zern / ref:.2f}x), plane {plane:.4f}, "
          f"none {raw.phase[far].std():.4f}")
    # HL60
    data = Path(ROOT.parent / "shared" / "data" / "hl60_hologram.npz")
    if data.exists():
        d = np.load(data)
        for refocus, metric in ((None, "tamura"), ("auto", "tamura"), ("auto", "variance"), ("auto", "gradient")):
            r = dp.reconstruct(d["data"], "fourier", background=d["bg_data"], wavelength=0.633, pixel_size=0.1,
                               medium_index=1.335, refocus=refocus, focus_metric=metric)
            t = measure(r)
            c = t.loc[t.area_um2.idxmax()]
            print(f"HL60 (λ 0.633 µm, pixel 0.1 µm assumed) refocus={refocus} {metric if refocus else ''}: "
                  f"distance {r.metadata.get('refocus_um')}, {len(t)} cell(s), area {c.area_um2:.1f} µm², "
                  f"dry mass {c.dry_mass_pg:.1f} pg, touches edge {bool(c.touches_edge)}")


def qpformat_cell():
    """The qpformat raw-OAH cell: the file states λ, pixel size and medium index."""
    path = ROOT.parent / "shared" / "data" / "cell_hologram_oah.h5"
    try:
        items = dp.read(path)
    except Exception as exc:  # no h5py, or no data
        print(f"qpformat cell skipped: {exc}")
        return
    holo = next(i for i in items if i.kind == "hologram")
    md = holo.metadata
    for refocus in (None, "auto"):
        r = dp.reconstruct(holo.data, "fourier", wavelength=md["wavelength_um"], pixel_size=md["pixel_size_um"],
                           medium_index=md.get("medium_index", 1.333), refocus=refocus)
        t = measure(r)
        c = t.loc[t.area_um2.idxmax()]
        print(f"qpformat cell (λ {md['wavelength_um']} µm, pixel {md['pixel_size_um']:.5f} µm from the file, no "
              f"background hologram) refocus={refocus}: distance {r.metadata.get('refocus_um')}, {len(t)} cell(s), "
              f"area {c.area_um2:.1f} µm², dry mass {c.dry_mass_pg:.1f} pg, touches edge {bool(c.touches_edge)}")


if __name__ == "__main__":
    qpformat_cell()
    main()
