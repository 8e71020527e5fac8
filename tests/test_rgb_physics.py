"""Issue 8: TIE defaults, the per-sample RGB simulator, physics-normalised RGB features and
Zero-Mean Diffusion (tiny random networks here; the shipped weights in test_rgb_shipped.py)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_diffpr as dp  # noqa: E402
from napari_diffpr.models.rgb_inputs import CHANNELS, RGB_PHYSICS_INPUT, physics_features  # noqa: E402
from napari_diffpr.optics import rgb_random  # noqa: E402
from napari_diffpr.retrieval.tie import effective_defocus  # noqa: E402


def _mass(est, truth):
    from scipy import ndimage as ndi

    mask = ndi.binary_dilation(truth > 0.05 * truth.max(), iterations=5)
    return float((est[mask] - np.median(est[~mask])).sum() / truth[mask].sum())


def _big_cell(size=128):
    y, x = np.mgrid[:size, :size]
    r = np.hypot(y - size / 2, x - size / 2) / (size * 0.3)
    return (3.0 * np.sqrt(np.clip(1 - r ** 2, 0, None))).astype(np.float32)


# ------------------------------------------------------------------------------------- TIE
def test_tie_default_keeps_a_large_cell_the_old_default_flattened_it():
    ph = _big_cell()
    s = dp.simulate.rgb_brightfield(ph, pixel_size=0.2, defocus=(-1.5, 0, 1.5), photons=5000.0, seed=3)
    new = dp.reconstruct(s.image, "tie", pixel_size=0.2).phase
    old = dp.reconstruct(s.image, "tie", pixel_size=0.2, regularization=1.0).phase
    assert _mass(old, s.phase) < 0.7          # the old default lost > 30 % of this cell's phase
    assert 0.88 < _mass(new, s.phase) < 1.05


def test_tie_effective_defocus_fixes_the_polychromatic_scale():
    ph = _big_cell()
    dz = (-2.0, 0.0, 2.0)
    s = dp.simulate.rgb_brightfield(ph, pixel_size=0.2, defocus=dz, photons=None, defocus_model="wavelength")
    nominal = dp.reconstruct(s.image, "tie", defocus=dz, pixel_size=0.2, regularization=0.0).phase
    eff = dp.reconstruct(s.image, "tie", defocus=dz, pixel_size=0.2, regularization=0.0,
                         focal_shift="at centre wavelengths").phase
    assert _mass(nominal, s.phase) < 0.93     # nominal centre-wavelength defocus: ~11 % too small
    assert abs(_mass(eff, s.phase) - 1) < 0.03
    z = effective_defocus((0.63, 0.55, 0.45), dz)
    assert abs(z[0]) < 2.0 and abs(z[2]) < 2.0   # the band truncates red and blue responses
    # a linear focal shift with symmetric, untruncated responses changes nothing
    z_lin = effective_defocus((0.6, 0.55, 0.5), (-1.0, 0.0, 1.0), channel_sigma_um=0.01)
    np.testing.assert_allclose(z_lin, (-1.0, 0.0, 1.0), atol=1e-3)


# ------------------------------------------------------------------------------------- simulator
def test_rgb_random_draws_a_microscope_per_sample_and_is_seeded():
    opts = [rgb_random.draw_optics(torch.Generator().manual_seed(s)) for s in range(40)]
    orders = {np.sign(o["defocus_um"][0]) for o in opts}
    assert orders == {-1.0, 1.0}                              # both focal-shift orders
    spreads = [abs(o["defocus_um"][0]) for o in opts]
    assert min(spreads) >= 0.3 and max(spreads) <= 4.0 and max(spreads) / min(spreads) > 4
    px = [o["pixel_size_um"] for o in opts]
    assert min(px) >= 0.08 and max(px) <= 0.5 and len(set(px)) == 40
    assert {o["medium_index"] for o in opts} == {1.0, 1.33}
    assert {o["defocus_model"] for o in opts} == {"channel", "wavelength"}
    assert all(o["na_detection"] <= 0.95 * o["medium_index"] + 1e-9 for o in opts)
    a = rgb_random.sample(64, torch.Generator().manual_seed(5))
    b = rgb_random.sample(64, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    c = rgb_random.sample(64, torch.Generator().manual_seed(6))
    assert not torch.equal(a[0], c[0])


def test_source_sum_rendering_takes_the_directions_an_open_condenser_needs(monkeypatch):
    # training's --source-sum pools: 19 directions are ~50 % of the image contrast off the continuum
    # where the condenser nearly fills the objective (NA 0.5/0.55); the rendering takes more there
    from napari_diffpr.optics.brightfield import source_sum_error

    o = dict(rgb_random.draw_optics(torch.Generator().manual_seed(1)), na_detection=0.55, medium_index=1.33)
    assert rgb_random.source_directions(dict(o, na_illumination=0.2)) == rgb_random.SOURCE_POINTS
    o = dict(o, na_illumination=0.5)
    n = rgb_random.source_directions(o)
    assert n > 100 and source_sum_error(0.5, 0.55, n) <= rgb_random.SOURCE_TOLERANCE
    ph = rgb_random.phantom("hela", 48, o["pixel_size_um"], torch.Generator().manual_seed(3))
    shipped = rgb_random.render(ph, o, None, noise=False, illumination="sources")
    images = {}
    for k in (19, 301):
        monkeypatch.setattr(rgb_random, "source_directions", lambda _o, k=k: k)
        images[k] = rgb_random.render(ph, o, None, noise=False, illumination="sources")
    contrast = float((images[301] - 1).norm())
    assert float((shipped - images[301]).norm()) < 0.5 * float((images[19] - images[301]).norm())
    assert float((images[19] - images[301]).norm()) > 0.1 * contrast     # 19 are far off here
    drawn = rgb_random.sample(32, torch.Generator().manual_seed(5), noise=False, illumination="sources")[2]
    assert drawn["n_sources"] == rgb_random.source_directions(drawn)


def test_held_out_family_is_never_drawn_for_training():
    assert rgb_random.HELD_OUT_KIND not in rgb_random.RGB_WIDE["kinds"]
    kinds = {rgb_random.sample(32, torch.Generator().manual_seed(s))[2]["kind"] for s in range(30)}
    assert rgb_random.HELD_OUT_KIND not in kinds and "rbc" in kinds


@pytest.mark.parametrize("kind", ["bcell", "hela", "rbc", "beads"])
def test_rgb_phantoms_have_a_physical_cell_size_at_any_pixel_and_frame_size(kind):
    """A cell is the same number of µm² whether the camera has 0.1 or 0.3 µm pixels and whether
    the frame is 128² or 256² (before 2026-12-05 it was the same number of *pixels*, and twice as
    large at 256²); a larger field of view holds more cells."""
    from scipy import ndimage as ndi

    def stats(size, px):
        areas, counts = [], []
        for s in range(8):
            ph = rgb_random.phantom(kind, size, px, torch.Generator().manual_seed(s))[0, 0].numpy()
            lab, n = ndi.label(ph > 0.05 * ph.max())
            counts.append(n)
            areas.extend((np.bincount(lab.ravel())[1:] * px * px).tolist())
        return float(np.median(areas)), float(np.mean(counts))

    (a_fine, n_fine), (a_coarse, n_coarse) = stats(128, 0.1), stats(128, 0.3)
    (a_128, n_128), (a_256, n_256) = stats(128, 0.2), stats(256, 0.2)
    assert 0.5 < a_coarse / a_fine < 2.0      # the frame-relative phantom gave 9x
    assert 0.6 < a_256 / a_128 < 1.6          # the frame-relative phantom gave 4x
    assert n_coarse > 2 * n_fine and n_256 > 2 * n_128


def test_red_cells_are_biconcave():
    ph = rgb_random.red_cells(128, 0.1, torch.Generator().manual_seed(0), 0.55)[0, 0].numpy()
    assert ph.max() > 0.5 and ph.min() == 0
    # one disc alone: the rim is higher than the centre (the dimple)
    g = torch.Generator().manual_seed(1)
    while True:
        state = g.get_state()
        if int(torch.randint(1, 7, (), generator=g)) == 1:
            break
    g.set_state(state)
    one = rgb_random.red_cells(128, 0.1, g, 0.55)[0, 0].numpy()
    yy, xx = np.nonzero(one)
    cy, cx = int(yy.mean()), int(xx.mean())
    assert one[cy, cx] < 0.8 * one.max()


# ------------------------------------------------------------------------------------- features
def test_features_do_not_depend_on_the_focal_shift_order():
    # achromatic channels: reversing the focal shift (and saying so) gives the same features
    ph = dp.simulate.phantom((96, 96), "hela", seed=2)
    wls = (0.55, 0.55, 0.55)
    normal = dp.simulate.rgb_brightfield(ph, defocus=(-1.5, 0, 1.5), photons=None, wavelengths=wls)
    rev = dp.simulate.rgb_brightfield(ph, defocus=(1.5, 0, -1.5), photons=None, wavelengths=wls)
    assert np.abs(normal.image - rev.image).max() > 0.05      # red and blue swapped their roles
    fn = physics_features(normal.image, {"defocus_um": (-1.5, 0, 1.5), "wavelengths_um": wls})
    fr = physics_features(rev.image, {"defocus_um": (1.5, 0, -1.5), "wavelengths_um": wls})
    assert fn.shape == (CHANNELS, 96, 96)
    np.testing.assert_allclose(fn, fr, atol=1e-4)
    # with the wrong (unreversed) optics the TIE channel flips sign
    wrong = physics_features(rev.image, {"defocus_um": (-1.5, 0, 1.5), "wavelengths_um": wls})
    assert np.corrcoef(fn[0].ravel(), wrong[0].ravel())[0, 1] < -0.99


def test_chromatic_features_carry_the_focal_shift_order():
    ph = dp.simulate.phantom((64, 64), "hela", seed=2)
    img = dp.simulate.rgb_brightfield(ph, photons=None).image
    normal = physics_features(img, {"defocus_um": (-1.5, 0, 1.5)})
    rev = physics_features(img, {"defocus_um": (1.5, 0, -1.5)})
    assert normal[7, 0, 0] == pytest.approx(-1, abs=0.02) and rev[7, 0, 0] == pytest.approx(1, abs=0.02)
    flat = physics_features(img, {"defocus_um": (-1.5, 0, 1.5), "wavelengths_um": (0.55, 0.55, 0.55)})
    assert flat[7, 0, 0] == 0


# ------------------------------------------------------------------------------------- ZMD
def _tiny_zmd():
    from napari_diffpr.models.schedule import VPSchedule
    from napari_diffpr.models.zmd import ZMD, ZMDPipeline

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ZMD(in_channels=CHANNELS, base_channels=8, diffusion_base_channels=8)
        for conv in (model.denoiser.out_conv, model.mean.head):   # zero-initialised heads: make them act
            torch.nn.init.normal_(conv.weight, std=0.05)
    cfg = {"input": RGB_PHYSICS_INPUT, "schedule": VPSchedule().config(), "residual_scale_rad": 0.3}
    return ZMDPipeline(model.eval(), cfg, "cpu", name="tiny")


def _drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_zmd_is_seeded_and_its_std_layer_is_finite():
    pipe = _tiny_zmd()
    img = dp.simulate.sample("rgb", size=48, seed=1)["measurement"]
    a, _ = _drain(pipe.run(img, seed=3, steps=4))
    b, _ = _drain(pipe.run(img, seed=3, steps=4))
    c, _ = _drain(pipe.run(img, seed=4, steps=4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    extras: dict = {}
    m, meta = _drain(pipe.run(img, seed=3, steps=4, samples=3, extras=extras))
    assert m.shape == img.shape[:2] and extras["uncertainty"].shape == m.shape
    assert np.isfinite(extras["uncertainty"]).all() and extras["uncertainty"].max() > 0
    np.testing.assert_allclose(m, extras["samples"].mean(axis=0), atol=1e-5)
    assert meta["network_evaluations"] == 1 + 3 * 4


def test_zmd_uses_at_most_ten_denoiser_calls_and_the_mean_is_its_mean_network():
    pipe = _tiny_zmd()
    img = dp.simulate.sample("rgb", size=48, seed=2)["measurement"]
    calls = []
    handle = pipe.model.denoiser.register_forward_hook(lambda *a: calls.append(1))
    try:
        _drain(pipe.run(img, samples=4))
    finally:
        handle.remove()
    assert len(calls) == 10           # default 10 steps, the 4 samples in one batch
    mu, meta = _drain(pipe.run(img, mean_only=True))
    from napari_diffpr.models import inputs
    x, crop = inputs.prepare_input(img, "rgb", None, pipe.config)
    with torch.no_grad():
        direct = inputs.network_to_phase(pipe.model.mean(x), pipe.config)[0, 0, :48, :48].numpy()
    np.testing.assert_allclose(mu, direct, atol=1e-5)
    assert meta["refinement"].startswith("none")


# ------------------------------------------------------------------------------------- guidance
def test_forward_model_guidance_moves_an_estimate_toward_the_measurement():
    from scipy import ndimage as ndi

    from napari_diffpr.models.rgb_guidance import rgb_forward_guide

    ph = dp.simulate.phantom((64, 64), "hela", seed=1)
    s = dp.simulate.rgb_brightfield(ph, photons=5000.0, n_wavelengths=24)
    start = ndi.gaussian_filter(ph, 2.0)            # a blurred estimate: the detail is missing
    stats: dict = {}
    guide = rgb_forward_guide(s.image, {"defocus_um": (-1.5, 0, 1.5)}, lambda x: x, 1.0, "cpu", stats)
    x = torch.from_numpy(start)[None, None]
    for _ in range(4):
        x = guide(x, 1.0, 0.0)
    est = x[0, 0].numpy()

    def rms(a):
        return float(np.sqrt(np.mean((a - a.mean()) ** 2)))
    assert rms(est - ph) < 0.65 * rms(start - ph)
    assert stats["relative_residual"][-1] < 0.4 * stats["relative_residual"][0]
    off = rgb_forward_guide(s.image, {"defocus_um": (-1.5, 0, 1.5)}, lambda x: x, 0.0)
    y = torch.from_numpy(start)[None, None]
    assert off(y, 1.0, 0.0) is y                     # guidance 0: the unguided sampler
