"""Off-axis Fourier filtering against analytic holograms with a known phase."""
import math

import numpy as np
import pytest

import napari_diffpr as nd
from napari_diffpr.errors import InputError, ParameterError, RetrievalError
from napari_diffpr.retrieval.filters import FILTER_SHAPES, filter_extent, sideband_filter
from napari_diffpr.retrieval.fourier import FilterSpec, demodulate, edge_margin, filter_radius
from napari_diffpr.retrieval.sideband import Sideband
from napari_diffpr.retrieval.spectrum import HalfRows
from retrieval_helpers import bump_phase, off_axis, rms

SHAPE = (128, 144)


def _bg_free(a, b, border=0):
    """RMS difference after removing the offset (the absolute phase is not measurable),
    optionally ignoring ``border`` pixels along the edges."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if border:
        d = d[border:-border, border:-border]
    return rms(d - np.median(d))


@pytest.mark.parametrize("carrier", [(0.0, 0.23), (0.21, 0.0), (0.15, 0.17), (-0.12, 0.2),
                                     (0.17, -0.15), (0.0, -0.22)])
def test_bump_recovered_for_every_carrier_direction(carrier):
    truth = bump_phase(SHAPE, height=3.0, sigma=10)
    holo, _ = off_axis(truth, carrier)
    res = nd.reconstruct(holo, "fourier")
    assert res.phase.shape == SHAPE and res.phase.dtype == np.float32
    assert res.amplitude.shape == SHAPE
    # Fringes that do not fit the frame a whole number of times ring over the first few
    # pixels of the edges they cross (no padding, see fourier.py); the rest is exact.
    assert _bg_free(res.phase, truth, border=4) < 0.01
    assert _bg_free(res.phase, truth) < 0.06
    # with a background hologram the edge ringing cancels too
    res_bg = nd.reconstruct(holo, "fourier", background=off_axis(np.zeros(SHAPE), carrier)[0])
    assert _bg_free(res_bg.phase, truth) < 0.01
    # cells positive whatever the carrier sign
    assert res.phase.max() > 2.8 and res.phase[4:-4, 4:-4].min() > -0.05


def test_phase_beyond_2pi_is_unwrapped_by_both_unwrappers():
    truth = bump_phase(SHAPE, height=14.0, sigma=16)  # 2.2 wraps
    holo, bg = off_axis(truth, (0.2, 0.22))
    for unwrap in ("skimage", "lsq"):
        res = nd.reconstruct(holo, "fourier", background=bg, unwrap=unwrap)
        assert _bg_free(res.phase, truth) < 0.05, unwrap
    wrapped = nd.reconstruct(holo, "fourier", background=bg, unwrap="none").phase
    assert wrapped.max() <= np.pi + 1e-5 and wrapped.min() >= -np.pi - 1e-5
    assert res.phase.max() > 13


def test_phase_ramp_is_recovered_without_a_background_fit():
    h, w = SHAPE
    y, x = np.mgrid[:h, :w]
    ramp = 2 * np.pi * (0.01 * y - 0.006 * x)  # a tilted but otherwise flat object
    holo, _ = off_axis(ramp, (0.2, 0.2))
    res = nd.reconstruct(holo, "fourier", background_fit="none", sign="+1",
                         sideband=(0.2, 0.2))
    assert _bg_free(res.phase, ramp) < 0.02
    # ... and a plane fit removes exactly that tilt
    flat = nd.reconstruct(holo, "fourier", background_fit="plane", background_mask="none")
    assert rms(flat.phase) < 0.02


def test_background_hologram_removes_reference_curvature_and_gives_amplitude():
    truth = bump_phase(SHAPE, height=2.0, sigma=9)
    amp = 1.0 - 0.4 * bump_phase(SHAPE, height=1.0, sigma=6, centre=(40, 40))
    holo, bg = off_axis(truth, (0.18, -0.2), amplitude=amp, reference_curvature=4e-4)
    with_bg = nd.reconstruct(holo, "fourier", background=bg, background_fit="offset")
    without = nd.reconstruct(holo, "fourier", background_fit="offset")
    assert _bg_free(with_bg.phase, truth) < 0.03
    assert _bg_free(without.phase, truth) > 0.3  # the curved reference is still there
    # with a background the amplitude is the object's transmission
    inner = (slice(10, -10), slice(10, -10))
    assert rms((with_bg.amplitude - amp)[inner]) < 0.03
    assert with_bg.metadata["background_used"] is True


def test_sign_parameter_flips_and_auto_makes_cells_positive():
    truth = bump_phase(SHAPE, height=2.5, sigma=10)
    for carrier in [(0.2, 0.2), (-0.2, -0.2)]:
        holo, _ = off_axis(truth, carrier)
        auto = nd.reconstruct(holo, "fourier")
        plus = nd.reconstruct(holo, "fourier", sign="+1")
        minus = nd.reconstruct(holo, "fourier", sign="-1")
        np.testing.assert_allclose(plus.phase, -minus.phase, atol=1e-5)
        assert auto.phase.max() > 2.3
        assert auto.metadata["sign"] in (1, -1)
    # the two carrier signs put the object in opposite orders, so the raw signs differ
    s1 = nd.reconstruct(off_axis(truth, (0.2, 0.2))[0], "fourier").metadata["sign"]
    s2 = nd.reconstruct(off_axis(truth, (-0.2, -0.2))[0], "fourier").metadata["sign"]
    assert s1 == -s2


def test_user_sideband_in_either_half_plane_gives_the_same_phase():
    truth = bump_phase(SHAPE, height=2.0, sigma=9)
    holo, _ = off_axis(truth, (0.15, 0.2))
    a = nd.reconstruct(holo, "fourier", sideband=(0.15, 0.2), sign="+1")
    b = nd.reconstruct(holo, "fourier", sideband=(-0.15, -0.2), sign="+1")
    np.testing.assert_allclose(a.phase, -b.phase, atol=1e-4)
    assert a.metadata["sideband_detected"] is False


@pytest.mark.parametrize("shape", FILTER_SHAPES)
def test_every_filter_shape_reconstructs(shape):
    truth = bump_phase(SHAPE, height=2.0, sigma=10)
    holo, bg = off_axis(truth, (0.2, -0.18))
    res = nd.reconstruct(holo, "fourier", background=bg, filter_shape=shape)
    assert _bg_free(res.phase, truth) < 0.05
    assert res.metadata["filter_shape"] == shape


def test_filter_weights():
    d = np.linspace(-0.2, 0.2, 81)
    for shape in FILTER_SHAPES:
        w = sideband_filter(shape, d, d, 0.1)
        assert w.dtype == np.float32 and np.isclose(w.max(), 1.0) and w.min() >= 0
        assert w[40, 40] == pytest.approx(1.0)
        # practically nothing left beyond the crop extent used by demodulate
        ext = filter_extent(shape, 0.1) * 1.0001
        square = shape in ("square", "tukey")
        dist = np.maximum(np.abs(d[:, None]), np.abs(d[None, :])) if square else np.hypot(d[:, None], d[None, :])
        assert w[dist > ext].max(initial=0) < 0.005, shape
    disk = sideband_filter("disk", d, d, 0.1)
    assert disk[40, 60] == 1 and disk[40, 61] == 0  # 0.1 in, 0.105 out
    with pytest.raises(ParameterError, match="filter shape"):
        sideband_filter("hexagon", d, d, 0.1)


def test_pruned_demodulation_equals_full_inverse_fft():
    rng = np.random.default_rng(3)
    holo = off_axis(bump_phase((60, 70), sigma=8), (0.17, -0.21))[0] + rng.normal(0, 1, (60, 70)).astype(np.float32)
    sb = Sideband(-0.1693, 0.2088)
    spec = FilterSpec("smooth disk", 0.5 * sb.distance)
    margin = edge_margin(spec.radius)
    spectrum = HalfRows(holo, margin)
    got = demodulate(spectrum, sb, spec)
    assert got.shape == holo.shape and got.dtype == np.complex64
    # Reference: zero-margined image, full complex FFT, filter at the exact sideband, integer
    # roll to DC, full-size inverse, crop, remove the sub-bin carrier remainder.
    h, w = spectrum.shape
    padded = np.zeros((h, w))
    padded[:60, :70] = holo - holo.mean()
    full = np.fft.fft2(padded)
    ky0, kx0 = round(sb.fy * h), round(sb.fx * w)
    fy = np.fft.fftfreq(h)
    fx = np.fft.fftfreq(w)
    dfy = ((fy - ky0 / h + 0.5) % 1.0 - 0.5) + ky0 / h - sb.fy
    dfx = ((fx - kx0 / w + 0.5) % 1.0 - 0.5) + kx0 / w - sb.fx
    weights = sideband_filter("smooth disk", dfy, dfx, spec.radius)
    shifted = np.roll(full * weights, (-ky0, -kx0), axis=(0, 1))
    y, x = np.mgrid[:60, :70]
    want = np.fft.ifft2(shifted)[:60, :70] * np.exp(-2j * np.pi * ((sb.fy - ky0 / h) * y + (sb.fx - kx0 / w) * x))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())


def test_filter_radius_from_numerical_aperture():
    truth = bump_phase(SHAPE, height=2.0, sigma=10)
    holo, _ = off_axis(truth, (0.2, 0.2))
    res = nd.reconstruct(holo, "fourier", numerical_aperture=0.3, wavelength=0.532, pixel_size=0.2)
    assert res.metadata["filter_radius"] == pytest.approx(0.3 * 0.2 / 0.532)
    assert res.metadata["filter_radius_from"] == "numerical_aperture"
    assert _bg_free(res.phase, truth) < 0.05
    with pytest.raises(ParameterError, match="wavelength"):
        nd.reconstruct(holo, "fourier", numerical_aperture=0.3, pixel_size=0.2)
    with pytest.raises(ParameterError, match="overlaps the central band"):
        nd.reconstruct(holo, "fourier", numerical_aperture=1.2, wavelength=0.532, pixel_size=0.2)
    sb = Sideband(0.1, 0.0)
    assert filter_radius(sb, 0.25) == pytest.approx(0.025)


def test_progress_metadata_and_untouched_input():
    truth = bump_phase(SHAPE, height=2.0, sigma=10)
    holo, bg = off_axis(truth, (0.2, 0.2))
    holo_copy, bg_copy = holo.copy(), bg.copy()
    events = []
    res = nd.reconstruct(holo, "fourier", background=bg, progress=events.append)
    assert [e.stage for e in events] == ["detect", "filter", "unwrap", "fit"]
    assert events[-1].step == events[-1].total == 4
    assert events[-1].preview.shape == SHAPE
    np.testing.assert_array_equal(holo, holo_copy)
    np.testing.assert_array_equal(bg, bg_copy)
    m = res.metadata
    assert m["method"] == "fourier" and m["sideband_detected"] is True
    fy, fx = m["sideband_fy_fx"]
    assert math.hypot(fy, fx) == pytest.approx(math.hypot(0.2, 0.2), abs=0.005)
    assert m["filter_radius"] == pytest.approx(0.5 * math.hypot(fy, fx))
    assert set(m["timings"]) >= {"detect_s", "filter_s", "unwrap_s", "fit_s", "total_s"}
    assert m["parameters"]["filter_shape"] == "smooth disk"


def test_bad_input_is_reported():
    holo, bg = off_axis(bump_phase(SHAPE), (0.2, 0.2))
    with pytest.raises(InputError, match="shape"):
        nd.reconstruct(holo, "fourier", background=bg[:100])
    with pytest.raises(InputError, match="NaN"):
        bad = holo.copy()
        bad[3, 4] = np.nan
        nd.reconstruct(bad, "fourier")
    with pytest.raises(InputError, match="constant"):
        nd.reconstruct(np.full(SHAPE, 7.0), "fourier")
    with pytest.raises(InputError, match="32"):
        nd.reconstruct(holo[:20, :20], "fourier")
    with pytest.raises(RetrievalError, match="sideband"):
        nd.reconstruct(np.random.default_rng(0).normal(100, 3, SHAPE), "fourier")
    with pytest.raises(ParameterError, match="filter_size"):
        nd.reconstruct(holo, "fourier", filter_size=1.5)
    with pytest.raises(ParameterError, match="unwrap"):
        nd.reconstruct(holo, "fourier", unwrap="magic")
    with pytest.raises(ParameterError, match="2 values"):
        nd.reconstruct(holo, "fourier", sideband=(0.2,))


def test_cache_reuses_the_spectrum_for_reruns_on_the_same_input():
    truth = bump_phase(SHAPE, height=2.0, sigma=10)
    holo, _ = off_axis(truth, (0.2, 0.2))
    cache = {}
    first = nd.reconstruct(holo, "fourier", cache=cache)
    assert "fourier_coarse" in cache and any(isinstance(k, tuple) for k in cache)
    stored = dict(cache)
    again = nd.reconstruct(holo, "fourier", cache=cache, unwrap="lsq")
    assert all(cache[k] is v for k, v in stored.items())  # nothing recomputed
    np.testing.assert_allclose(again.phase, first.phase, atol=1e-3)
    fresh = nd.reconstruct(holo, "fourier", filter_shape="gauss")
    cached = nd.reconstruct(holo, "fourier", filter_shape="gauss", cache=cache)
    np.testing.assert_allclose(cached.phase, fresh.phase, atol=1e-6)


@pytest.mark.parametrize("carrier", [(0.0, 0.45), (0.44, 0.02), (-0.42, 0.43)])
def test_carrier_near_nyquist_keeps_the_filter_clear_of_the_twin_alias(carrier):
    truth = bump_phase((64, 80), height=1.5, sigma=8)
    holo, bg = off_axis(truth, carrier)
    res = nd.reconstruct(holo, "fourier", background=bg)
    assert res.metadata["filter_radius_limited_by_twin_order"] is True
    assert res.metadata["filter_radius"] < 0.5 * math.hypot(*carrier)
    assert _bg_free(res.phase, truth) < 0.03
