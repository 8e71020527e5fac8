"""Unwrapping (scikit-image and least squares) and background flattening / sign choice."""
import numpy as np
import pytest

from napari_diffpr.errors import ParameterError
from napari_diffpr.retrieval.background import choose_sign, fit_background
from napari_diffpr.retrieval.unwrap import guide_step, unwrap, unwrap_lsq, unwrap_skimage, wrap
from retrieval_helpers import bump_phase, rms


def _steep_phase(shape=(96, 110)):
    h, w = shape
    y, x = np.mgrid[:h, :w]
    return (bump_phase(shape, height=25.0, sigma=18) + 0.08 * x - 0.05 * y).astype(np.float32)


@pytest.mark.parametrize("method", ["skimage", "lsq"])
def test_unwrap_recovers_many_wraps(method):
    truth = _steep_phase()
    got = unwrap(wrap(truth), method)
    d = got - truth
    # unwrapping is exact up to one global multiple of 2 pi
    assert rms(d - d.mean()) < 1e-3
    assert abs(d.mean() / (2 * np.pi) - round(d.mean() / (2 * np.pi))) < 1e-3


def test_lsq_result_is_congruent_with_the_wrapped_phase():
    rng = np.random.default_rng(0)
    truth = _steep_phase() + rng.normal(0, 0.3, (96, 110)).astype(np.float32)
    wrapped = wrap(truth)
    got = unwrap_lsq(wrapped)
    np.testing.assert_allclose(wrap(got), wrapped, atol=1e-4)
    raw = unwrap_lsq(wrapped, congruent=False)
    assert rms(raw - truth - np.mean(raw - truth)) < 0.5  # smooth estimate, noise spread out


def test_wrap_range_and_none_passthrough():
    x = np.linspace(-20, 20, 1001, dtype=np.float32)
    w = wrap(x)
    assert w.min() >= -np.pi - 1e-6 and w.max() <= np.pi + 1e-6
    np.testing.assert_allclose(np.exp(1j * w), np.exp(1j * x), atol=1e-4)
    np.testing.assert_array_equal(unwrap(w[None], "none"), w[None])
    with pytest.raises(ParameterError, match="unwrap"):
        unwrap(w[None], "quality-guided")


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_polynomial_background_removed_around_a_cell(order):
    h, w = 80, 90
    y, x = np.mgrid[:h, :w]
    yy, xx = (y - h / 2) / (h / 2), (x - w / 2) / (w / 2)
    surface = 0.3 + [0, 1, 1, 1][order] * (0.8 * xx - 0.5 * yy) + (order >= 2) * 0.6 * xx * yy \
        + (order >= 3) * 0.4 * xx ** 3
    cell = bump_phase((h, w), height=4.0, sigma=7)
    got, mask = fit_background(surface + cell, order, mask="auto")
    np.testing.assert_allclose(got, surface, atol=0.02)
    assert not mask[int(h * 0.45), int(w * 0.55)]  # the cell centre is not background
    assert mask.mean() > 0.7


def test_unmasked_fit_is_pulled_by_the_cell_and_explicit_mask_is_used():
    cell = bump_phase((80, 90), height=4.0, sigma=12)
    biased, _ = fit_background(cell, 0, mask=None)
    assert biased.mean() > 0.1  # the cell lifts a plain fit
    mask = cell < 0.01
    clean, used = fit_background(cell, 1, mask=mask)
    assert np.abs(clean).max() < 0.01 and used is mask
    with pytest.raises(ParameterError, match="shape"):
        fit_background(cell, 1, mask=mask[:10])
    with pytest.raises(ParameterError, match="too few"):
        fit_background(cell, 1, mask=np.zeros_like(mask))
    with pytest.raises(ParameterError, match="order"):
        fit_background(cell, 5)


def test_choose_sign():
    cell = bump_phase((64, 64), height=2.0, sigma=6)
    assert choose_sign(cell) == 1
    assert choose_sign(-cell) == -1
    assert choose_sign(-cell + 5.0) == -1  # an offset does not matter
    assert choose_sign(np.zeros((64, 64))) == 1


def test_subsampled_skimage_unwrap_equals_the_full_resolution_one():
    rng = np.random.default_rng(1)
    truth = _steep_phase((160, 176)) + rng.normal(0, 0.1, (160, 176)).astype(np.float32)
    wrapped = wrap(truth)
    full = unwrap_skimage(wrapped, step=1)
    for step in (2, 3):
        coarse = unwrap_skimage(wrapped, step=step)
        d = coarse - full
        assert np.allclose(d, d.flat[0], atol=1e-4), step  # identical up to one 2 pi offset
    assert guide_step(0.125) == 2 and guide_step(0.05) == 6 and guide_step(0.4) == 1


def test_fourier_with_subsampled_unwrap_matches_full_resolution():
    import napari_diffpr as nd
    from retrieval_helpers import off_axis

    # 8 rad (1.3 wraps), steepest 0.04 cycles/px: inside the filter's band of 0.064
    truth = bump_phase((128, 144), height=8.0, sigma=20)
    holo, bg = off_axis(truth, (0.1, 0.08))  # slow carrier: small filter, coarse unwrap grid
    res = nd.reconstruct(holo, "fourier", background=bg)
    assert res.metadata["unwrap_grid_step"] >= 2
    d = res.phase - truth
    assert rms(d - np.median(d)) < 0.03
    wrapped = nd.reconstruct(holo, "fourier", background=bg, unwrap="none", background_fit="none").phase
    full = unwrap_skimage(wrapped, step=1)
    full_rms = min(rms(x - truth - np.median(x - truth)) for x in (full, -full))
    assert rms(d - np.median(d)) < full_rms + 0.005  # as good as unwrapping every pixel


def test_coarse_guide_is_upsampled_without_huge_temporaries():
    """A large subsampling step must not make step x step copies of each coarse pixel."""
    import tracemalloc

    from napari_diffpr.retrieval.unwrap import unwrap_skimage

    wrapped = np.zeros((256, 256), np.float32)
    tracemalloc.start()
    try:
        out = unwrap_skimage(wrapped, step=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (256, 256)
    assert peak < 20e6, f"{peak / 1e6:.0f} MB"  # repeating first needed 4096² x 4 B = 67 MB
