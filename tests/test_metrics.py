"""compare() / abs_error(): the paper's [0, 1] convention, known-noise PSNR, masks, bad input."""
import numpy as np
import pytest

from napari_diffpr.errors import InputError, ParameterError
from napari_diffpr.metrics import METRIC_NAMES, abs_error, compare, high_frequency_error, rescale_to_reference
from napari_diffpr.result import Result


def _phantom(size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cell = 3.0 * np.clip(1 - ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (size / 3) ** 2, 0, None)
    return (cell + 0.2 * rng.standard_normal((size, size))).astype(np.float32)


def test_identical_maps_are_perfect():
    ref = _phantom()
    m = compare(ref.copy(), ref)
    assert set(m) == set(METRIC_NAMES)
    assert m["psnr"] == float("inf")
    assert m["ssim"] == pytest.approx(1.0)
    assert m["mae"] == 0.0
    assert m["hf_error"] == 0.0


def test_known_noise_gives_expected_psnr_and_mae():
    ref = _phantom(128)
    span = float(ref.max() - ref.min())
    sigma01 = 0.01  # noise std in [0, 1]-rescaled units
    noise = np.random.default_rng(1).standard_normal(ref.shape) * sigma01 * span
    m = compare(ref + noise, ref)
    # PSNR = 10 log10(1 / sigma^2) = 40 dB for sigma = 0.01 on the [0, 1] scale
    assert m["psnr"] == pytest.approx(40.0, abs=0.3)
    # E|N(0, s)| = s sqrt(2/pi)
    assert m["mae"] == pytest.approx(sigma01 * np.sqrt(2 / np.pi), rel=0.05)
    assert 0 < m["ssim"] < 1


def test_scaling_uses_the_reference_range_for_both_maps():
    ref = _phantom()
    # A result with twice the reference's phase amplitude must not look perfect: the reference's
    # min/max define the map, the result is not rescaled on its own.
    doubled = 2 * (ref - ref.min()) + ref.min()
    m = compare(doubled, ref)
    assert m["psnr"] < 20
    res01, ref01 = rescale_to_reference(doubled, ref)
    assert ref01.min() == pytest.approx(0.0) and ref01.max() == pytest.approx(1.0)
    assert res01.max() == pytest.approx(2.0, rel=1e-6)
    # An offset in radians becomes offset / span in MAE.
    span = float(ref.max() - ref.min())
    assert compare(ref + 0.5, ref)["mae"] == pytest.approx(0.5 / span, rel=1e-5)
    # data_range overrides the span.
    assert compare(ref + 0.5, ref, data_range=5.0)["mae"] == pytest.approx(0.1, rel=1e-5)


def test_accepts_result_objects_and_does_not_modify_inputs():
    ref = _phantom()
    arr = ref + 0.1
    before_ref, before_arr = ref.copy(), arr.copy()
    res = Result(phase=arr, metadata={"method": "x"})
    assert compare(res, ref) == compare(arr, ref)
    assert compare(res, Result(phase=ref)) == compare(arr, ref)
    np.testing.assert_array_equal(ref, before_ref)
    np.testing.assert_array_equal(arr, before_arr)


def test_hf_error_counts_fine_detail_only():
    from scipy.ndimage import gaussian_filter

    ref = _phantom(128)
    span = float(ref.max() - ref.min())
    # a constant offset or a tilt has no fine detail
    yy, xx = np.mgrid[:128, :128]
    assert compare(ref + 0.7, ref)["hf_error"] < 1e-6
    tilt = compare(ref + 0.01 * xx + 0.005 * yy, ref)
    assert tilt["hf_error"] < 0.01 * tilt["mae"]
    # white noise of std s (on the [0, 1] scale): the share above the cutoff, s * sqrt(1 - pi fc^2)
    s = 0.02
    noise = np.random.default_rng(2).standard_normal(ref.shape) * s * span
    for fc in (0.1, 0.3):
        expected = s * np.sqrt(1 - np.pi * fc ** 2)
        assert compare(ref + noise, ref, hf_cutoff=fc)["hf_error"] == pytest.approx(expected, rel=0.05)
    # smoothing loses the reference's fine texture: the error is that texture
    smooth = gaussian_filter(ref, 3)
    r01, g01 = rescale_to_reference(smooth, ref)
    texture = high_frequency_error(np.zeros_like(g01), g01 - gaussian_filter(g01, 3))
    assert compare(smooth, ref)["hf_error"] == pytest.approx(texture, rel=0.1)
    assert compare(smooth, ref)["hf_error"] > 5 * compare(ref + 0.7, ref)["hf_error"] + 0.01


def test_mask_restricts_scoring():
    ref = _phantom()
    res = ref.copy()
    res[:, :16] += 5.0  # damage only the left strip
    mask = np.zeros(ref.shape, bool)
    mask[:, 32:] = True
    assert compare(res, ref, mask=mask)["mae"] == 0.0
    assert compare(res, ref)["mae"] > 0.1
    with pytest.raises(InputError, match="mask"):
        compare(res, ref, mask=np.zeros((10, 10), bool))
    with pytest.raises(InputError, match="no pixels"):
        compare(res, ref, mask=np.zeros(ref.shape, bool))


def test_stacks_average_per_frame():
    a, b = _phantom(seed=0), _phantom(seed=1)
    ref = np.stack([a, b])
    res = np.stack([a, b + 0.3])
    m = compare(res, ref)
    m1 = compare(b + 0.3, b)
    assert m["mae"] == pytest.approx(m1["mae"] / 2)
    assert m["psnr"] == float("inf")  # mean with an identical frame


def test_bad_input_is_explained():
    ref = _phantom()
    with pytest.raises(InputError, match=r"shape \(64, 64\).*\(32, 32\)"):
        compare(ref, ref[:32, :32])
    with pytest.raises(InputError, match="constant"):
        compare(ref, np.ones_like(ref))
    bad = ref.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        compare(bad, ref)
    with pytest.raises(InputError, match="2-D"):
        compare(ref.ravel(), ref.ravel())
    with pytest.raises(ParameterError, match="data_range"):
        compare(ref, ref, data_range=-1)
    with pytest.raises(ParameterError, match="hf_cutoff"):
        compare(ref, ref, hf_cutoff=0)


def test_abs_error_in_radians():
    ref = _phantom()
    err = abs_error(ref - 0.25, ref)
    assert err.dtype == np.float32 and err.shape == ref.shape
    np.testing.assert_allclose(err, 0.25, atol=1e-6)
    with pytest.raises(InputError, match="shape"):
        abs_error(ref[:10], ref)
