"""Sideband (+1 order) search: carriers in every direction, sub-bin accuracy, clear failures."""
import numpy as np
import pytest

from napari_diffpr.errors import ParameterError, RetrievalError
from napari_diffpr.retrieval.sideband import MIN_CARRIER, Sideband, check_sideband, detect_sideband
from napari_diffpr.retrieval.spectrum import HalfRows
from retrieval_helpers import bump_phase, off_axis

CARRIERS = {
    "along x": (0.0, 0.23),
    "along y": (0.21, 0.0),
    "diagonal": (0.15, 0.17),
    "negative x": (0.0, -0.19),
    "negative y": (-0.22, 0.0),
    "negative diagonal": (-0.13, -0.16),
    "mixed signs": (-0.12, 0.2),
}


@pytest.mark.parametrize("name", list(CARRIERS))
def test_detects_carriers_in_any_direction(name):
    fy, fx = CARRIERS[name]
    holo, _ = off_axis(bump_phase((128, 144)), (fy, fx))
    sb = detect_sideband(holo)
    # Reported in the half plane fx > 0 (or fy > 0 on the fx = 0 axis): +k or -k.
    expected = (fy, fx) if (fx > 0 or (fx == 0 and fy > 0)) else (-fy, -fx)
    assert sb.fx > 0 or (sb.fx == 0 and sb.fy > 0)
    # within half a frequency bin of the true carrier
    assert abs(sb.fy - expected[0]) < 0.5 / 128
    assert abs(sb.fx - expected[1]) < 0.5 / 144
    assert sb.prominence > 20


def test_subbin_estimate_beats_the_grid():
    fy, fx = 0.1537, 0.2011  # deliberately between bins
    holo, _ = off_axis(np.zeros((256, 256)), (fy, fx))
    sb = detect_sideband(holo)
    assert abs(sb.fy - fy) < 0.25 / 256 and abs(sb.fx - fx) < 0.25 / 256


def test_large_image_uses_full_resolution_refinement():
    holo, _ = off_axis(bump_phase((600, 700), sigma=40), (0.0, 0.251))
    sb = detect_sideband(holo)
    assert abs(sb.fy) < 0.5 / 600 and abs(sb.fx - 0.251) < 0.5 / 700


def test_noise_has_no_sideband():
    rng = np.random.default_rng(0)
    with pytest.raises(RetrievalError, match="no off-axis sideband"):
        detect_sideband(rng.normal(100, 5, (128, 128)).astype(np.float32))


def test_smooth_image_without_fringes_has_no_sideband():
    blob = 100 + bump_phase((128, 128), height=50, sigma=20)
    with pytest.raises(RetrievalError, match="sideband"):
        detect_sideband(blob.astype(np.float32))


def test_user_sideband_checks():
    assert check_sideband((0.1, -0.2), (64, 64)) == Sideband(0.1, -0.2)
    with pytest.raises(ParameterError, match="outside the spectrum"):
        check_sideband((0.6, 0.1), (64, 64))
    with pytest.raises(ParameterError, match="at least"):
        check_sideband((0.0, MIN_CARRIER / 2), (64, 64))


def test_canonical_flips_to_the_stored_half_plane():
    sb, conj = Sideband(0.1, -0.2).canonical()
    assert (sb.fy, sb.fx, conj) == (-0.1, 0.2, True)
    sb, conj = Sideband(-0.1, 0.2).canonical()
    assert (sb.fy, sb.fx, conj) == (-0.1, 0.2, False)
    assert Sideband(-0.1, 0.0).canonical()[0].fy == 0.1


@pytest.mark.parametrize("shape", [(40, 50), (41, 37)])
@pytest.mark.parametrize("margin", [0, 6])
def test_spectrum_block_matches_full_fft(shape, margin):
    rng = np.random.default_rng(1)
    img = rng.normal(size=shape).astype(np.float32)
    spec = HalfRows(img, margin)
    h, w = spec.shape
    assert h >= shape[0] + 2 * margin and w >= shape[1] + 2 * margin
    padded = np.zeros((h, w))
    padded[:shape[0], :shape[1]] = img - img.mean()
    full = np.fft.fft2(padded)
    cols = np.arange(-12, 30)  # negative columns and columns past the stored half
    rows = np.arange(-7, 9)  # rows wrapping around zero frequency
    got = spec.block(rows, cols)
    np.testing.assert_allclose(got, full[np.ix_(rows % h, cols % w)], rtol=1e-4, atol=1e-3)
