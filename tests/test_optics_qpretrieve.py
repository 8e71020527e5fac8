"""Cross-check the hologram simulator with an independent retrieval (qpretrieve, a peer)."""
import warnings

import numpy as np
import pytest

from napari_diffpr import simulate

qpretrieve = pytest.importorskip("qpretrieve")


@pytest.mark.parametrize("carrier", [(0.2, 0.2), (-0.15, 0.22), (0.1875, -0.125)])
def test_qpretrieve_recovers_the_band_limited_phase(carrier):
    from skimage.restoration import unwrap_phase

    phase = simulate.phantom(128, "hela", seed=0, max_phase=4.0)
    s = simulate.hologram(phase, carrier=carrier, photons=None, bit_depth=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        holo = qpretrieve.OffAxisHologram(s.hologram)
        holo.run_pipeline(filter_name="disk", filter_size=1 / 3)
        bg = qpretrieve.OffAxisHologram(s.background)
        bg.process_like(holo)
    got = unwrap_phase(np.angle(np.squeeze(holo.field / bg.field)))
    # qpretrieve picks whichever sideband lies in its half-plane, so its sign may be flipped
    sign = np.sign(np.corrcoef(got.ravel(), s.phase.ravel())[0, 1])
    got = sign * got
    got -= np.median(got - s.phase)
    assert np.abs(got - s.phase).mean() < 0.05
    assert np.corrcoef(got.ravel(), s.phase.ravel())[0, 1] > 0.99
