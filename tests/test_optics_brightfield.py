"""Chromatic RGB brightfield forward model: flat field, defocus contrast sign, in-focus channel,
noise, batches, bad arguments."""
import numpy as np
import pytest
import torch

from napari_diffpr import simulate
from napari_diffpr.errors import InputError, ParameterError
from napari_diffpr.optics.brightfield import spectral_weights

SIZE = 64


def bump(height=0.5, width=4.0, size=SIZE):
    y, x = np.mgrid[:size, :size].astype(np.float32)
    return (height * np.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / (2 * width ** 2))).astype(np.float32)


def test_empty_field_is_one_in_every_channel():
    s = simulate.rgb_brightfield(np.zeros((SIZE, SIZE), np.float32), photons=None)
    assert s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.float32
    assert np.abs(s.image - 1.0).max() < 1e-5
    noisy = simulate.rgb_brightfield(np.zeros((SIZE, SIZE), np.float32), photons=5000.0, seed=1)
    assert np.allclose(noisy.image.mean(axis=(0, 1)), 1.0, atol=2e-3)
    # shot noise: relative std 1/sqrt(photons) (read noise 2 e⁻ adds a little)
    assert noisy.image.std(axis=(0, 1)) == pytest.approx(np.full(3, np.sqrt(5000 + 4) / 5000), rel=0.1)


