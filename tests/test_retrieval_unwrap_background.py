"""Unwrapping (scikit-image and least squares) and background flattening / sign choice."""
import numpy as np
import pytest

from napari_diffpr.errors import ParameterError
from napari_diffpr.retrieval.background import choose_sign, fit_background
from napari_diffpr.retrieval.unwrap import unwrap, unwrap_lsq, wrap
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
