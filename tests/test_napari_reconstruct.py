"""The Reconstruct dock: forms from the registry, runs on a worker, slider re-runs only the
refinement, cancel leaves the viewer as it was, errors reset the UI."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(make_napari_viewer, hologram, stub_refine_method):
    viewer = make_napari_viewer()
    viewer.add_image(hologram, name="holo", scale=(0.25, 0.25), translate=(1.0, 2.0),
                     units=("µm", "µm"), axis_labels=("y", "x"), metadata={"pixel_size_um": 0.25})
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Reconstruct")[1]
    widget._method.value = "stub-refine"
    return viewer, widget, stub_refine_method


def _run(qtbot, widget):
    worker = widget.run(start=False)
    assert worker is not None, widget._status.value
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    return worker


def test_float_fields_keep_physical_precision(make_napari_viewer, hologram, stub_refine_method):
    viewer = make_napari_viewer()
    viewer.add_image(hologram, name="holo", metadata={"pixel_size_um": 0.08475})
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Reconstruct")[1]
    widget.set_method("stub-refine")
    assert widget.form.values()["pixel_size"] == pytest.approx(0.08475, abs=1e-9)
    widget.set_params(pixel_size=0.1234567)
    assert widget.form.values()["pixel_size"] == pytest.approx(0.1234567, abs=1e-9)


def test_form_is_built_from_the_param_spec(dock):
    viewer, widget, _ = dock
    form = widget.form
    names = [w.name for w in form]
    # every declared parameter except the device (the dock's own dropdown) has a control
    assert names == ["t_corrupt", "steps", "delay", "gain", "pixel_size"]
    assert form["t_corrupt"].widget_type == "Slider"
    assert (form["t_corrupt"].min, form["t_corrupt"].max) == (0, 999)
    assert form["pixel_size"].label.endswith("(µm)")
    assert "camera pixel size" in form["pixel_size"].tooltip
    # the physical parameter defaults from the layer's metadata
    assert form["pixel_size"].value == pytest.approx(0.25)
    # a user's edit survives layers being added (results, previews)
    form["pixel_size"].value = 0.3
    viewer.add_image(np.ones((40, 40)), name="other")
    assert widget.form["pixel_size"].value == pytest.approx(0.3)
    assert widget._device.enabled
    assert widget._device.choices == ("auto", "cpu", "cuda", "mps")
    labels = [widget._device.native.itemText(i) for i in range(4)]
    from napari_diffpr.device import available_devices

    assert labels[0] == f"auto ({available_devices()[0]})"


def test_run_adds_a_layer_with_input_geometry_and_record(qtbot, dock, hologram):
    viewer, widget, counter = dock
    original = viewer.layers["holo"].data.copy()
    widget.set_params(gain=2.0)
    _run(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["holo"].data, original)  # input untouched
    assert widget._status.value.startswith("done: holo [stub-refine]")
    assert widget._status.value.endswith("on auto")  # the device the method reports
    name = "holo [stub-refine]"
    assert name in viewer.layers
    layer = viewer.layers[name]
    assert layer.data.shape == hologram.shape and layer.data.dtype == np.float32
    np.testing.assert_allclose(layer.scale, (0.25, 0.25))
    np.testing.assert_allclose(layer.translate, (1.0, 2.0))
    assert [str(u) for u in layer.units] == ["micrometer", "micrometer"]
    assert tuple(layer.axis_labels) == ("y", "x")
    assert layer.metadata["method"] == "stub-refine"
    assert layer.metadata["parameters"]["gain"] == 2.0
    assert layer.metadata["parameters"]["device"] == "auto"
    assert layer.metadata["source_layer"] == "holo"
    assert layer.metadata["phase_unit"] == "rad"
    assert layer.colorbar.visible
    # previews were shown live and removed at the end
    assert not any(lay.name.endswith("preview") for lay in viewer.layers), [lay.name for lay in viewer.layers]
    # a re-run updates the same layer instead of adding a copy
    n_layers = len(viewer.layers)
    widget.set_params(gain=3.0)
    _run(qtbot, widget)
    assert len(viewer.layers) == n_layers
    assert viewer.layers[name].metadata["parameters"]["gain"] == 3.0
    assert counter.stage1 == 2  # gain is a stage-1 parameter: the cache was not reused


def test_preview_layer_appears_during_the_run(qtbot, dock):
    viewer, widget, _ = dock
    widget.set_params(steps=3)
    seen = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda ev: seen.append("holo [stub-refine] preview" in viewer.layers))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert any(seen)
    assert "holo [stub-refine] preview" not in viewer.layers


def test_slider_reruns_only_the_refinement(qtbot, dock, hologram):
    viewer, widget, counter = dock
    widget.form["t_corrupt"].value = 200  # before any run: nothing to refine, nothing starts
    widget.form["t_corrupt"].value = 250
    qtbot.wait(400)
    assert counter.runs == 0 and widget.worker is None
    widget.form["t_corrupt"].value = 200
    _run(qtbot, widget)
    first = viewer.layers["holo [stub-refine]"].data.copy()
    assert (counter.stage1, counter.runs) == (1, 1)
    # moving the slider several times quickly gives one debounced re-run
    for t in (300, 500, 700):
        widget.form["t_corrupt"].value = t
    # the dock starts the re-run itself after the debounce; wait for it to have run and ended
    qtbot.waitUntil(lambda: counter.runs == 2 and widget.worker is None, timeout=60_000)
    qtbot.wait(400)  # longer than the debounce: no further run may follow
    assert counter.runs == 2
    assert counter.stage1 == 1  # stage 1 came from the cache
    layer = viewer.layers["holo [stub-refine]"]
    assert layer.metadata["parameters"]["t_corrupt"] == 700
    np.testing.assert_allclose(layer.data, first / 1.2 * 1.7, rtol=1e-5, atol=1e-6)


def test_slider_cancels_the_job_in_flight(qtbot, dock):
    viewer, widget, counter = dock
    _run(qtbot, widget)
    widget.set_params(steps=40, delay=0.05)  # a stage-1 change: next run recomputes stage 1
    _run(qtbot, widget)
    assert counter.stage1 == 2
    widget.form["t_corrupt"].value = 100
    qtbot.waitUntil(lambda: widget.worker is not None, timeout=5_000)
    first_worker = widget.worker
    widget.form["t_corrupt"].value = 900  # while the first re-run is in flight
    with qtbot.waitSignal(first_worker.aborted, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: widget.worker is not None and widget.worker is not first_worker,
                    timeout=10_000)
    with qtbot.waitSignal(widget.worker.finished, timeout=60_000):
        pass
    assert viewer.layers["holo [stub-refine]"].metadata["parameters"]["t_corrupt"] == 900
    assert counter.stage1 == 2


def test_cancel_mid_run_adds_nothing(qtbot, dock):
    viewer, widget, _ = dock
    widget.set_params(steps=50, delay=0.05)
    before = [layer.name for layer in viewer.layers]
    worker = widget.run(start=False)
    aborted, returned = [], []
    worker.aborted.connect(lambda: aborted.append(True))
    worker.returned.connect(returned.append)
    with qtbot.waitSignal(worker.yielded, timeout=10_000):
        worker.start()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        widget._cancel_button.clicked.emit()
    assert aborted == [True] and returned == []
    assert [layer.name for layer in viewer.layers] == before
    assert widget._run_button.enabled and not widget._cancel_button.enabled
    assert widget._status.value == "cancelled"


def test_error_resets_the_ui_with_an_out_of_memory_hint(qtbot, dock, stub_failing_method):
    viewer, widget, _ = dock
    widget.reset_choices()  # registered after the dock was built: it appears on refresh
    widget._method.value = stub_failing_method
    before = [layer.name for layer in viewer.layers]
    from napari.utils.notifications import notification_manager

    errors, posted = [], []
    notification_manager.notification_ready.connect(posted.append)
    worker = widget.run(start=False)
    worker.errored.connect(lambda exc: errors.append(exc.original))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    assert errors and "out of memory" in str(errors[0])
    assert widget._run_button.enabled and not widget._cancel_button.enabled
    assert "smaller crop" in widget._status.value and "stub-fail" in widget._status.value
    assert [layer.name for layer in viewer.layers] == before
    assert widget.worker is None
    notification_manager.notification_ready.disconnect(posted.append)
    # one clear notification (napari's raw traceback relay is replaced by the dock's message)
    messages = [str(n.message) for n in posted]
    assert messages == [widget._status.value], messages


def test_invalid_text_parameter_is_reported_not_run(make_napari_viewer, hologram):
    from napari_diffpr.methods import Method, Param, register, unregister

    def run(data, *, background=None, cache=None, sideband=None):
        raise AssertionError("must not run with an unreadable parameter")
        yield

    register(Method(name="stub-optional", modality="hologram", title="t", description="d", run=run,
                    params=(Param("sideband", "floats", None, "sideband centre (cycles/px)",
                                  optional=True, length=2),)), replace=True)
    try:
        viewer = make_napari_viewer()
        viewer.add_image(hologram, name="holo")
        widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Reconstruct")[1]
        widget._method.value = "stub-optional"
        before = [layer.name for layer in viewer.layers]
        widget.form["sideband"].value = "0.2, abc"
        assert widget.run() is None
        assert "sideband" in widget._status.value and "abc" in widget._status.value
        widget.form["sideband"].value = "0.2, 0.1, 0.3"
        assert widget.run() is None
        assert "expects 2 values" in widget._status.value
        widget.set_params(sideband=(0.123456789, -0.25))
        assert widget.form.values() == {"sideband": (0.123456789, -0.25)}  # no digits lost
        widget.form["sideband"].value = ""  # empty = automatic
        assert widget.form.values() == {"sideband": None}
        assert [layer.name for layer in viewer.layers] == before and widget.worker is None
    finally:
        unregister("stub-optional")


def test_stack_reconstructs_frame_by_frame(qtbot, make_napari_viewer, hologram, stub_refine_method):
    viewer = make_napari_viewer()
    stack = np.stack([hologram, hologram[::-1], hologram[:, ::-1]])
    viewer.add_image(stack, name="series", scale=(2.0, 0.5, 0.5))
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Reconstruct")[1]
    widget._method.value = "stub-refine"
    bars = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda ev: bars.append(widget._bar.value))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    # one bar over the whole stack, not one per frame
    assert bars == sorted(bars) and bars[-1] == 100 and bars[len(bars) // 2] < 100
    layer = viewer.layers["series [stub-refine]"]
    assert layer.data.shape == stack.shape
    np.testing.assert_allclose(layer.scale, (2.0, 0.5, 0.5))
    assert layer.metadata["n_frames"] == 3
    assert stub_refine_method.stage1 == 3


def test_describe_error_names_the_method_and_hints_at_memory():
    from napari_diffpr._napari.worker import describe_error
    from napari_diffpr.errors import RetrievalError

    msg = describe_error(RetrievalError("no sideband peak found"), "fourier")
    assert msg == "Reconstruction with 'fourier' failed: no sideband peak found"
    assert "smaller crop" in describe_error(MemoryError("Unable to allocate 8 GiB"), "diffpr")
    assert "ZeroDivisionError" in describe_error(ZeroDivisionError("x"), "tie")


def test_registered_diffpr_method_gets_its_refinement_controls(make_napari_viewer, hologram):
    from napari_diffpr import methods
    if "diffpr" not in methods():
        pytest.skip("the DiffPR models are not registered in this checkout")
    viewer = make_napari_viewer()
    viewer.add_image(hologram, name="holo")
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Reconstruct")[1]
    widget.set_method("diffpr")
    method = methods()["diffpr"]
    shown = {w.name: w.widget_type for w in widget.form}
    assert set(shown) == {p.name for p in method.params} - {"device"}
    sliders = [p.name for p in method.params if p.widget == "slider"]
    assert sliders and all(shown[name] == "Slider" for name in sliders)
    assert set(method.refine_only_params) <= set(shown)
    assert widget._device.enabled
