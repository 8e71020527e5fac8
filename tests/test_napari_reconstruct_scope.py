"""Issue 12 in the Reconstruct dock: a stack input gets a scope choice -- the current frame, the
whole stack as a lazy layer, or the whole stack computed now. Opened through napari's plugin
path (a proxy viewer) and driven with Qt events; a lazily loaded (dask) time-lapse must never be
read whole, and a 2-D background still pairs with the stack."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSlider

from napari_diffpr import reconstruct
from napari_diffpr.optics import simulate

pytestmark = pytest.mark.gui
PLUGIN = "napari-diffpr"
N, SIZE = 6, 128
SCALE = (2.0, 0.25, 0.25)
TRANSLATE = (0.0, 1.0, 2.0)


# ---- Qt helpers (as a user would do it) --------------------------------------------------------
def _click(qtbot, button):
    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)


def _choose(qtbot, combo, text):
    """Pick the item shown as (or holding) ``text`` in a magicgui ComboBox with key presses."""
    box = combo.native
    box.setFocus()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
        for _ in range(box.count()):
            if text in (box.currentText(), box.currentData()):
                return
            qtbot.keyClick(box, key)
    if text not in (box.currentText(), box.currentData()):
        raise AssertionError(f"{text!r} not among {[box.itemText(i) for i in range(box.count())]}")


def _move_dims_slider(qtbot, viewer, frame: int):
    """Drag napari's time slider (the Qt one under the canvas) to ``frame``."""
    slider = viewer.window._qt_viewer.dims.slider_widgets[0].slider
    slider.setValue(frame)
    qtbot.waitUntil(lambda: viewer.dims.current_step[0] == frame, timeout=5_000)


def _run_and_wait(qtbot, widget):
    _click(qtbot, widget._run_button)
    assert widget._status.value != "ready", "Run did nothing"
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget._status.value.startswith(("done", "lazy")), widget._status.value


# ---- data --------------------------------------------------------------------------------------
class Movie:
    """A 6-frame 128² hologram time-lapse behind a dask array whose frames are loaded one by
    one (as from an OME-Zarr); ``loads`` lists every frame read, in any thread."""

    def __init__(self):
        import dask
        import dask.array as da

        samples = [simulate.sample("hologram", size=SIZE, seed=i) for i in range(N)]
        self.frames = np.stack([s["measurement"] for s in samples]).astype(np.float32)
        self.background = samples[0]["background"].astype(np.float32)
        self.loads: list[int] = []
        self._lock = threading.Lock()

        def load(i):
            with self._lock:
                self.loads.append(i)
            return self.frames[i]

        self.data = da.stack([da.from_delayed(dask.delayed(load)(i), (SIZE, SIZE), np.float32) for i in range(N)])

    def read(self) -> set[int]:
        """The frames read since the last call."""
        with self._lock:
            read, self.loads[:] = set(self.loads), []
        return read


@pytest.fixture
def movie_viewer(qtbot, make_napari_viewer):
    movie = Movie()
    viewer = make_napari_viewer()
    # explicit contrast limits: napari would otherwise scan the whole stack for them
    viewer.add_image(movie.data, name="movie", scale=SCALE, translate=TRANSLATE, units=("s", "µm", "µm"),
                     axis_labels=("t", "y", "x"), contrast_limits=(0.0, 2.0), metadata={"pixel_size_um": 0.25})
    viewer.add_image(movie.background, name="movie background", scale=SCALE[1:], translate=TRANSLATE[1:],
                     units=("µm", "µm"), metadata={"pixel_size_um": 0.25})
    movie.read()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Reconstruct")
    _choose(qtbot, widget._input, "movie")
    _choose(qtbot, widget._method, "fourier")
    return viewer, widget, movie


def _expected(movie, widget, frames):
    """What a script gets: ``reconstruct`` with the dock's parameters and the paired background."""
    return reconstruct(movie.frames[frames], "fourier", background=movie.background, **widget.form.values()).phase


@pytest.fixture
def method_calls(monkeypatch):
    """The shape of every measurement the dock hands to run_method."""
    from napari_diffpr._napari import worker

    calls = []
    original = worker.run_method

    def counting(data, *args, **kwargs):
        calls.append(np.shape(data))
        return (yield from original(data, *args, **kwargs))

    monkeypatch.setattr(worker, "run_method", counting)
    return calls


# ---- tests -------------------------------------------------------------------------------------
def test_scope_shows_for_stacks_only_and_defaults_to_the_current_frame_when_lazy(qtbot, movie_viewer):
    viewer, widget, movie = movie_viewer
    assert not widget._scope.native.isHidden()
    assert widget._scope.value == "frame"  # a lazy stack: never every frame unasked
    assert [widget._scope.native.itemText(i) for i in range(widget._scope.native.count())] == [
        "current frame", "whole stack, lazy", "whole stack, compute now"]
    # the 2-D background pairs with the stack by name
    assert widget._background.value == "movie background"
    assert "paired by name" in widget._pairing.value and "⚠" not in widget._pairing.value
    # a 2-D input: no scope
    _choose(qtbot, widget._input, "movie background")
    assert widget._scope.native.isHidden()
    # a small in-memory stack: the whole stack, computed now, as before
    viewer.add_image(movie.frames[:3].copy(), name="small stack")
    _choose(qtbot, widget._input, "small stack")
    assert not widget._scope.native.isHidden() and widget._scope.value == "all"
    _choose(qtbot, widget._input, "movie")
    assert widget._scope.value == "frame"
    assert movie.read() <= {0}, "choosing the stack read more than the frame on screen"


