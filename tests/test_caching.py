"""Per-input caches and previews (issue 9, items 9 and 10): a cache never serves another input's
result, and a preview handed to a callback is never a view of the returned phase."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import drain, fringe_hologram
from napari_diffpr import reconstruct
from napari_diffpr.api import run_method
from napari_diffpr.caching import fingerprint, for_input


def test_fourier_cache_follows_its_input():
    small, big = fringe_hologram(64, seed=0), fringe_hologram(96, seed=1)
    cache: dict = {}
    first = reconstruct(small, "fourier", cache=cache)
    second = reconstruct(big, "fourier", cache=cache)
    assert second.phase.shape == big.shape
    np.testing.assert_array_equal(second.phase, reconstruct(big, "fourier").phase)
    # an in-place edit of the same array is a new input too
    edited = small.copy()
    cache = {}
    reconstruct(edited, "fourier", cache=cache)
    edited[:] = fringe_hologram(64, seed=7)
    np.testing.assert_array_equal(reconstruct(edited, "fourier", cache=cache).phase,
                                  reconstruct(edited.copy(), "fourier").phase)
    assert first.phase.shape == small.shape


def test_cache_is_reused_for_the_same_input():
    holo = fringe_hologram(64)
    cache: dict = {}
    reconstruct(holo, "fourier", cache=cache)
    coarse = cache["fourier_coarse"]
    reconstruct(holo.copy(), "fourier", cache=cache, unwrap="lsq")
    assert cache["fourier_coarse"] is coarse  # same bytes: the detection carried over


def test_for_input_drops_only_its_own_prefix():
    cache = {"fourier_coarse": 1, ("fourier_rows", 3): 2, "diffpr.stage1": 3}
    for_input(cache, "fourier_", np.zeros(3))
    assert "diffpr.stage1" in cache and "fourier_coarse" not in cache and ("fourier_rows", 3) not in cache
    assert fingerprint(np.zeros(3)) != fingerprint(np.zeros(4)) != fingerprint(None)


@pytest.mark.parametrize("method, data", [
    ("fourier", fringe_hologram(64)),
    ("tie", None),
])
def test_previews_do_not_share_memory_with_the_result(method, data):
    if data is None:
        from napari_diffpr.optics import simulate

        data = simulate.sample("rgb", size=64, seed=0)["measurement"]
    result, events = drain(run_method(data, method))
    previews = [e.preview for e in events if e.preview is not None]
    assert previews, "the method yielded no preview"
    before = result.phase.copy()
    for p in previews:
        assert not np.shares_memory(p, result.phase)
        p[...] = 1e6  # what a careless callback might do
    np.testing.assert_array_equal(result.phase, before)
