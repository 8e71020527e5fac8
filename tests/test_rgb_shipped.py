"""Issue 8 with the shipped physics-aware RGB weights: a reversed chromatic focal shift gives the
same phase, ZMD against its own mean network, seeded ZMD, the std layer (small images; skipped
when the weights are not installed)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_diffpr as dp  # noqa: E402
from napari_diffpr.models import weights  # noqa: E402
from napari_diffpr.models.rgb_inputs import RGB_PHYSICS_INPUT  # noqa: E402
from napari_diffpr.optics import rgb_random  # noqa: E402


def _physics(name):
    try:
        return weights.read_config(weights.weight_path(name)).get("input") == RGB_PHYSICS_INPUT
    except Exception:  # noqa: BLE001 - not installed
        return False


needs_reduced = pytest.mark.skipif(not _physics("reduced-unet-rgb"), reason="physics reduced-unet-rgb not installed")
needs_zmd = pytest.mark.skipif(not _physics("zmd-rgb"), reason="zmd-rgb weights not installed")


def _window_pair(seed=0, size=96, noise_seed=0, exact=False):
    """``_pair`` as a camera sees it: the centre of a field twice as wide (cells cut by the frame
    edge, no wrap-around of the simulator's periodic propagation)."""
    truth, imgs = _pair(seed=seed, size=2 * size, noise_seed=noise_seed, exact=exact)
    c = slice(size // 2, size // 2 + size)
    return truth[c, c], [im[c, c] for im in imgs]


def _pair(seed=0, size=96, px=0.2, d=1.5, photons=5000.0, noise_seed=0, exact=False):
    """The same cells imaged with the normal and the reversed focal-shift order. ``exact``: the
    partial coherence as the sum over 37 condenser directions and 31 wavelengths, as the RGB
    benchmarks render it (finer than the 19 directions of the consistency steps' model), instead
    of the simulator's disk blur."""
    from napari_diffpr.optics.brightfield import forward

    g = torch.Generator().manual_seed(20_000_000 + seed)
    ph = rgb_random.phantom("hela", size, px, g)
    imgs = []
    for dz in ((-d, 0.0, d), (d, 0.0, -d)):
        o = {"defocus_um": dz, "wavelengths_um": (0.63, 0.55, 0.45), "pixel_size_um": px, "medium_index": 1.33,
             "na_detection": 0.55, "na_illumination": 0.3, "channel_sigma_um": 0.05, "defocus_model": "channel",
             "photons": photons, "read_noise": 2.0}
        noise = torch.Generator().manual_seed(noise_seed)
        if exact:
            img = forward(ph.float(), pixel_size_um=px, wavelengths=o["wavelengths_um"], defocus_um=torch.tensor([dz]),
                          na_illumination=torch.tensor([0.3]), na_detection=0.55, n_medium=1.33,
                          reference_wavelength=0.55, n_wavelengths=31, photons=torch.tensor([photons]),
                          read_noise=torch.tensor([2.0]), generator=noise, illumination="sources", n_sources=37)
        else:
            img = rgb_random.render(ph, o, noise)
        imgs.append(img[0].permute(1, 2, 0).numpy())
    return ph[0, 0].numpy(), imgs


def _rms(a):
    return float(np.sqrt(np.mean((a - np.median(a)) ** 2)))


@needs_reduced
@pytest.mark.xfail(strict=True, reason="issue 8's claim does not hold for the shipped weights: the normal and "
                   "reversed images give phases 0.055 rad rms apart against 0.019 rad between two noise draws "
                   "(2.9x) - the chromatic pupil makes the two images genuinely different and 4300 CPU steps "
                   "did not learn to remove it (docs/models.md)")
def test_reversed_focal_shift_gives_the_same_phase_up_to_noise():
    truth, (normal, reversed_) = _pair()
    _, (normal2, _) = _pair(noise_seed=1)                 # another noise draw of the normal image
    kw = dict(pixel_size=0.2, device="cpu")
    a = dp.reconstruct(normal, "reduced-unet-rgb", defocus=(-1.5, 0, 1.5), **kw).phase
    b = dp.reconstruct(reversed_, "reduced-unet-rgb", defocus=(1.5, 0, -1.5), **kw).phase
    a2 = dp.reconstruct(normal2, "reduced-unet-rgb", defocus=(-1.5, 0, 1.5), **kw).phase
    assert _rms(a - b) < 1.5 * _rms(a - a2), (_rms(a - b), _rms(a - a2))


@needs_zmd
@pytest.mark.xfail(strict=True, reason="issue 8's claim does not hold in general: with the zmd-rgb weights "
                   "shipped in session 13 (fine-tuned on source-sum windows) this window is 1.86x (0.0286 rad "
                   "against 0.0154 between noise draws); over seeds 0-5 the claim holds on 2 of 6 (1.86, 3.93, "
                   "2.64, 1.44, 1.18, 1.81), as with the session-12 weights (1.28, 3.69, 2.41, 1.40, 3.11, 1.81)")
def test_reversed_focal_shift_gives_the_same_phase_up_to_noise_with_zmd():
    """With the measurement-consistency step (models/rgb_consistency.py) each result is pulled
    onto its own image through the user's optics. The window is rendered with the condenser's
    exact partial coherence (a sum over illumination directions), as a microscope forms it and as
    the RGB benchmarks render it since session 10; the steps model it too (coherence_model
    "source sum", session 11). This window held at 1.28x with the session-12 weights and fails at
    1.86x with the session-13 ones; over the windows of seeds 0-5 both hold on 2 of 6
    (benchmarks/diag_rgb_reversed.py --exact), so issue 8's claim is not met in general
    (docs/benchmarks.md)."""
    truth, (normal, reversed_) = _window_pair(exact=True)
    _, (normal2, _) = _window_pair(noise_seed=1, exact=True)
    kw = dict(pixel_size=0.2, device="cpu")
    a = dp.reconstruct(normal, "zmd", defocus=(-1.5, 0, 1.5), **kw).phase
    b = dp.reconstruct(reversed_, "zmd", defocus=(1.5, 0, -1.5), **kw).phase
    a2 = dp.reconstruct(normal2, "zmd", defocus=(-1.5, 0, 1.5), **kw).phase
    assert _rms(a - b) < 1.5 * _rms(a - a2), (_rms(a - b), _rms(a - a2))


@needs_reduced
@pytest.mark.xfail(strict=True, reason="held on the frame-relative phantoms (26.9 / 25.6 dB, wrong order 20.0); "
                   "with cells of a physical size (2026-12-05: the hela cells of this 96^2 frame grew from "
                   "15-25 to 20-33 px in radius) the reversed image scores 22.6 dB against 25.7 normal (wrong "
                   "order 19.2). Over seeds 0-5 the reversed-normal difference is -3.2 ... +2.5 dB, and on 3 of 6 "
                   "images the network fails either way (16-19 dB): reduced-unet-rgb was not retrained")
def test_reversed_focal_shift_is_handled_through_the_optics():
    """Told the order, the network should score about as well on the reversed image as on the
    normal one, and clearly better than when given the wrong order."""
    truth, (normal, reversed_) = _pair()
    kw = dict(pixel_size=0.2, device="cpu")
    a = dp.compare(dp.reconstruct(normal, "reduced-unet-rgb", defocus=(-1.5, 0, 1.5), **kw), truth)["psnr"]
    b = dp.compare(dp.reconstruct(reversed_, "reduced-unet-rgb", defocus=(1.5, 0, -1.5), **kw), truth)["psnr"]
    wrong = dp.compare(dp.reconstruct(reversed_, "reduced-unet-rgb", defocus=(-1.5, 0, 1.5), **kw), truth)["psnr"]
    assert b > a - 2.0, (a, b)          # measured 26.9 / 25.6 dB
    assert b > wrong + 4.0, (b, wrong)  # measured 25.6 / 20.0 dB


@needs_zmd
def test_zmd_against_its_mean_network_seeded_with_a_finite_std_layer():
    from napari_diffpr.models.zmd import load_zmd

    truth, (img, _) = _pair(seed=3, size=64)
    pipe = load_zmd("cpu")

    def run(**kw):
        extras: dict = {}
        gen = pipe.run(img, optics={"defocus_um": (-1.5, 0, 1.5)}, extras=extras, **kw)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return stop.value[0], extras

    mean, _ = run(mean_only=True)
    one, _ = run(seed=1)
    again, _ = run(seed=1)
    many, extras = run(seed=1, samples=8)
    np.testing.assert_array_equal(one, again)
    assert extras["uncertainty"].shape == truth.shape and np.isfinite(extras["uncertainty"]).all()
    assert 0 < float(extras["uncertainty"].mean()) < 1.0
    p_mean, p_one, p_many = (dp.compare(x, truth)["psnr"] for x in (mean, one, many))
    # measured with the shipped weights (docs/benchmarks.md): the 8-sample ZMD mean is at least as
    # good as the mean network; a single sample is within 1.5 dB of it
    assert p_many >= p_mean - 0.3, (p_many, p_mean)
    assert p_one >= p_mean - 1.5, (p_one, p_mean)
