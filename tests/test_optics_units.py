"""Unit conversions against hand-computed numbers."""
import math

import numpy as np
import pytest

from napari_diffpr.errors import ParameterError
from napari_diffpr.optics import units


def test_phase_to_opd_and_back():
    assert units.phase_to_opd(2 * math.pi, 0.5) == pytest.approx(0.5)      # one wave = λ
    assert units.phase_to_opd(math.pi, 0.633) == pytest.approx(0.3165)
    assert units.opd_to_phase(0.3165, 0.633) == pytest.approx(math.pi)
    arr = np.array([0.0, math.pi / 2])
    assert np.allclose(units.phase_to_opd(arr, 0.532), [0.0, 0.133])


def test_opd_to_thickness():
    # 0.5 µm OPD with Δn = 1.38 − 1.33 = 0.05 is a 10 µm thick object
    assert units.opd_to_thickness(0.5, 1.38, 1.33) == pytest.approx(10.0)
    assert units.opd_to_thickness(-0.1, 1.33, 1.38) == pytest.approx(2.0)


def test_dry_mass_density_and_mass():
    # φ = π at 532 nm: OPD 0.266 µm; / 0.18 µm³/pg = 1.4778 pg/µm²
    assert units.dry_mass_density(math.pi, 0.532) == pytest.approx(0.266 / 0.18)
    assert units.dry_mass_density(math.pi, 0.532, alpha=0.2) == pytest.approx(1.33)
    phase = np.zeros((20, 20))
    phase[5:15, 5:15] = math.pi          # 100 pixels of 0.1 µm: 1 µm²
    assert units.dry_mass(phase, 0.532, 0.1) == pytest.approx(0.266 / 0.18)
    mask = np.zeros_like(phase)
    mask[5:10, 5:15] = 1                 # half of the object
    assert units.dry_mass(phase, 0.532, 0.1, mask=mask) == pytest.approx(0.5 * 0.266 / 0.18)


def test_bad_units():
    with pytest.raises(ParameterError, match="wavelength_um"):
        units.phase_to_opd(1.0, 0.0)
    with pytest.raises(ParameterError, match="index-matched"):
        units.opd_to_thickness(0.5, 1.33, 1.33)
    with pytest.raises(ParameterError, match="alpha"):
        units.dry_mass_density(1.0, 0.5, alpha=-0.18)
    with pytest.raises(ParameterError, match="pixel_size_um"):
        units.dry_mass(np.ones((4, 4)), 0.5, float("nan"))
