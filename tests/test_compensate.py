"""Aberration compensation without a background hologram (retrieval/compensate.py and the Fourier
method's background fit): a hologram with a curved reference, no sample-free hologram."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

import napari_diffpr as dp
from napari_diffpr.errors import ParameterError
from napari_diffpr.retrieval.compensate import compensate, fit_aberrations, noll_to_nm, zernike

from cell_scenes import PX_UM, WL_UM, scene


def _background_mask(phase):
    """True background: 2 µm clear of every cell and of the image border."""
    far = ~binary_dilation(phase > 1e-3, iterations=10)
    far[:10] = far[-10:] = far[:, :10] = far[:, -10:] = False
    return far


@pytest.fixture(scope="module")
def curved():
    phase, _ = scene()
    s = dp.simulate.hologram(phase, reference_aberration=8.0, seed=3, pixel_size_um=PX_UM,
                             wavelength_um=WL_UM)
    return phase, s


def test_compensation_without_background_hologram_is_as_flat_as_dividing_by_it(curved):
    phase, s = curved
    bg = _background_mask(phase)
    reference = dp.reconstruct(s.hologram, "fourier", background=s.background).phase[bg].std()
    raw = dp.reconstruct(s.hologram, "fourier", background_fit="none")
    assert raw.phase[bg].std() > 30 * reference  # 8 rad peak-to-valley of reference wavefront
    poly2 = dp.reconstruct(s.hologram, "fourier", background_fit="poly2")
    zern = compensate(raw, order=2)
    for result in (poly2, zern):
        assert result.phase[bg].std() <= 1.5 * reference, (result.phase[bg].std(), reference)
    # a plane alone cannot remove curvature: the criterion can fail
    plane = dp.reconstruct(s.hologram, "fourier", background_fit="plane")
    assert plane.phase[bg].std() > 1.5 * reference
    # the cells survive: compensated phase close to the truth inside them
    cells = phase > 0.5
    err = (zern.phase - np.median(zern.phase[bg]))[cells] - phase[cells]
    assert np.sqrt(np.mean(err ** 2)) < 0.1


def test_coefficients_are_reported(curved):
    _, s = curved
    res = dp.reconstruct(s.hologram, "fourier", background_fit="poly2")
    coef = res.metadata["background_coefficients_rad"]
    assert set(coef) == {"Z1 piston", "Z2 tilt x", "Z3 tilt y", "Z4 defocus", "Z5 astigmatism 45°",
                         "Z6 astigmatism 0°"}
    zern = compensate(dp.reconstruct(s.hologram, "fourier", background_fit="none"), order=2)
    fit = zern.metadata["aberration_fit"]
    assert fit["basis"] == "zernike" and 0.3 < fit["background_fraction"] < 0.95
    # the two routes see the same curvature (piston and tilt differ: the method's own
    # plane/offset handling and the carrier's sub-pixel remainder)
    for name in ("Z4 defocus", "Z5 astigmatism 45°", "Z6 astigmatism 0°"):
        assert fit["coefficients_rad"][name] == pytest.approx(coef[name], abs=0.02)
    assert max(abs(fit["coefficients_rad"][k]) for k in coef if k != "Z1 piston") > 0.5


def test_user_mask_and_known_wavefront():
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    r0 = np.hypot((h - 1) / 2, (w - 1) / 2)
    y, x = (yy - (h - 1) / 2) / r0, (xx - (w - 1) / 2) / r0
    rho, theta = np.hypot(y, x), np.arctan2(y, x)
    wavefront = 0.7 * zernike(4, rho, theta) - 0.3 * zernike(6, rho, theta) + 0.2 * zernike(2, rho, theta)
    cell = np.where((yy - 60) ** 2 + (xx - 80) ** 2 < 30 ** 2, 3.0, 0.0)
    user_bg = (yy - 60) ** 2 + (xx - 80) ** 2 > 35 ** 2  # "drawn" background: outside the cell
    out = compensate(wavefront + cell, mask=user_bg, order=2)
    coef = out.metadata["aberration_fit"]["coefficients_rad"]
    assert coef["Z4 defocus"] == pytest.approx(0.7, abs=1e-6)
    assert coef["Z6 astigmatism 0°"] == pytest.approx(-0.3, abs=1e-6)
    assert coef["Z2 tilt x"] == pytest.approx(0.2, abs=1e-6)
    assert np.abs(out.phase - cell).max() < 1e-4
    assert out.metadata["aberration_mask"] == "given"
    with pytest.raises(ParameterError, match="background"):
        fit_aberrations(cell, mask=np.zeros((h, w), bool))


def test_noll_order():
    assert [noll_to_nm(j) for j in range(1, 12)] == [(0, 0), (1, 1), (1, -1), (2, 0), (2, -2), (2, 2),
                                                      (3, -1), (3, 1), (3, -3), (3, 3), (4, 0)]
    # orthonormal on the unit disk
    yy, xx = np.mgrid[-1:1:401j, -1:1:401j]
    rho, theta = np.hypot(yy, xx), np.arctan2(yy, xx)
    disk = rho <= 1
    z = np.stack([zernike(j, rho, theta)[disk] for j in range(1, 12)])
    gram = z @ z.T / disk.sum()
    assert np.abs(gram - np.eye(11)).max() < 0.02


def test_default_fit_is_curved_without_a_background_hologram_and_a_plane_with_one(curved):
    phase, s = curved
    bg = _background_mask(phase)
    reference = dp.reconstruct(s.hologram, "fourier", background=s.background)
    assert reference.metadata["background_fit"] == "plane"
    alone = dp.reconstruct(s.hologram, "fourier")  # the defaults, as a user without a background hologram
    assert alone.metadata["background_fit"] == "poly2"
    assert alone.metadata["parameters"]["background_fit"] == "auto"
    assert alone.phase[bg].std() <= 1.5 * reference.phase[bg].std()
    # the same hologram with a background hologram reconstructs exactly as with "plane"
    plane = dp.reconstruct(s.hologram, "fourier", background=s.background, background_fit="plane")
    np.testing.assert_array_equal(reference.phase, plane.phase)


def test_unknown_background_fit_is_refused_before_any_compute(curved):
    _, s = curved
    with pytest.raises(ParameterError, match="background_fit"):
        dp.reconstruct(s.hologram, "fourier", background_fit="poly9")
