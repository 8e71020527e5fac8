"""Issue 12, part 1: N-D stacks (TZYX, T...YXC) and lazy dask input."""
from __future__ import annotations

import numpy as np
import pytest

from napari_diffpr.api import reconstruct
from napari_diffpr.errors import InputError, ParameterError

from conftest import fringe_hologram

da = pytest.importorskip("dask.array")


def _stack(shape_lead, size=64):
    frames = [fringe_hologram(size, seed=i) * (1 + 0.05 * i) for i in range(int(np.prod(shape_lead)))]
    return np.stack(frames).reshape(tuple(shape_lead) + (size, size))


def _rgb(size=64, seed=0):
    """Three defocused-looking channels of a smooth blob (positive intensities)."""
    y, x = np.mgrid[:size, :size].astype(np.float32)
    c = size / 2 + seed
    blob = np.exp(-((x - c) ** 2 + (y - size / 2) ** 2) / (2 * (size / 7) ** 2))
    return np.stack([1 + k * 0.1 * blob for k in (-1, 0, 1)], axis=-1).astype(np.float32) \
        + np.random.default_rng(seed).normal(0, 0.005, (size, size, 3)).astype(np.float32)


def test_tzyx_hologram_keeps_leading_axes_and_equals_frame_by_frame():
    data = _stack((2, 3))
    res = reconstruct(data, "fourier", unwrap="lsq")
    assert res.phase.shape == (2, 3, 64, 64)
    assert res.amplitude.shape == (2, 3, 64, 64)
    assert res.metadata["leading_shape"] == [2, 3]
    assert res.metadata["input_shape"] == [2, 3, 64, 64]
    assert len(res.metadata["frames"]) == 6
    one = reconstruct(data[1, 2], "fourier", unwrap="lsq")
    np.testing.assert_array_equal(res.phase[1, 2], one.phase)


def test_background_with_the_full_nd_shape_is_paired_frame_by_frame():
    data = _stack((2, 2))
    bg = np.stack([fringe_hologram(64, seed=9)] * 4).reshape(2, 2, 64, 64) * 1.01
    res = reconstruct(data, "fourier", background=bg, unwrap="lsq")
    one = reconstruct(data[1, 0], "fourier", background=bg[1, 0], unwrap="lsq")
    np.testing.assert_array_equal(res.phase[1, 0], one.phase)


def test_t_z_y_x_c_rgb_stack_goes_to_tie():
    frames = np.stack([_rgb(64, seed=i) for i in range(2)])
    data = np.stack([frames, frames[::-1]])  # 2 x 2 x H x W x 3
    res = reconstruct(data, "tie")
    assert res.metadata["method"] == "tie"
    assert res.phase.shape == (2, 2, 64, 64)
    np.testing.assert_array_equal(res.phase[1, 0], reconstruct(frames[1], "tie").phase)


def test_dask_round_trip_equals_eager_and_computes_only_what_is_asked():
    data = _stack((3,))
    lazy = reconstruct(da.from_array(data, chunks=(3, 64, 64)), "fourier", unwrap="lsq")
    assert isinstance(lazy.phase, da.Array)
    assert lazy.phase.chunks == ((1, 1, 1), (64,), (64,))  # one chunk per frame
    assert lazy.records == {}  # nothing computed yet
    frame = lazy.phase[1].compute(scheduler="sync")
    assert list(lazy.records) == [(1,)]  # only the frame asked for
    eager = reconstruct(data, "fourier", unwrap="lsq")
    np.testing.assert_array_equal(frame, eager.phase[1])
    full = lazy.compute(scheduler="threads")
    np.testing.assert_array_equal(full.phase, eager.phase)
    assert [r["sideband_fy_fx"] for r in full.metadata["frames"]] == \
        [r["sideband_fy_fx"] for r in eager.metadata["frames"]]
    np.testing.assert_array_equal(lazy.amplitude.compute(scheduler="sync"), eager.amplitude)
    assert lazy.frame_record(2)["sign"] == eager.metadata["frames"][2]["sign"]


def test_dask_nd_with_background_and_rgb():
    data = _stack((2, 2))
    bg = fringe_hologram(64, seed=7)
    lazy = reconstruct(da.from_array(data, chunks=(1, 2, 64, 64)), "fourier", background=bg, unwrap="none")
    assert lazy.phase.shape == (2, 2, 64, 64)
    np.testing.assert_array_equal(lazy.phase[1, 1].compute(scheduler="sync"),
                                  reconstruct(data[1, 1], "fourier", background=bg, unwrap="none").phase)
    rgb = np.stack([_rgb(64, seed=i) for i in range(2)])
    lazy_rgb = reconstruct(da.from_array(rgb), "tie")
    assert lazy_rgb.phase.shape == (2, 64, 64)
    np.testing.assert_array_equal(lazy_rgb.phase.compute(scheduler="sync"), reconstruct(rgb, "tie").phase)


def test_lazy_errors_early_for_bad_parameters_and_shapes():
    data = da.from_array(_stack((2,)))
    with pytest.raises(ParameterError):
        reconstruct(data, "fourier", filter_size="big")
    with pytest.raises(InputError):
        reconstruct(data, "fourier", background=np.ones((10, 10), np.float32))


def test_cli_reconstructs_a_tzyx_tiff_and_writes_tzyx(tmp_path):
    from napari_diffpr import io
    from napari_diffpr.cli import main

    data = (_stack((2, 2)) * 1000).astype(np.uint16)
    src = io.write_tiff(tmp_path / "tz.tif", data, {"pixel_size_um": 0.2})
    assert io.read(src)[0].data.shape == (2, 2, 64, 64)
    assert main(["reconstruct", str(src), "-o", str(tmp_path / "p.tif"), "--unwrap", "lsq", "-q"]) == 0
    item, = io.read(tmp_path / "p.tif")
    assert item.data.shape == (2, 2, 64, 64) and item.metadata["axes"] == "TZYX"
    np.testing.assert_array_equal(item.data[1, 0], reconstruct(data[1, 0], "fourier", unwrap="lsq").phase)
