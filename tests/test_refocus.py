"""Numerical refocusing and autofocus (retrieval/refocus.py) and the ``refocus`` parameter of the
Fourier method, on holograms of cells simulated out of focus by a known distance."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import napari_diffpr as dp
from napari_diffpr.errors import ParameterError
from napari_diffpr.optics.cells import defocused_field, defocused_hologram
from napari_diffpr.retrieval.refocus import (FOCUS_METRICS, autofocus, focus_metric, refocus_field,
                                             refocus_result)

from cell_scenes import N_MEDIUM, PX_UM, WL_UM, scene

OPTICS = dict(wavelength=WL_UM, pixel_size=PX_UM, medium_index=N_MEDIUM)


@lru_cache(maxsize=None)
def recording(distance_um: float, bit_depth=None):
    """A noisy (2000 photo-electrons/px shot noise, 2 e- read noise) hologram of the cell scene
    recorded with the camera focused ``distance_um`` beyond the cells, and its background.
    ``bit_depth=None``: no ADC clipping (the 8-bit case saturates on the cells' caustics far
    downstream, see test_eight_bit_saturation_is_the_limit)."""
    phase, _ = scene()
    s = defocused_hologram(phase, distance_um, wavelength_um=WL_UM, pixel_size_um=PX_UM,
                           medium_index=N_MEDIUM, seed=7, bit_depth=bit_depth)
    return s.hologram, s.background


@lru_cache(maxsize=None)
def in_focus_psnr() -> float:
    holo, bg = recording(0.0)
    res = dp.reconstruct(holo, "fourier", background=bg)
    return dp.compare(res, scene()[0])["psnr"]


def test_propagation_round_trip_and_agrees_with_the_simulator():
    phase, _ = scene()
    field = np.exp(1j * phase).astype(np.complex64)
    there = refocus_field(field, 7.5, WL_UM, PX_UM, N_MEDIUM)
    back = refocus_field(there, -7.5, WL_UM, PX_UM, N_MEDIUM)
    assert np.abs(back - field).max() < 1e-4
    # The simulator's torch propagator (optics/propagation.py) adds only the plane-wave piston.
    sim = defocused_field(phase, 7.5, wavelength_um=WL_UM, pixel_size_um=PX_UM, medium_index=N_MEDIUM)
    ratio = sim * np.conj(there)
    piston = np.angle(ratio.mean())
    assert np.abs(sim * np.exp(-1j * piston) - there).max() < 2e-3
    assert np.abs(np.abs(there) - 1).max() > 0.05  # 7.5 µm out of focus really blurs the amplitude


@pytest.mark.parametrize("distance", [-20.0, -12.0, -5.0, -2.0, 2.0, 5.0, 12.0, 20.0])
def test_autofocus_finds_the_focus_and_restores_the_phase(distance):
    holo, bg = recording(distance)
    res = dp.reconstruct(holo, "fourier", background=bg, refocus="auto", **OPTICS)
    found = res.metadata["refocus_um"]
    assert abs(found + distance) < 0.5, (distance, found)
    psnr = dp.compare(res, scene()[0])["psnr"]
    assert psnr >= in_focus_psnr() - 1.0, (psnr, in_focus_psnr())
    # without refocusing the defocused recording is clearly worse: the check can fail
    plain = dp.compare(dp.reconstruct(holo, "fourier", background=bg), scene()[0])["psnr"]
    assert plain < psnr - 1.0


def test_metadata_records_distance_and_metric_curve():
    holo, bg = recording(-5.0)
    res = dp.reconstruct(holo, "fourier", background=bg, refocus="auto", focus_range=15, **OPTICS)
    search = res.metadata["focus_search"]
    assert search["metric"] == "tamura" and search["range_um"] == [-15.0, 15.0]
    z, m = np.array(search["curve_um"]), np.array(search["curve_metric"])
    assert len(z) == len(m) >= 15 and np.all(np.diff(z) > 0)
    assert z[np.argmin(m)] == pytest.approx(res.metadata["refocus_um"])
    assert res.metadata["parameters"]["refocus"] == "auto"
    assert res.metadata["timings"]["refocus_s"] > 0
    fixed = dp.reconstruct(holo, "fourier", background=bg, refocus=5.0, **OPTICS)
    assert fixed.metadata["refocus_um"] == 5.0 and "focus_search" not in fixed.metadata
    assert dp.reconstruct(holo, "fourier", background=bg, refocus="5", **OPTICS).metadata["refocus_um"] == 5.0


@pytest.mark.parametrize("metric", ["tamura", "variance"])
def test_amplitude_metrics_agree(metric):
    holo, bg = recording(12.0)
    res = dp.reconstruct(holo, "fourier", background=bg, refocus="auto", focus_metric=metric, **OPTICS)
    assert abs(res.metadata["refocus_um"] + 12.0) < 0.5


def test_gradient_metric_is_offered_and_near_focus():
    # The squared amplitude gradient (nrefocus' default) is biased on these thick cells: the
    # band-limited rim ringing is smallest 1-1.6 µm past the focus (1.56 µm measured here at
    # 12 µm; docs/measure.md states it). It is not the default for that reason.
    holo, bg = recording(12.0)
    res = dp.reconstruct(holo, "fourier", background=bg, refocus="auto", focus_metric="gradient", **OPTICS)
    assert 0.5 < abs(res.metadata["refocus_um"] + 12.0) < 2.0
    assert set(FOCUS_METRICS) == {"tamura", "variance", "gradient"}


def test_refocus_result_composes():
    holo, bg = recording(5.0)
    res = dp.reconstruct(holo, "fourier", background=bg, **OPTICS)
    half = refocus_result(res, -2.5)
    full = refocus_result(half, -2.5)
    assert full.metadata["refocus_um"] == pytest.approx(-5.0)
    direct = dp.reconstruct(holo, "fourier", background=bg, refocus=-5.0, **OPTICS)
    assert np.sqrt(np.mean((full.phase - direct.phase) ** 2)) < 0.02


def test_focus_metric_is_minimal_in_focus_for_a_phase_object():
    phase, _ = scene()
    field = np.exp(1j * phase).astype(np.complex64)
    values = {z: focus_metric(refocus_field(field, z, WL_UM, PX_UM, N_MEDIUM)) for z in (-6, -3, 0, 3, 6)}
    assert min(values, key=values.get) == 0
    found = autofocus(refocus_field(field, 4.0, WL_UM, PX_UM, N_MEDIUM), WL_UM, PX_UM, N_MEDIUM)
    assert abs(found.distance_um + 4.0) < 0.5 and not found.at_range_edge


def test_refocus_needs_wavelength_and_pixel_size_and_a_valid_value():
    holo, bg = recording(0.0)
    with pytest.raises(ParameterError, match="wavelength"):
        dp.reconstruct(holo, "fourier", background=bg, refocus=3.0, pixel_size=PX_UM)
    with pytest.raises(ParameterError, match="auto"):
        dp.reconstruct(holo, "fourier", background=bg, refocus="near", **OPTICS)
    with pytest.raises(ParameterError):
        dp.reconstruct(holo, "fourier", background=bg, refocus=5000.0, **OPTICS)


def test_eight_bit_saturation_is_the_limit():
    # Recorded 20 µm downstream the cells act as lenses and concentrate light: an 8-bit camera
    # with the simulator's fixed full scale clips those caustics, and the refocused phase loses
    # several dB. This documents the limit (the autofocus tests use an unclipped camera).
    holo8, bg8 = recording(20.0, bit_depth=8)
    assert np.mean(holo8 >= holo8.max()) > 1e-3  # clipped pixels
    holo, bg = recording(20.0)
    clipped = dp.reconstruct(holo8, "fourier", background=bg8, refocus=-20.0, **OPTICS)
    clean = dp.reconstruct(holo, "fourier", background=bg, refocus=-20.0, **OPTICS)
    truth = scene()[0]
    assert dp.compare(clean, truth)["psnr"] > dp.compare(clipped, truth)["psnr"] + 2.0