def _run_at_frame(qtbot, movie_viewer, scope: str, frame: int):
    """Choose ``scope``, move the time slider to ``frame``, forget the reads so far, run."""
    viewer, widget, movie = movie_viewer
    _choose(qtbot, widget._scope, scope)
    _move_dims_slider(qtbot, viewer, frame)
    movie.read()
    _run_and_wait(qtbot, widget)
    return viewer, widget, movie


def test_current_frame_reconstructs_only_the_viewed_frame(qtbot, movie_viewer, method_calls):
    viewer, widget, movie = _run_at_frame(qtbot, movie_viewer, "current frame", 3)
    assert method_calls == [(SIZE, SIZE)]  # one frame went to the method
    assert movie.read() <= {3}  # and only frame 3 was read: the stack was not materialised
    layer = viewer.layers["movie [fourier] [t=3]"]
    np.testing.assert_array_equal(layer.data, _expected(movie, widget, 3))
    assert layer.data.shape == (SIZE, SIZE)
    np.testing.assert_allclose(layer.scale, SCALE[1:])
    np.testing.assert_allclose(layer.translate, TRANSLATE[1:])
    assert layer.metadata["frame_index"] == [3] and layer.metadata["stack_shape"] == [N, SIZE, SIZE]
    assert layer.metadata["background_used"] is True and layer.metadata["source_layer"] == "movie"
    assert "movie [fourier]" not in viewer.layers  # no whole-stack layer


def test_whole_stack_lazy_computes_the_frames_viewed(qtbot, movie_viewer, method_calls):
    viewer, widget, movie = _run_at_frame(qtbot, movie_viewer, "whole stack, lazy", 3)
    layer = viewer.layers["movie [fourier] (lazy)"]
    assert type(layer.data).__module__.startswith("dask") and layer.data.shape == (N, SIZE, SIZE)
    np.testing.assert_allclose(layer.scale, SCALE)
    assert layer.metadata["lazy"] is True and layer.metadata["source_layer"] == "movie"
    assert set(widget.lazy.records) == {(3,)}  # only the frame on screen was computed
    assert movie.read() <= {3}
    assert method_calls == []  # nothing ran eagerly through the dock's whole-stack path
    _move_dims_slider(qtbot, viewer, 1)
    qtbot.waitUntil(lambda: (1,) in widget.lazy.records, timeout=30_000)
    assert set(widget.lazy.records) == {(1,), (3,)}  # scrolling computes the frame viewed, nothing else
    assert widget.lazy.records[(1,)]["background_used"] is True
    np.testing.assert_array_equal(np.asarray(layer.data[1]), _expected(movie, widget, 1))


def test_whole_stack_compute_now_gives_every_frame(qtbot, movie_viewer):
    viewer, widget, movie = movie_viewer
    _choose(qtbot, widget._scope, "whole stack, compute now")
    bars = []
    widget._bar.changed.connect(bars.append)
    _run_and_wait(qtbot, widget)
    layer = viewer.layers["movie [fourier]"]
    assert isinstance(layer.data, np.ndarray) and layer.data.shape == (N, SIZE, SIZE)
    np.testing.assert_allclose(layer.data, _expected(movie, widget, slice(None)), atol=1e-5)
    np.testing.assert_allclose(layer.scale, SCALE)
    assert layer.metadata["n_frames"] == N and layer.metadata["background_used"] is True
    assert bars[-1] == 100 and any(0 < b < 100 for b in bars)  # one bar over the whole stack


def test_slider_refines_the_frame_and_stage1_is_kept_per_frame(qtbot, make_napari_viewer, stub_refine_method):
    counter = stub_refine_method
    movie = Movie()
    viewer = make_napari_viewer()
    viewer.add_image(movie.data, name="movie", axis_labels=("t", "y", "x"), contrast_limits=(0.0, 2.0))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Reconstruct")
    _choose(qtbot, widget._input, "movie")
    _choose(qtbot, widget._method, "stub-refine")
    assert widget._scope.value == "frame"
    _move_dims_slider(qtbot, viewer, 3)
    _run_and_wait(qtbot, widget)
    assert (counter.stage1, counter.runs) == (1, 1)
    slider = widget.form["t_corrupt"].native.findChild(QSlider)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: counter.runs == 2 and widget.worker is None, timeout=60_000)
    assert counter.stage1 == 1  # the refinement re-ran on frame 3's cached stage 1
    t = slider.value()
    assert viewer.layers["movie [stub-refine] [t=3]"].metadata["parameters"]["t_corrupt"] == t

    def stub(frame):
        d = movie.frames[frame].astype(np.float32)
        return (d - d.mean()) / d.std() * (1 + t / 1000.0)

    np.testing.assert_allclose(viewer.layers["movie [stub-refine] [t=3]"].data, stub(3), rtol=1e-5, atol=1e-5)
    # another frame: a fresh stage 1, never frame 3's
    _move_dims_slider(qtbot, viewer, 5)
    _run_and_wait(qtbot, widget)
    assert counter.stage1 == 2
    np.testing.assert_allclose(viewer.layers["movie [stub-refine] [t=5]"].data, stub(5), rtol=1e-5, atol=1e-5)
    # the slider now refines frame 5 on its own stage 1
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: counter.runs == 4 and widget.worker is None, timeout=60_000)
    assert counter.stage1 == 2
    t = slider.value()
    np.testing.assert_allclose(viewer.layers["movie [stub-refine] [t=5]"].data, stub(5), rtol=1e-5, atol=1e-5)
