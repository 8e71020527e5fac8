"""Issue 12, part 5: Fourier filtering of stacks (batched row FFTs, one sideband search) and
no input fingerprinting without a caller's cache."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import fringe_hologram

from napari_diffpr import caching
from napari_diffpr.api import reconstruct
from napari_diffpr.retrieval import sideband as sideband_mod
from napari_diffpr.retrieval import stack as stack_mod
from napari_diffpr.retrieval.spectrum import HalfRows


def _movie(n=20, size=96):
    return np.stack([fringe_hologram(size, seed=i) * (1 + 0.02 * i) for i in range(n)])


def test_batched_row_spectra_equal_the_per_frame_ones_bit_for_bit():
    movie = _movie(5, 80)
    for margin in (0, 7):
        batch = HalfRows.batch(movie, margin)
        for frame, rows in zip(movie, batch):
            one = HalfRows(frame, margin)
            assert rows.shape == one.shape and rows.input_shape == one.input_shape
            assert rows.rows.tobytes() == one.rows.tobytes()


def test_a_stack_equals_its_frames_one_by_one_across_batches():
    movie = _movie(20)  # more than one batch of 16
    res = reconstruct(movie, "fourier", unwrap="lsq")
    for i in (0, 15, 16, 19):
        one = reconstruct(movie[i], "fourier", unwrap="lsq")
        assert res.phase[i].tobytes() == one.phase.tobytes(), i
        assert res.metadata["frames"][i]["sideband_fy_fx"] == one.metadata["sideband_fy_fx"]


@pytest.mark.parametrize("search", ["each frame", "first frame"])
def test_frames_run_two_at_a_time_give_the_sequential_result_bit_for_bit(search):
    """Without previews (no progress callback) frames run in worker threads with one FFT thread
    each; with a callback they run one by one with batched row FFTs: the same bytes either way,
    frames and their records in order."""
    movie = _movie(9, 160)  # 160 rows: the full-size steps are split into row blocks too
    events = []
    seq = reconstruct(movie, "fourier", unwrap="none", sideband_search=search, progress=events.append)
    par = reconstruct(movie, "fourier", unwrap="none", sideband_search=search)
    assert seq.phase.tobytes() == par.phase.tobytes()
    assert seq.amplitude.tobytes() == par.amplitude.tobytes()
    assert [f["sideband_fy_fx"] for f in seq.metadata["frames"]] == [f["sideband_fy_fx"] for f in par.metadata["frames"]]
    frames_seen = [int(e.stage.split("/")[0].split()[1]) for e in events]
    assert frames_seen == sorted(frames_seen) and frames_seen[-1] == 9


def test_a_failing_frame_in_the_worker_threads_stops_the_run_with_its_error(monkeypatch):
    import itertools

    import napari_diffpr.retrieval.methods as rm
    from napari_diffpr.errors import RetrievalError

    real, calls = rm.demodulate, itertools.count()

    def fails_once(*args):
        if next(calls) == 3:  # the 4th frame to be filtered, in whichever worker thread
            raise RetrievalError("a frame failed in its worker")
        return real(*args)

    monkeypatch.setattr(rm, "demodulate", fails_once)
    with pytest.raises(RetrievalError, match="failed in its worker"):
        reconstruct(_movie(6, 96), "fourier", unwrap="none")


def test_first_frame_mode_searches_the_sideband_once(monkeypatch):
    movie = _movie(6)
    calls = []
    real = sideband_mod.coarse_sideband

    def counting(h):
        calls.append(1)
        return real(h)

    for mod in (sideband_mod, stack_mod):
        monkeypatch.setattr(mod, "coarse_sideband", counting)
    import napari_diffpr.retrieval.methods as rm

    monkeypatch.setattr(rm, "coarse_sideband", counting)
    once = reconstruct(movie, "fourier", unwrap="none", sideband_search="first frame")
    assert len(calls) == 1
    sb0 = once.metadata["frames"][0]["sideband_fy_fx"]
    assert all(f["sideband_fy_fx"] == sb0 for f in once.metadata["frames"])
    assert once.metadata["frames"][3]["sideband_from"].startswith("frame 0")
    calls.clear()
    each = reconstruct(movie, "fourier", unwrap="none")
    assert len(calls) == 6
    # the same carrier in every frame: the two modes agree within a small fraction of a radian
    d = np.angle(np.exp(1j * (once.phase - each.phase)))
    assert np.abs(d).mean() < 0.02
    # a caller's cache (the dock) gets the same sideband reuse, without the prefill
    again = reconstruct(movie, "fourier", unwrap="none", sideband_search="first frame", cache={})
    np.testing.assert_array_equal(again.phase, once.phase)


def test_no_fingerprint_without_a_callers_cache(monkeypatch):
    h = fringe_hologram(128)

    def forbidden(*a):
        raise AssertionError("the input was hashed although nobody keeps the cache")

    monkeypatch.setattr(caching, "fingerprint", forbidden)
    reconstruct(h, "fourier", unwrap="none")
    reconstruct(_movie(3), "fourier", unwrap="none")
    with pytest.raises(AssertionError, match="hashed"):
        reconstruct(h, "fourier", unwrap="none", cache={})  # a kept cache must know its input


@pytest.mark.parametrize("given", [False, True])
def test_torch_fft_path_matches_scipy_within_float32_noise(given):
    """fft_device='torch-cpu' runs the CUDA/MPS code path on the CPU: same field as scipy."""
    pytest.importorskip("torch")
    h = fringe_hologram(128, seed=4)
    bg = fringe_hologram(128, seed=5)
    kw = dict(unwrap="none", background_fit="none", sign="+1")
    if given:
        kw["sideband"] = (0.13, 0.21)
    ref = reconstruct(h, "fourier", background=bg, **kw)
    tor = reconstruct(h, "fourier", background=bg, fft_device="torch-cpu", **kw)
    assert tor.metadata["fft"] == "torch" and ref.metadata["fft"] == "scipy"
    assert tor.metadata["sideband_fy_fx"] == ref.metadata["sideband_fy_fx"]
    strong = ref.amplitude > 0.1 * ref.amplitude.max()
    d = np.angle(np.exp(1j * (tor.phase - ref.phase)))[strong]
    assert np.abs(d).max() < 1e-4
    np.testing.assert_allclose(tor.amplitude, ref.amplitude, rtol=1e-4, atol=1e-5 * ref.amplitude.max())


def test_fft_device_names_are_checked():
    from napari_diffpr.errors import ParameterError
    from napari_diffpr.retrieval.torch_fft import torch_device

    assert torch_device("cpu") is None
    with pytest.raises(ParameterError):
        reconstruct(fringe_hologram(64), "fourier", fft_device="tpu")
    pytest.importorskip("torch")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="not available"):
            torch_device("cuda")
