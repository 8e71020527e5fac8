"""Angular-spectrum and Fresnel propagation: identities, energy, paraxial agreement, pupil."""
import math

import numpy as np
import pytest
import torch

from napari_diffpr.errors import ParameterError
from napari_diffpr.optics.propagation import (angular_spectrum_tf, fresnel_tf, frequency_grid,
                                              propagate, pupil)

PX, WL, N_MED = 0.5, 0.55, 1.33


def band_limited_field(size=64, na=0.4, seed=0, batch=()):
    """A random complex field with no energy above NA/λ (so nothing is evanescent)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn((*batch, size, size), generator=g, dtype=torch.complex64)
    return torch.fft.ifft2(torch.fft.fft2(u) * pupil((size, size), PX, na, WL))


def test_zero_distance_is_identity():
    u = band_limited_field(na=1.3)  # up to the propagating limit: nothing should change at z = 0
    for method in ("angular", "fresnel"):
        out = propagate(u, 0.0, WL, PX, N_MED, method=method)
        assert torch.allclose(out, u, atol=1e-5)


@pytest.mark.parametrize("method", ["angular", "fresnel"])
def test_forward_then_back_is_identity(method):
    u = band_limited_field(batch=(2,))
    there = propagate(u, 7.5, WL, PX, N_MED, method=method)
    assert (there - u).abs().max() > 0.1  # it really moved
    back = propagate(there, -7.5, WL, PX, N_MED, method=method)
    assert torch.allclose(back, u, atol=1e-4)


def test_energy_conserved():
    u = band_limited_field(batch=(3,))
    out = propagate(u, torch.tensor([-20.0, 3.0, 40.0]).reshape(3), WL, PX, N_MED)
    e_in = u.abs().square().sum(dim=(-2, -1))
    e_out = out.abs().square().sum(dim=(-2, -1))
    assert torch.allclose(e_out, e_in, rtol=1e-4)


def test_fresnel_matches_angular_spectrum_when_paraxial():
    # frequencies up to NA 0.1: λ f / n <= 0.075, the paraxial error phase is ~ π z λ³ f⁴ / 4n³
    u = band_limited_field(na=0.1, size=128)
    a = propagate(u, 10.0, WL, PX, N_MED, method="angular")
    f = propagate(u, 10.0, WL, PX, N_MED, method="fresnel")
    rel = ((a - f).abs().square().sum() / a.abs().square().sum()).sqrt()
    assert rel < 1e-2
    # and at high NA it does not (so the comparison above is meaningful)
    u_wide = band_limited_field(na=1.2, size=128)
    a = propagate(u_wide, 10.0, WL, PX, N_MED, method="angular")
    f = propagate(u_wide, 10.0, WL, PX, N_MED, method="fresnel")
    assert ((a - f).abs().square().sum() / a.abs().square().sum()).sqrt() > 0.1


def test_plane_wave_gets_the_analytic_phase():
    size = 64
    fy_i, fx_i = 3, -5  # an FFT bin, so the plane wave is exactly periodic
    y, x = np.mgrid[:size, :size]
    fy, fx = fy_i / (size * PX), fx_i / (size * PX)
    u = np.exp(2j * np.pi * (fy * y * PX + fx * x * PX)).astype(np.complex64)
    z = 12.0
    out = propagate(u, z, WL, PX, N_MED)
    assert isinstance(out, np.ndarray)  # NumPy in, NumPy out
    kz = math.sqrt((N_MED / WL) ** 2 - fy ** 2 - fx ** 2)
    expected = u * np.exp(2j * np.pi * kz * z)
    assert np.allclose(out, expected, atol=1e-3)


def test_evanescent_waves_are_removed_and_pupil_cuts_at_na_over_lambda():
    fy, fx = frequency_grid((64, 64), PX)
    tf = angular_spectrum_tf((64, 64), PX, WL, 1.0, N_MED)
    f = torch.sqrt(fy ** 2 + fx ** 2)
    assert torch.all(tf[f > N_MED / WL] == 0)
    assert torch.allclose(tf[f < N_MED / WL].abs(), torch.ones(1), atol=1e-6)
    p = pupil((64, 64), PX, 0.3, WL)
    assert torch.all(p[f <= 0.3 / WL * 0.999] == 1) and torch.all(p[f > 0.3 / WL * 1.001] == 0)


def test_batched_distances_give_a_batch_of_transfer_functions():
    tf = angular_spectrum_tf((32, 32), PX, WL, torch.tensor([0.0, 1.0, 2.0]), N_MED)
    assert tf.shape == (3, 32, 32)
    tf2 = fresnel_tf((32, 32), PX, WL, 2.0, N_MED)
    assert torch.allclose(tf[2, 0, 0], tf2[0, 0], atol=1e-4)  # DC: both are the piston


def test_bad_arguments():
    u = band_limited_field()
    with pytest.raises(ParameterError, match="method"):
        propagate(u, 1.0, WL, PX, method="rayleigh")
    with pytest.raises(ParameterError, match="wavelength_um"):
        propagate(u, 1.0, -0.5, PX)
    with pytest.raises(ParameterError, match="na"):
        propagate(u, 1.0, WL, PX, N_MED, na=-0.2)
    with pytest.raises(ParameterError, match="2-D"):
        propagate(torch.ones(5, dtype=torch.complex64), 1.0, WL, PX)
