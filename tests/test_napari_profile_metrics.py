"""Line profile and Metrics docks: numbers checked against scikit-image and compare()."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import profile_line

pytestmark = pytest.mark.gui


def _known_image(n=64):
    y, x = np.mgrid[:n, :n].astype(np.float32)
    return (np.sin(x / 5.0) + 0.05 * y + 0.3 * np.cos(y / 3.0)).astype(np.float32)


@pytest.fixture
def viewer_with_phase(make_napari_viewer):
    viewer = make_napari_viewer()
    img = _known_image()
    viewer.add_image(img, name="truth", scale=(0.5, 0.5), translate=(2.0, 3.0), units=("µm", "µm"),
                     metadata={"napari_diffpr_kind": "ground_truth", "dataset": "known"})
    noisy = img + np.random.default_rng(1).normal(0, 0.1, img.shape).astype(np.float32)
    viewer.add_image(noisy, name="holo [fourier]", scale=(0.5, 0.5), translate=(2.0, 3.0),
                     units=("µm", "µm"), metadata={"napari_diffpr_kind": "phase", "method": "fourier",
                                                 "dataset": "known"})
    return viewer, img, noisy


def test_profile_matches_profile_line(qtbot, viewer_with_phase):

    viewer, img, noisy = viewer_with_phase
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Line profile")[1]
    # both phase layers are chosen by default
    assert set(widget._layers.value) == {"truth", "holo [fourier]"}
    # a line in world coordinates (µm): data = (world - translate) / scale
    start_w, end_w = np.array([2.0 + 0.5 * 10, 3.0 + 0.5 * 5]), np.array([2.0 + 0.5 * 50, 3.0 + 0.5 * 40])
    viewer.add_shapes([np.stack([start_w, end_w])], shape_type="line", name="my line")
    widget._shapes.value = "my line"
    widget._width.value = 3
    profiles = {p.name: p for p in widget.update_profiles()}
    expected = profile_line(img.astype(np.float64), (10, 5), (50, 40), linewidth=3, order=1,
                            mode="reflect", reduce_func=np.mean)
    np.testing.assert_allclose(profiles["truth"].values, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(profiles["holo [fourier]"].values,
                               profile_line(noisy.astype(np.float64), (10, 5), (50, 40), linewidth=3,
                                            order=1, mode="reflect", reduce_func=np.mean), atol=1e-6)
    # x in physical units: the line is hypot(40, 35) px of 0.5 µm
    assert profiles["truth"].unit == "µm"
    assert profiles["truth"].distance[-1] == pytest.approx(0.5 * np.hypot(40, 35))
    assert len(widget.canvas.axes.get_lines()) == 2
    assert widget.canvas.axes.get_legend() is not None
    assert "µm" in widget.canvas.axes.get_xlabel()


def test_profile_updates_when_the_line_moves(qtbot, viewer_with_phase):

    viewer, img, _ = viewer_with_phase
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Line profile")[1]
    line = widget.add_line_layer()
    assert widget._shapes.value == line.name
    qtbot.waitUntil(lambda: len(widget.profiles) == 2, timeout=5_000)
    first = widget.profiles[0].values.copy()
    data = line.data[0].copy()
    data[:, 0] += 3.0  # move the line down by 3 µm
    line.data = [data]
    qtbot.waitUntil(lambda: len(widget.profiles[0].values) and not np.array_equal(
        widget.profiles[0].values, first), timeout=5_000)


def test_profile_csv_round_trip_and_png(tmp_path, viewer_with_phase):
    from napari_diffpr._napari.profile_sampling import read_profiles_csv

    viewer, _, _ = viewer_with_phase
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Line profile")[1]
    widget.add_line_layer()
    written = widget.update_profiles()
    back = read_profiles_csv(widget.export_csv(tmp_path / "p.csv"))
    assert [p.name for p in back] == [p.name for p in written]
    for a, b in zip(written, back):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.distance, b.distance)
        assert a.unit == b.unit
    png = widget.export_png(tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_profile_csv_is_refused(tmp_path):
    from napari_diffpr._napari.profile_sampling import read_profiles_csv
    from napari_diffpr.errors import InputError

    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a napari-diffpr profile CSV"):
        read_profiles_csv(path)


def test_metrics_equal_compare_and_overlay(qtbot, viewer_with_phase):
    from napari_diffpr import compare
    from napari_diffpr._napari.overlay import text_overlay

    viewer, img, noisy = viewer_with_phase
    widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Metrics")[1]
    assert widget._reference.value == "truth"
    results = widget.compute()
    assert list(results) == ["holo [fourier]"]
    expected = compare(noisy, img)
    for key in ("psnr", "ssim", "mae", "hf_error"):
        assert results["holo [fourier]"][key] == pytest.approx(expected[key])
    assert widget.table.rowCount() == 1
    assert widget.table.item(0, 1).text() == f"{expected['psnr']:.2f}"
    overlay = text_overlay(viewer)
    assert overlay is viewer.canvas.overlays["text"]
    assert overlay.visible and f"PSNR {expected['psnr']:.2f} dB" in overlay.text
    err = widget.add_error_layer()
    assert err.name == "holo [fourier] abs. error"
    np.testing.assert_allclose(err.data, np.abs(noisy - img), atol=1e-6)
    np.testing.assert_allclose(err.scale, (0.5, 0.5))
    widget._overlay.value = False
    assert not overlay.visible


def test_docks_follow_a_result_layer_updated_in_place(qtbot, viewer_with_phase):
    from napari_diffpr import compare

    viewer, img, _ = viewer_with_phase
    metrics = viewer.window.add_plugin_dock_widget("napari-diffpr", "Metrics")[1]
    profile = viewer.window.add_plugin_dock_widget("napari-diffpr", "Line profile")[1]
    profile.add_line_layer()
    metrics.compute()
    profile.update_profiles()
    before = metrics.results["holo [fourier]"]["psnr"]
    better = img + np.random.default_rng(5).normal(0, 0.01, img.shape).astype(np.float32)
    viewer.layers["holo [fourier]"].data = better  # what a re-run of the dock does
    expected = compare(better, img)["psnr"]
    qtbot.waitUntil(lambda: metrics.results["holo [fourier]"]["psnr"] == pytest.approx(expected),
                    timeout=5_000)
    assert expected > before
    qtbot.waitUntil(lambda: any(p.name == "holo [fourier]" and np.allclose(
        p.values[0], better[32, 6], atol=0.05) for p in profile.profiles), timeout=5_000)
