"""TIE on chromatic focus stacks built with an independent angular-spectrum propagator."""
import math

import numpy as np
import pytest

import napari_diffpr as nd
from napari_diffpr.errors import InputError, ParameterError
from napari_diffpr.retrieval.tie import axial_derivative, rgb_tie, solve_poisson, tie_opd, tie_phase
from retrieval_helpers import focus_stack, rms, smooth_opd

PX = 0.25
WL = (0.63, 0.55, 0.45)
DZ = (-1.5, 0.0, 1.5)


def _rgb(opd, defocus=DZ, n_medium=1.33, gains=(0.8, 1.0, 1.3)):
    return np.moveaxis(focus_stack(opd, defocus, WL, PX, n_medium, gains), 0, -1)


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_rgb_tie_recovers_a_smooth_cell(boundary):
    opd = smooth_opd((96, 96), PX)
    truth = 2 * math.pi * opd / 0.55
    phase = rgb_tie(_rgb(opd), wavelengths_um=WL, defocus_um=DZ, pixel_size_um=PX,
                    regularization=1e-3, boundary=boundary, medium_index=1.33)
    assert phase.dtype == np.float32 and phase.shape == (96, 96)
    d = phase - truth
    assert rms(d - np.median(d)) < 0.02 * truth.max()
    assert phase.max() == pytest.approx(truth.max(), rel=0.05)


def test_reference_wavelength_scales_the_phase_and_channel_gains_do_not_matter():
    opd = smooth_opd((64, 64), PX)
    kw = dict(wavelengths_um=WL, defocus_um=DZ, pixel_size_um=PX, regularization=1e-3, medium_index=1.33)
    green = rgb_tie(_rgb(opd), **kw)
    red = rgb_tie(_rgb(opd), reference_wavelength_um=0.63, **kw)
    np.testing.assert_allclose(red, green * 0.55 / 0.63, atol=1e-4)
    flat = rgb_tie(_rgb(opd, gains=(1, 1, 1)), **kw)
    np.testing.assert_allclose(flat, green, atol=2e-3)


def test_defocus_sign_and_medium_index():
    opd = smooth_opd((64, 64), PX)
    kw = dict(wavelengths_um=WL, pixel_size_um=PX, regularization=1e-3)
    right = rgb_tie(_rgb(opd), defocus_um=DZ, medium_index=1.33, **kw)
    flipped = rgb_tie(_rgb(opd), defocus_um=tuple(-z for z in DZ), medium_index=1.33, **kw)
    np.testing.assert_allclose(flipped, -right, atol=1e-5)
    air = rgb_tie(_rgb(opd), defocus_um=DZ, medium_index=1.0, **kw)
    np.testing.assert_allclose(air * 1.33, right, atol=1e-4)


def test_general_stack_with_five_planes_and_its_own_wavelengths():
    opd = smooth_opd((80, 72), PX)
    dz = (-2.0, -1.0, 0.0, 1.0, 2.0)
    wl = (0.5, 0.52, 0.55, 0.6, 0.65)
    stack = focus_stack(opd, dz, wl, PX, 1.0)
    phase = tie_phase(stack, dz, wl, PX, regularization=1e-3, medium_index=1.0)
    truth = 2 * math.pi * opd / 0.55  # middle plane's wavelength by default
    d = phase - truth
    assert rms(d - np.median(d)) < 0.03 * truth.max()


def test_regularization_damps_low_frequencies_only():
    rng = np.random.default_rng(0)
    rhs = rng.normal(size=(64, 64))
    weak = solve_poisson(rhs, 0.2, 0.0, "periodic")
    strong = solve_poisson(rhs, 0.2, 100.0, "periodic")
    assert np.std(strong) < 0.5 * np.std(weak)
    # the Laplacian of the unregularised solution gives back the right-hand side
    lap = sum(np.roll(weak, s, a) for s in (1, -1) for a in (0, 1)) - 4 * weak
    k = np.fft.fftfreq(64)
    # compare in Fourier space at low frequencies where the 5-point stencil is accurate
    low = (np.abs(k)[:, None] < 0.1) & (np.abs(k)[None, :] < 0.1)
    ratio = np.fft.fft2(lap / 0.2 ** 2)[low][1:] / np.fft.fft2(rhs - rhs.mean())[low][1:]
    assert np.allclose(np.abs(ratio), 1.0, atol=0.1)


def test_axial_derivative_is_a_least_squares_slope():
    z = (-1.0, 0.5, 2.0)
    planes = np.stack([np.full((4, 4), 3.0 + 0.2 * zi) for zi in z])
    slope, intercept = axial_derivative(planes, z)
    np.testing.assert_allclose(slope, 0.2)
    np.testing.assert_allclose(intercept, 3.0)


def _noisy_rgb(opd, seed=0):
    # A pure phase object has no contrast in focus: the green plane is constant without noise.
    rng = np.random.default_rng(seed)
    return (_rgb(opd) + rng.normal(0, 1e-3, opd.shape + (3,))).astype(np.float32)


def test_tie_method_through_the_api():
    opd = smooth_opd((64, 64), PX)
    rgb = _noisy_rgb(opd)
    before = rgb.copy()
    events = []
    res = nd.reconstruct(rgb, "tie", pixel_size=PX, regularization=1e-3, progress=events.append)
    np.testing.assert_array_equal(rgb, before)
    assert [e.stage for e in events] == ["derivative", "solve"]
    assert res.metadata["method"] == "tie" and res.metadata["reference_wavelength_um"] == 0.55
    truth = 2 * math.pi * opd / 0.55
    d = res.phase - truth
    assert rms(d - np.median(d)) < 0.03 * truth.max()
    assert abs(np.median(res.phase)) < 0.01  # offset: median of a 2x-subsampled grid set to 0


def test_tie_bad_input():
    rgb = _noisy_rgb(smooth_opd((64, 64), PX))
    with pytest.raises(ParameterError, match="all equal"):
        rgb_tie(rgb, defocus_um=(1.0, 1.0, 1.0), pixel_size_um=PX)
    with pytest.raises(InputError, match="mean intensity"):
        tie_opd(np.stack([np.zeros((40, 40)), np.ones((40, 40))]), (0, 1), PX)
    with pytest.raises(ParameterError, match="defocus"):
        tie_opd(np.ones((3, 40, 40)), (0, 1), PX)
    with pytest.raises(ParameterError, match="boundary"):
        solve_poisson(np.ones((8, 8)), 0.2, 0.1, "dirichlet")
    with pytest.raises(ParameterError, match="3 values"):
        nd.reconstruct(rgb, "tie", defocus=(1.0, 2.0))
    with pytest.raises(InputError, match="takes no background"):
        nd.reconstruct(rgb, "tie", background=rgb)
