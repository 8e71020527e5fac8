"""Issue 12 in napari: a CLI-written OME-Zarr opens lazily with its scale; the Stack dock
(through napari's plugin path) computes only the viewed frame, and "Compute all" has progress
and Cancel."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from conftest import fringe_hologram  # noqa: E402

from napari_diffpr import io, omezarr  # noqa: E402
from napari_diffpr.api import reconstruct  # noqa: E402
from napari_diffpr.cli import main  # noqa: E402

N = 5


@pytest.fixture
def movie(tmp_path):
    stack = np.stack([fringe_hologram(64, seed=i) for i in range(N)])
    path = omezarr.write(tmp_path / "movie.ome.zarr", stack, {"pixel_size_um": 0.2, "time_step_s": 2.0},
                         kind="hologram")
    return path, stack


def _dock(viewer):
    return viewer.window.add_plugin_dock_widget("napari-diffpr", "Stack")[1]


def test_cli_written_ome_zarr_opens_lazily_with_its_scale(tmp_path, movie, make_napari_viewer):
    path, stack = movie
    out = tmp_path / "phase.ome.zarr"
    assert main(["reconstruct", str(path), "-o", str(out), "--workers", "0", "--unwrap", "lsq", "-q"]) == 0
    viewer = make_napari_viewer()
    layer, = viewer.open(str(out), plugin="napari-diffpr")
    assert tuple(layer.scale) == pytest.approx((2.0, 0.2, 0.2))
    assert [str(u) for u in layer.units] == ["second", "micrometer", "micrometer"]
    assert tuple(layer.axis_labels) == ("t", "y", "x")
    assert type(layer.data).__module__.startswith("dask")
    assert layer.metadata["method"] == "fourier"
    np.testing.assert_array_equal(np.asarray(layer.data[3]), reconstruct(stack[3], "fourier", unwrap="lsq").phase)


def test_stack_dock_computes_only_the_viewed_frame_then_all_with_cancel(qtbot, movie, make_napari_viewer):
    path, stack = movie
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-diffpr")  # a lazy (dask) input
    dock = _dock(viewer)
    assert dock._input.value == "movie"
    dock._method.value = "fourier"
    dock.form.set_values({"unwrap": "lsq"})
    viewer.dims.set_current_step(0, 3)
    worker = dock.run_lazy()
    qtbot.waitUntil(lambda: dock.result_layer is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    layer = dock.result_layer
    assert type(layer.data).__module__.startswith("dask")
    assert tuple(layer.scale) == pytest.approx((2.0, 0.2, 0.2))
    assert set(dock.lazy.records) == {(3,)}  # only the frame on screen
    viewer.dims.set_current_step(0, 1)
    qtbot.waitUntil(lambda: (1,) in dock.lazy.records, timeout=30_000)
    assert set(dock.lazy.records) == {(1,), (3,)}  # scrolling computes the frame viewed, nothing else
    eager = reconstruct(stack, "fourier", unwrap="lsq")
    np.testing.assert_array_equal(np.asarray(layer.data[1]), eager.phase[1])

    # Cancel: quit at the first progress event; the layer stays lazy
    worker = dock.compute_all()
    worker.yielded.connect(lambda *_: dock.cancel())
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert type(dock.result_layer.data).__module__.startswith("dask")
    assert dock._status.value == "cancelled"
    # Compute all: progress to N, then the layer holds every frame, equal to the eager run
    worker = dock.compute_all()
    seen = []
    worker.yielded.connect(seen.append)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert seen[-1] == (N, N)
    assert isinstance(dock.result_layer.data, np.ndarray)
    np.testing.assert_array_equal(dock.result_layer.data, eager.phase)
    assert len(dock.result_layer.metadata["frames"]) == N

    # Current frame: a 2-D layer of the viewed frame
    worker = dock.run_current()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    frame_layer = viewer.layers["movie [fourier] frame (1,)"]
    np.testing.assert_array_equal(frame_layer.data, eager.phase[1])
    assert tuple(frame_layer.scale) == pytest.approx((0.2, 0.2))
    io  # noqa: B018 - the reader path above went through io.read


def test_a_long_tiff_time_lapse_opens_lazily(tmp_path, make_napari_viewer, monkeypatch):
    from napari_diffpr._napari import lazy_layers

    stack = (np.stack([fringe_hologram(64, seed=i) for i in range(6)]) * 1000).astype(np.uint16)
    path = io.write_tiff(tmp_path / "lapse.tif", stack, {"pixel_size_um": 0.3})
    monkeypatch.setattr(lazy_layers, "LAZY_TIFF_FRAMES", 5)  # the real threshold is 100 frames
    viewer = make_napari_viewer()
    layer, = viewer.open(str(path), plugin="napari-diffpr")
    assert type(layer.data).__module__.startswith("dask")
    assert layer.data.chunks[0] == (1,) * 6  # one chunk per page
    assert tuple(layer.scale)[-2:] == pytest.approx((0.3, 0.3))
    np.testing.assert_array_equal(np.asarray(layer.data[4]), stack[4])
    monkeypatch.setattr(lazy_layers, "LAZY_TIFF_FRAMES", 100)
    small, = viewer.open(str(path), plugin="napari-diffpr")
    assert isinstance(small.data, np.ndarray)  # short stacks load whole, as before
