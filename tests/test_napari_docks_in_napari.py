"""The docks as a user meets them: opened through napari's plugin path (which hands them a
``PublicOnlyProxy`` viewer, so ``id(layer)`` changes on every access) and driven with real Qt
events. One regression test per defect of issue 9."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QSlider

from conftest import fringe_hologram

pytestmark = pytest.mark.gui
PLUGIN = "napari-diffpr"


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _click(qtbot, button):
    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)


def _choose(qtbot, combo, text):
    """Pick ``text`` in a magicgui ComboBox with key presses, as a user would."""
    box = combo.native
    box.setFocus()
    for _ in range(box.count()):
        if box.currentText() == text or box.currentData() == text:
            return
        qtbot.keyClick(box, Qt.Key.Key_Down)
    for _ in range(box.count()):
        if box.currentText() == text or box.currentData() == text:
            return
        qtbot.keyClick(box, Qt.Key.Key_Up)
    raise AssertionError(f"{text!r} not among {[box.itemText(i) for i in range(box.count())]}")


def _run_and_wait(qtbot, widget):
    """Click Run and wait for the job to end (it may end before this function looks)."""
    _click(qtbot, widget._run_button)
    assert widget._status.value != "ready", "Run did nothing"
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget._status.value.startswith("done"), widget._status.value


@pytest.fixture
def holo_viewer(make_napari_viewer, stub_refine_method):
    viewer = make_napari_viewer()
    viewer.add_image(fringe_hologram(64), name="holo", scale=(0.25, 0.25), units=("µm", "µm"),
                     metadata={"pixel_size_um": 0.25})
    widget = _dock(viewer, "Reconstruct")
    widget.set_method("stub-refine")
    return viewer, widget, stub_refine_method


def test_the_dock_gets_a_proxy_viewer_whose_layers_change_identity(holo_viewer):
    viewer, widget, _ = holo_viewer
    # the premise of the fixes: a plugin's viewer hands out new layer objects on every access
    assert type(widget._viewer).__name__ == "PublicOnlyProxy"
    assert id(widget._viewer.layers["holo"]) != id(widget._viewer.layers["holo"])


# ---- 1. the corruption-level slider ------------------------------------------------------------
def test_slider_keys_and_clicks_rerun_only_the_refinement(qtbot, holo_viewer):
    viewer, widget, counter = holo_viewer
    _run_and_wait(qtbot, widget)
    assert (counter.stage1, counter.runs) == (1, 1)
    slider = widget.form["t_corrupt"].native.findChild(QSlider)
    before = slider.value()
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert slider.value() > before
    qtbot.waitUntil(lambda: counter.runs == 2 and widget.worker is None, timeout=60_000)
    layer = viewer.layers["holo [stub-refine]"]
    assert layer.metadata["parameters"]["t_corrupt"] == slider.value()
    assert counter.stage1 == 1  # the refinement re-ran on the cached stage 1
    # a click on the track moves the slider too, and re-runs again
    value = slider.value()
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() * 5 // 6, slider.height() // 2))
    qtbot.waitUntil(lambda: slider.value() != value, timeout=5_000)
    qtbot.waitUntil(lambda: counter.runs == 3 and widget.worker is None, timeout=60_000)
    assert viewer.layers["holo [stub-refine]"].metadata["parameters"]["t_corrupt"] == slider.value()
    assert counter.stage1 == 1
    # pressing Run again with the same settings reuses stage 1 as well
    _run_and_wait(qtbot, widget)
    assert counter.stage1 == 1 and counter.runs == 4


# ---- 2. background pairing ---------------------------------------------------------------------
def _write_tiffs(tmp_path):
    rng = np.random.default_rng(3)
    holo = fringe_hologram(96, seed=1)
    bg = (1 + 0.8 * np.cos(2 * np.pi * (0.21 * np.arange(96)[None, :] + 0.13 * np.arange(96)[:, None]))
          + rng.normal(0, 0.01, (96, 96))).astype(np.float32)
    tifffile.imwrite(tmp_path / "tcell.tif", holo)
    tifffile.imwrite(tmp_path / "tcell_background.tif", bg)
    other = (1 + 0.8 * np.cos(2 * np.pi * 0.31 * np.arange(96)[None, :] + 0 * np.arange(96)[:, None])).astype(np.float32)
    tifffile.imwrite(tmp_path / "tcell_bg2.tif", np.broadcast_to(other, (96, 96)).copy())
    return holo, bg


def test_background_follows_the_input_and_never_crosses_datasets(qtbot, tmp_path, make_napari_viewer):
    holo, bg = _write_tiffs(tmp_path)
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "hologram")
    widget = _dock(viewer, "Reconstruct")
    _choose(qtbot, widget._input, "hologram")
    assert widget._background.value == "hologram background"
    assert "same file" in widget._pairing.value
    viewer.open(str(tmp_path / "tcell.tif"), plugin="napari")
    viewer.open(str(tmp_path / "tcell_background.tif"), plugin="napari")
    _choose(qtbot, widget._input, "tcell")
    _choose(qtbot, widget._method, "fourier")
    # paired by name; the sample's background (another size) is not even offered
    assert widget._background.value == "tcell_background"
    assert "hologram background" not in widget._background.choices
    assert "paired by name" in widget._pairing.value and "⚠" not in widget._pairing.value
    # a background whose fringes differ is flagged
    viewer.open(str(tmp_path / "tcell_bg2.tif"), plugin="napari")
    _choose(qtbot, widget._background, "tcell_bg2")
    assert "your choice" in widget._pairing.value and "do not match" in widget._pairing.value
    # back to the sample: its own background again, never the leftover
    _choose(qtbot, widget._input, "hologram")
    assert widget._background.value == "hologram background"
    _choose(qtbot, widget._input, "tcell")
    assert widget._background.value == "tcell_background"
    _run_and_wait(qtbot, widget)
    layer = viewer.layers["tcell [fourier]"]
    assert layer.metadata["background_used"] is True
    assert layer.metadata["source_layer"] == "tcell"
    assert layer.metadata["source_layer_id"] == str(viewer.layers["tcell"].unique_id)


# ---- 3. the user's parameters are kept ----------------------------------------------------------
def test_edited_parameters_survive_runs_and_reset_from_file(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "rgb")
    widget = _dock(viewer, "Reconstruct")
    _choose(qtbot, widget._input, "RGB brightfield")
    _choose(qtbot, widget._method, "tie")
    file_px = viewer.layers["RGB brightfield"].metadata["pixel_size_um"]
    px = widget.form["pixel_size"].native
    px.setFocus()
    px.selectAll()
    qtbot.keyClicks(px, "0.25")
    qtbot.keyClick(px, Qt.Key.Key_Return)
    wl = widget.form["wavelengths"].native
    wl.setFocus()
    wl.selectAll()
    qtbot.keyClicks(wl, "0.61, 0.53, 0.47")
    qtbot.keyClick(wl, Qt.Key.Key_Return)
    for _ in range(2):  # the first run adds the result layer; the second must still use the edits
        _run_and_wait(qtbot, widget)
        params = viewer.layers["RGB brightfield [tie]"].metadata["parameters"]
        assert params["pixel_size"] == pytest.approx(0.25)
        assert params["wavelengths"] == pytest.approx([0.61, 0.53, 0.47])
        assert widget.form.values()["pixel_size"] == pytest.approx(0.25)
    _click(qtbot, widget._reset)
    assert widget.form.values()["pixel_size"] == pytest.approx(file_px)
    assert "pixel_size" in widget._status.value


# ---- 4. metrics and profile stay within a dataset ------------------------------------------------
def test_metrics_and_profile_do_not_mix_datasets(qtbot, tmp_path, make_napari_viewer):
    from napari_diffpr import compare

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "hologram")
    viewer.open_sample(PLUGIN, "rgb")
    recon = _dock(viewer, "Reconstruct")
    _choose(qtbot, recon._input, "RGB brightfield")
    _choose(qtbot, recon._method, "tie")
    _run_and_wait(qtbot, recon)
    _choose(qtbot, recon._input, "hologram")
    _choose(qtbot, recon._method, "fourier")
    _run_and_wait(qtbot, recon)
    metrics = _dock(viewer, "Metrics")
    profile = _dock(viewer, "Line profile")
    # the selected result is the hologram's: its own ground truth is the reference
    assert metrics._reference.value == "hologram ground truth"
    results = metrics.compute()
    assert list(results) == ["hologram [fourier]"]
    assert results["hologram [fourier]"]["psnr"] == pytest.approx(
        compare(viewer.layers["hologram [fourier]"].data, viewer.layers["hologram ground truth"].data)["psnr"])
    assert "RGB brightfield [tie]" in metrics._status.value  # named as not scored, not silently mixed
    # selecting the RGB result moves the reference to its own ground truth
    viewer.layers.selection.active = viewer.layers["RGB brightfield [tie]"]
    assert metrics._reference.value == "RGB brightfield ground truth"
    assert list(metrics.compute()) == ["RGB brightfield [tie]"]
    # the profile follows the selection within the dataset
    assert set(profile._layers.value) == {"RGB brightfield [tie]", "RGB brightfield ground truth"}
    viewer.layers.selection.active = viewer.layers["hologram [fourier]"]
    assert set(profile._layers.value) == {"hologram [fourier]", "hologram ground truth"}
    # a plain TIFF (pixel units) never shares the axis with µm layers
    tifffile.imwrite(tmp_path / "plain.tif", np.asarray(viewer.layers["hologram ground truth"].data))
    viewer.open(str(tmp_path / "plain.tif"), plugin="napari")
    profile.add_line_layer()
    profile.set_layers(["hologram [fourier]", "plain"])
    profile.update_profiles()
    assert "px, µm" not in profile.canvas.axes.get_xlabel()
    assert [p.name for p in profile.profiles] == ["hologram [fourier]"]
    assert "plain" in profile._status.value


# ---- 5. layout -----------------------------------------------------------------------------------
def test_three_docks_fit_a_laptop_screen_with_a_wide_canvas(qtbot, make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "hologram")
    recon = _dock(viewer, "Reconstruct")
    _dock(viewer, "Line profile")
    _dock(viewer, "Metrics")
    window = viewer.window._qt_window
    window.resize(1366, 768)
    qtbot.wait(200)
    assert window.height() <= 768 and window.width() <= 1366, (window.width(), window.height())
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= 1366 / 2, canvas.width()
    # a long error message wraps instead of widening the dock
    recon._fail("x" * 20 + " a very long message about what went wrong" * 20)
    qtbot.wait(200)
    assert canvas.width() >= 1366 / 2, canvas.width()
    assert window.width() <= 1366


def test_every_method_form_fits_the_dock_unclipped(qtbot, make_napari_viewer):
    """The dock's width follows its controls when a method's form replaces them: measured only at
    construction, the zmd form (554 px description, 15 parameters) was cut off on the right, and
    the wrapped description was cut at top and bottom (seen in a screenshot)."""
    from qtpy.QtWidgets import QLabel, QScrollArea

    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "rgb")
    recon = _dock(viewer, "Reconstruct")
    _dock(viewer, "Line profile")
    viewer.window._qt_window.resize(1366, 768)
    body = recon._body.native
    visible = recon.native.findChild(QScrollArea).viewport()
    for method in recon._method.choices:
        recon.set_method(method)
        qtbot.wait(100)
        # the controls are no wider than the part of the dock you can see
        assert body.width() <= visible.width(), (method, body.width(), visible.width())
        about = next(q for q in body.findChildren(QLabel) if q.text() == recon._about.value)
        assert about.height() >= about.heightForWidth(about.width()), (method, about.height())
    assert viewer.window._qt_viewer.canvas.native.width() >= 1366 / 2


# ---- 6. canvas readability -----------------------------------------------------------------------
def test_one_titled_colorbar_scale_bar_and_bound_metrics_text(qtbot, make_napari_viewer):
    from napari_diffpr._napari.legend import TITLE_OVERLAY
    from napari_diffpr._napari.overlay import text_overlay

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "hologram")
    recon = _dock(viewer, "Reconstruct")
    _choose(qtbot, recon._input, "hologram")
    _choose(qtbot, recon._method, "fourier")
    _run_and_wait(qtbot, recon)
    metrics = _dock(viewer, "Metrics")
    metrics.compute()
    visible_bars = [lay.name for lay in viewer.layers if getattr(lay, "colorbar", None) and lay.colorbar.visible]
    assert visible_bars == ["hologram [fourier]"]
    title = viewer.canvas.overlays[TITLE_OVERLAY]
    assert title.visible and "hologram [fourier]" in title.text and "(rad)" in title.text
    assert viewer.scale_bar.visible
    text = text_overlay(viewer)
    assert text.visible and "PSNR" in text.text
    # the metrics text belongs to its layer: hidden with it, and when another layer is selected
    viewer.layers["hologram [fourier]"].visible = False
    assert not text.visible and not viewer.layers["hologram [fourier]"].colorbar.visible
    viewer.layers["hologram [fourier]"].visible = True
    assert text.visible
    viewer.layers.selection.active = viewer.layers["hologram"]
    assert not text.visible and not title.visible
    # the |error| layer gets the colorbar (and only it)
    viewer.layers.selection.active = viewer.layers["hologram [fourier]"]
    err = metrics.add_error_layer("hologram [fourier]")
    visible_bars = [lay.name for lay in viewer.layers if getattr(lay, "colorbar", None) and lay.colorbar.visible]
    assert visible_bars == [err.name]
    assert "|error| (rad)" in title.text
    # room for five rows in the table; the progress/status text wraps
    assert metrics.table.minimumHeight() >= 5 * metrics.table.verticalHeader().defaultSectionSize()
    assert recon._status.native.wordWrap()


# ---- 7. no units warning on normal use ------------------------------------------------------------
def test_normal_session_posts_no_units_warning(qtbot, make_napari_viewer):
    from napari.utils.notifications import notification_manager

    posted = []
    notification_manager.notification_ready.connect(posted.append)
    try:
        viewer = make_napari_viewer(show=True)
        viewer.open_sample(PLUGIN, "hologram")
        viewer.open_sample(PLUGIN, "rgb")
        recon = _dock(viewer, "Reconstruct")
        profile = _dock(viewer, "Line profile")
        metrics = _dock(viewer, "Metrics")
        _choose(qtbot, recon._input, "hologram")
        _choose(qtbot, recon._method, "fourier")
        _run_and_wait(qtbot, recon)
        profile.add_line_layer()
        metrics.compute()
        metrics.add_error_layer("hologram [fourier]")
        qtbot.wait(300)  # let the canvas draw (the warning comes from a draw)
    finally:
        notification_manager.notification_ready.disconnect(posted.append)
    assert not [n for n in posted if "units" in str(n.message).lower()], [str(n.message) for n in posted]


# ---- 8. a channel-first RGB image ------------------------------------------------------------------
def test_channel_first_rgb_is_flagged(qtbot, make_napari_viewer):
    from napari_diffpr.optics import simulate

    rgb = simulate.sample("rgb", size=64, seed=0)["measurement"]
    viewer = make_napari_viewer()
    viewer.add_image(np.moveaxis(rgb, -1, 0).copy(), name="rgb channels first")
    viewer.add_image(np.stack([fringe_hologram(64, s) for s in range(3)]), name="three holograms")
    widget = _dock(viewer, "Reconstruct")
    _choose(qtbot, widget._input, "rgb channels first")
    assert "channels" in widget._warning.value and not widget._warning.native.isHidden()
    _choose(qtbot, widget._input, "three holograms")
    assert widget._warning.value == "" and widget._warning.native.isHidden()


# ---- learned methods' per-pixel maps ----------------------------------------------------------------
def test_uncertainty_and_residual_maps_become_their_own_layers(qtbot, make_napari_viewer):
    from napari_diffpr.methods import Method, Param, register, unregister
    from napari_diffpr.result import Progress, Result

    def run(data, *, background=None, cache=None, samples=2):
        yield Progress("sampling", 1, 1)
        std = np.full(data.shape, 0.1 * samples, np.float32)
        return Result(phase=np.zeros(data.shape, np.float32), uncertainty=std,
                      residual=np.linspace(-0.2, 0.2, data.size, dtype=np.float32).reshape(data.shape))

    register(Method(name="stub-maps", modality="hologram", title="t", description="d", run=run,
                    params=(Param("samples", "int", 2, "posterior samples", minimum=1, maximum=8),)),
             replace=True)
    try:
        viewer = make_napari_viewer()
        viewer.add_image(fringe_hologram(64), name="holo", scale=(0.5, 0.5), units=("µm", "µm"))
        widget = _dock(viewer, "Reconstruct")
        widget.set_method("stub-maps")
        _run_and_wait(qtbot, widget)
        std, res = viewer.layers["holo [stub-maps] std"], viewer.layers["holo [stub-maps] residual"]
        np.testing.assert_allclose(std.data, 0.2)
        assert std.metadata["napari_diffpr_kind"] == "uncertainty" and std.metadata["unit"] == "rad"
        assert res.metadata["source_layer"] == "holo" and not res.visible
        np.testing.assert_allclose(std.scale, (0.5, 0.5))
        # the result itself stays selected, with the colorbar
        assert viewer.layers.selection.active.name == "holo [stub-maps]"
    finally:
        unregister("stub-maps")


def test_mixing_calibrated_and_pixel_layers_is_what_warns(qtbot, make_napari_viewer):
    """Control for the test above: the units warning is detectable, and comes from mixing a µm
    layer with a pixel one (the user's choice), not from anything the docks add."""
    from napari.utils.notifications import notification_manager

    posted = []
    notification_manager.notification_ready.connect(posted.append)
    try:
        viewer = make_napari_viewer(show=True)
        viewer.open_sample(PLUGIN, "hologram")
        qtbot.wait(200)
        viewer.add_image(np.zeros((32, 32), np.float32), name="uncalibrated")
        qtbot.wait(300)
    finally:
        notification_manager.notification_ready.disconnect(posted.append)
    assert [n for n in posted if "units" in str(n.message).lower()]


# ---- issue 10: the dock takes a weights file ----------------------------------------------------------
def test_weights_file_field_checks_the_file_before_running(qtbot, tmp_path, make_napari_viewer):
    from napari_diffpr import methods
    from napari_diffpr.models import weights

    if "reduced-unet" not in methods():
        pytest.skip("the network weights are not installed")
    viewer = make_napari_viewer()
    viewer.add_image(fringe_hologram(64), name="holo")
    widget = _dock(viewer, "Reconstruct")
    _choose(qtbot, widget._method, "reduced-unet")
    assert not widget._weights.native.isHidden() and widget._prior_weights.native.isHidden()
    before = [layer.name for layer in viewer.layers]
    # the vanilla U-Net's file for the reduced U-Net: refused before anything runs
    widget._weights.value = weights.weight_path("unet-hologram")
    _click(qtbot, widget._run_button)
    assert widget.worker is None and "ReducedUNet" in widget._status.value
    assert [layer.name for layer in viewer.layers] == before
    # the right file runs
    widget._weights.value = weights.weight_path("reduced-unet-hologram")
    try:
        _run_and_wait(qtbot, widget)
        assert "holo [reduced-unet]" in viewer.layers
    finally:
        weights.use_weights_file(None, "reduced-unet-hologram")