def test_opposite_defocus_gives_opposite_contrast_and_focus_gives_little():
    s = simulate.rgb_brightfield(bump(), defocus=(-1.5, 0.0, 1.5), photons=None)
    r, g, b = (s.image[..., c] - 1.0 for c in range(3))
    assert np.corrcoef(r.ravel(), b.ravel())[0, 1] < -0.95
    assert r.std() > 1e-3 and b.std() > 1e-3
    assert g.std() < 0.1 * min(r.std(), b.std())
    # sign convention (TIE: dI/dz = -(λ/2π) ∇²φ): a positive phase bump brightens downstream
    assert b[SIZE // 2, SIZE // 2] > 0 > r[SIZE // 2, SIZE // 2]


def test_contrast_grows_with_defocus_and_flips_with_its_sign():
    base = dict(wavelengths=(0.55, 0.55, 0.55), photons=None, na_illumination=0.1)
    s = simulate.rgb_brightfield(bump(height=0.1), defocus=(1.0, 2.0, -2.0), **base)
    c1, c2, c3 = (s.image[SIZE // 2, SIZE // 2, c] - 1.0 for c in range(3))
    assert 0 < c1 < c2
    assert c3 == pytest.approx(-c2, rel=0.1)  # weak object: antisymmetric in z


def test_partially_coherent_illumination_blurs_a_defocused_image():
    kw = dict(defocus=(-3.0, 0.0, 3.0), photons=None)
    coherent = simulate.rgb_brightfield(bump(width=1.5), na_illumination=0.0, **kw).image
    partial = simulate.rgb_brightfield(bump(width=1.5), na_illumination=0.5, **kw).image
    assert (partial[..., 0] - 1).std() < 0.8 * (coherent[..., 0] - 1).std()
    assert np.allclose(partial[..., 1], coherent[..., 1], atol=1e-5)  # in focus: no blur


def test_spectral_weights_are_normalised_gaussians_around_each_channel():
    lam, w = spectral_weights((0.63, 0.55, 0.45), 31)
    assert lam[0] == pytest.approx(0.4) and lam[-1] == pytest.approx(0.7)
    assert torch.allclose(w.sum(dim=1), torch.ones(3, dtype=w.dtype))
    peaks = lam[w.argmax(dim=1)]
    assert torch.allclose(peaks, torch.tensor([0.63, 0.55, 0.45], dtype=lam.dtype), atol=0.006)


def test_seeded_and_meta_and_input_untouched():
    p = bump()
    before = p.copy()
    a = simulate.rgb_brightfield(p, seed=3, n_wavelengths=9)
    assert np.array_equal(a.image, simulate.rgb_brightfield(p, seed=3, n_wavelengths=9).image)
    assert not np.array_equal(a.image, simulate.rgb_brightfield(p, seed=4, n_wavelengths=9).image)
    assert np.array_equal(p, before) and np.array_equal(a.phase, p)
    m = a.meta
    assert m["wavelengths_um"] == (0.63, 0.55, 0.45) and m["defocus_um"] == (-1.5, 0.0, 1.5)
    assert m["pixel_size_um"] == 0.2 and m["reference_wavelength_um"] == 0.55
    assert m["n_wavelengths"] == 9 and m["na_illumination"] == 0.3 and m["seed"] == 3


def test_batch_matches_single_and_randomises():
    p = torch.from_numpy(bump())[None, None].repeat(3, 1, 1, 1)
    fixed = simulate.rgb_batch(p, randomize=False, noise=False, n_wavelengths=12)
    single = simulate.rgb_brightfield(bump(), photons=None, n_wavelengths=12).image
    assert fixed.shape == (3, 3, SIZE, SIZE) and fixed.dtype == torch.float32
    assert np.allclose(fixed[1].permute(1, 2, 0).numpy(), single, atol=1e-5)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    r1, r2 = simulate.rgb_batch(p, generator=g1), simulate.rgb_batch(p, generator=g2)
    assert torch.equal(r1, r2)
    assert not torch.equal(r1[0], r1[1])  # per-sample noise and illumination
    assert torch.allclose(r1[:, :, :4, :4].mean(), torch.tensor(1.0), atol=0.02)


@pytest.mark.parametrize("kwargs,match", [
    (dict(na_illumination=-0.1), "na_illumination"),
    (dict(na_illumination=1.4), "na_illumination"),
    (dict(na_detection=0.0), "na_detection"),
    (dict(wavelengths=(0.6, 0.5)), "wavelengths"),
    (dict(wavelengths=(0.6, -0.5, 0.45)), "wavelengths"),
    (dict(defocus=(0.0, float("nan"), 1.0)), "defocus"),
    (dict(pixel_size=0.0), "pixel_size"),
    (dict(n_wavelengths=2), "n_wavelengths"),
    (dict(photons=0.0), "photons"),
    (dict(n_medium=0.9), "n_medium"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        simulate.rgb_brightfield(bump(), **kwargs)


def test_bad_inputs():
    with pytest.raises(InputError, match="2-D"):
        simulate.rgb_brightfield(np.zeros((SIZE, SIZE, 3)))
    bad = bump()
    bad[0, 0] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        simulate.rgb_brightfield(bad)
    with pytest.raises(InputError, match=r"\(n, 1, H, W\)"):
        simulate.rgb_batch(torch.zeros(2, 3, SIZE, SIZE))


def test_focal_shift_parabola_passes_through_the_channels():
    from napari_diffpr.optics.brightfield import focal_shift

    lam = torch.tensor([0.63, 0.55, 0.45, 0.5], dtype=torch.float64)
    z = focal_shift(lam, (0.63, 0.55, 0.45), torch.tensor([[-1.5, 0.0, 1.5]]))
    assert torch.allclose(z[0, :3], torch.tensor([-1.5, 0.0, 1.5], dtype=z.dtype), atol=1e-9)
    # by hand: Lagrange parabola at 0.5 µm
    l0, l1, l2 = 0.63, 0.55, 0.45
    by_hand = (-1.5 * (0.5 - l1) * (0.5 - l2) / ((l0 - l1) * (l0 - l2))
               + 1.5 * (0.5 - l0) * (0.5 - l1) / ((l2 - l0) * (l2 - l1)))
    assert float(z[0, 3]) == pytest.approx(by_hand)


def test_wavelength_defocus_model():
    flat = simulate.rgb_brightfield(np.zeros((SIZE, SIZE), np.float32), photons=None,
                                    defocus_model="wavelength")
    assert np.abs(flat.image - 1.0).max() < 1e-5
    s = simulate.rgb_brightfield(bump(), photons=None, defocus_model="wavelength")
    c = simulate.rgb_brightfield(bump(), photons=None, defocus_model="channel")
    r, g, b = (s.image[..., i] - 1.0 for i in range(3))
    assert b[SIZE // 2, SIZE // 2] > 0 > r[SIZE // 2, SIZE // 2]
    # the green channel also sees wavelengths that are out of focus, so it has some contrast
    assert np.abs(g).max() > 3 * np.abs(c.image[..., 1] - 1.0).max()
    assert s.meta["defocus_model"] == "wavelength"
    batch = simulate.rgb_batch(torch.from_numpy(bump())[None, None], randomize=False, noise=False,
                               n_wavelengths=50, defocus_model="wavelength")
    assert np.allclose(batch[0].permute(1, 2, 0).numpy(), s.image, atol=1e-5)
    with pytest.raises(ParameterError, match="defocus_model"):
        simulate.rgb_brightfield(bump(), defocus_model="zernike")
    with pytest.raises(ParameterError, match="differ"):
        simulate.rgb_brightfield(bump(), defocus_model="wavelength", wavelengths=(0.55, 0.55, 0.45))


def _forward(phase, **kw):
    from napari_diffpr.optics.brightfield import forward

    base = dict(pixel_size_um=0.2, wavelengths=(0.63, 0.55, 0.45), defocus_um=torch.tensor([[-1.5, 0.0, 1.5]]),
                na_illumination=torch.tensor([0.3]), na_detection=0.55, n_medium=1.33, reference_wavelength=0.55,
                n_wavelengths=6, photons=None, read_noise=torch.zeros(1), generator=None)
    base.update(kw)
    return forward(torch.from_numpy(phase)[None, None], **base)


def test_source_sum_illumination_is_exact_in_its_limits():
    """illumination="sources" (Abbe): an empty field stays 1; with a point-like condenser it is the
    coherent image, as is the disk blur; the sum converges in the number of source points."""
    flat = _forward(np.zeros((SIZE, SIZE), np.float32), illumination="sources", n_sources=7)
    assert float((flat - 1).abs().max()) < 1e-5
    p = bump(height=1.0, width=2.0)
    # (pixel 0.19 µm: at 0.2 µm a grid frequency lies exactly on the red pupil's edge, and any
    # tilt moves it across)
    coherent = _forward(p, na_illumination=torch.tensor([0.0]), pixel_size_um=0.19)
    tiny = _forward(p, na_illumination=torch.tensor([1e-4]), illumination="sources", n_sources=7, pixel_size_um=0.19)
    assert float((tiny - coherent).norm()) < 1e-3 * float((coherent - 1).norm())
    few, many = (_forward(p, illumination="sources", n_sources=k) for k in (19, 61))
    assert float((few - many).norm()) < 0.05 * float((many - 1).norm())


def test_disk_blur_departs_from_the_source_sum_as_the_condenser_opens():
    """What benchmarks/diag_partial_coherence.py measures: the blur ignores that a tilted wave
    also moves the objective's pupil over the object's spectrum."""
    p = bump(height=1.0, width=2.0)

    def gap(na):
        kw = dict(na_illumination=torch.tensor([na]))
        exact = _forward(p, illumination="sources", n_sources=19, **kw)
        return float((_forward(p, **kw) - exact).norm() / (exact - 1).norm())

    small, base, wide = gap(0.1), gap(0.3), gap(0.5)
    assert small < base < wide and wide > 0.3


def test_unknown_illumination_model_is_refused():
    with pytest.raises(ParameterError, match="illumination"):
        _forward(bump(), illumination="köhler")


def test_source_points_needed_keeps_the_source_sum_near_the_continuum():
    """The error law behind source_points_needed: with the count it picks, the source sum is about
    within the tolerance of a much finer sum (the continuum's stand-in), at a well-closed and at an
    open condenser; 19 directions are fine at NA 0.3 and far off at 0.5 (its pupil edge)."""
    from napari_diffpr.optics.brightfield import source_points_needed

    p = bump(height=1.0, width=3.0)

    def error(na, n):
        kw = dict(na_illumination=torch.tensor([na]), illumination="sources")
        ref = _forward(p, n_sources=401, **kw)
        return float((_forward(p, n_sources=n, **kw) - ref).norm() / (ref - 1).norm())

    assert source_points_needed(0.3, 0.55, 0.06) == 19 and source_points_needed(0.0, 0.55, 0.06) == 19
    open_n = source_points_needed(0.5, 0.55, 0.06)
    assert 100 < open_n < source_points_needed(0.5, 0.55, 0.03) <= 301
    assert error(0.3, 19) < 0.06
    assert error(0.5, 19) > 0.2
    assert error(0.5, open_n) < 0.08
