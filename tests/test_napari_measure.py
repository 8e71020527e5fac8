"""The Measure dock, opened through napari's plugin path and driven with real Qt clicks."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _click(qtbot, widget, pos=None):
    from qtpy.QtCore import Qt

    if pos is None:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
    else:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def _click_row(qtbot, table, row):
    rect = table.visualRect(table.model().index(row, 0))
    _click(qtbot, table.viewport(), rect.center())


def _reconstructed_sample(viewer):
    """The hologram sample, reconstructed (as the Reconstruct dock would) into a phase layer."""
    import napari_diffpr as dp
    from napari_diffpr._napari.layers import show_result
    from napari_diffpr._napari.sample_data import sample_layers

    for data, kw, _ in sample_layers("hologram", size=256):
        viewer.add_image(data, **kw)
    holo = viewer.layers["hologram"]
    res = dp.reconstruct(holo.data, "fourier", background=viewer.layers["hologram background"].data,
                         wavelength=0.532, pixel_size=0.1)
    return show_result(viewer, res, source_layer=holo)


def _cells_in_truth() -> int:
    from scipy import ndimage as ndi

    from napari_diffpr.optics.simulate import phantom

    return ndi.label(phantom((256, 256), "mixed", seed=0) > 0)[1]


def test_measure_dock_table_labels_and_selection(qtbot, make_napari_viewer, tmp_path):
    import pandas as pd

    viewer = make_napari_viewer()
    phase_layer = _reconstructed_sample(viewer)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Measure")
    widget.reset_choices()
    widget._phase.value = phase_layer.name
    assert widget._wavelength.value == pytest.approx(0.532)  # from the layers' records
    assert widget._pixel.value == pytest.approx(0.1)
    _click(qtbot, widget._run.native)

    n = _cells_in_truth()
    assert n >= 3 and widget.table.rowCount() == n  # one row per cell
    labels = viewer.layers[phase_layer.name + " cells"]
    assert labels.__class__.__name__ == "Labels" and labels.data.max() == n
    assert tuple(labels.scale) == pytest.approx(tuple(phase_layer.scale))
    assert list(labels.features["dry_mass_pg"]) == pytest.approx(list(widget.result["dry_mass_pg"]))
    assert list(labels.features["index"]) == list(widget.result["label"])

    # row click -> the cell is selected in the Labels layer
    _click_row(qtbot, widget.table, 2)
    assert widget.selected_row() == 2
    assert labels.selected_label == int(widget.result["label"][2]) and labels.show_selected_label

    # the cell picked in the layer -> its row
    labels.selected_label = int(widget.result["label"][0])
    assert widget.selected_row() == 0
    # a click on a cell in the canvas selects it (and so the row)
    row = widget.result.iloc[1]
    event = SimpleNamespace(position=(row.centroid_y_um, row.centroid_x_um), view_direction=None,
                            dims_displayed=[0, 1])
    assert widget._on_canvas_click in labels.mouse_drag_callbacks
    widget._on_canvas_click(labels, event)
    assert labels.selected_label == int(row.label) and widget.selected_row() == 1

    # the plot has one bar per cell
    assert len(widget.canvas.axes.patches) == n

    # CSV export: every column, one row per cell
    out = widget.export_csv(tmp_path / "cells.csv")
    table = pd.read_csv(out)
    assert len(table) == n and "dry_mass_pg" in table.columns and "track_id" in table.columns


def test_corrected_labels_are_measured_again(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    phase_layer = _reconstructed_sample(viewer)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Measure")
    widget.reset_choices()
    widget._phase.value = phase_layer.name
    _click(qtbot, widget._run.native)
    n = widget.table.rowCount()
    labels = viewer.layers[phase_layer.name + " cells"]
    # the user erases one cell and merges two others, then measures with that layer
    edited = labels.data.copy()
    edited[edited == 1] = 0
    edited[edited == 3] = 2
    labels.data = edited
    widget.reset_choices()
    widget._cells.value = labels.name
    mass_2_and_3 = widget.result.set_index("label").loc[[2, 3], "dry_mass_pg"].sum()
    _click(qtbot, widget._run.native)
    assert widget.table.rowCount() == n - 2
    assert widget.result.set_index("label").loc[2, "dry_mass_pg"] == pytest.approx(mass_2_and_3, rel=0.02)


def test_time_lapse_gives_tracks_and_a_mass_over_time_plot(qtbot, make_napari_viewer):
    from napari_diffpr.optics.cells import sphere_phase

    frames = [sphere_phase(128, [(6 + 0.5 * t, 6 + 0.7 * t), (18, 16 - 0.4 * t)], [3.0, 2.5 + 0.1 * t],
                           pixel_size_um=0.2, wavelength_um=0.532) for t in range(4)]
    viewer = make_napari_viewer()
    viewer.add_image(np.stack(frames), name="stack phase", scale=(1, 0.2, 0.2),
                     metadata={"napari_diffpr_kind": "phase", "wavelength_um": 0.532, "pixel_size_um": 0.2})
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Measure")
    widget.reset_choices()
    widget._phase.value = "stack phase"
    _click(qtbot, widget._run.native)
    res = widget.result
    assert len(res) == 8 and res.track_id.nunique() == 2
    assert "stack phase tracks" in viewer.layers
    assert len(widget.canvas.axes.lines) == 2  # dry mass over time, one line per track
    growing = res[res.track_id == res.loc[res.centroid_x_um.idxmax(), "track_id"]].sort_values("frame")
    assert np.all(np.diff(growing.dry_mass_pg) != 0)
    # a row of frame 3 moves the viewer to frame 3 and selects that cell
    row = int(np.flatnonzero(res.frame.to_numpy() == 3)[0])
    _click_row(qtbot, widget.table, row)
    assert viewer.dims.current_step[0] == 3
    assert viewer.layers["stack phase cells"].selected_label == int(res.label[row])


def test_refocus_dock_autofocus_slider_and_focus_curve(qtbot, make_napari_viewer, monkeypatch):
    import napari_diffpr as dp
    from napari_diffpr.optics.cells import defocused_hologram

    from cell_scenes import N_MEDIUM, PX_UM, WL_UM, scene

    phase, _ = scene()
    s = defocused_hologram(phase, 5.0, wavelength_um=WL_UM, pixel_size_um=PX_UM, medium_index=N_MEDIUM,
                           seed=7, bit_depth=None)
    meta = {"wavelength_um": WL_UM, "pixel_size_um": PX_UM, "medium_index": N_MEDIUM}
    viewer = make_napari_viewer()
    viewer.add_image(s.hologram, name="cells", scale=(PX_UM, PX_UM),
                     metadata={**meta, "napari_diffpr_kind": "hologram"})
    viewer.add_image(s.background, name="cells background", scale=(PX_UM, PX_UM),
                     metadata={**meta, "napari_diffpr_kind": "background"})
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Refocus")
    widget.reset_choices()
    assert widget._hologram.value == "cells" and widget._background.value == "cells background"
    assert widget._pixel.value == pytest.approx(PX_UM) and widget._medium.value == pytest.approx(N_MEDIUM)

    _click(qtbot, widget._auto.native)
    found = widget.search["distance_um"]
    assert abs(found + 5.0) < 0.5
    assert widget._slider.value == pytest.approx(found, abs=0.01)
    layer = viewer.layers["cells [fourier refocused]"]
    assert layer.metadata["refocus_um"] == pytest.approx(found)
    assert len(widget.canvas.axes.lines[0].get_xdata()) == len(widget.search["curve_um"]) >= 15
    in_focus = dp.compare(np.asarray(layer.data), phase)["psnr"]

    # the slider re-propagates the cached field: no new demodulation
    assert widget.demodulations == 1
    widget._slider.value = 0.0
    assert widget.demodulations == 1
    assert layer.metadata["refocus_um"] == 0.0
    blurred = dp.compare(np.asarray(layer.data), phase)["psnr"]
    assert blurred < in_focus - 3.0
    widget._slider.value = -5.0
    assert dp.compare(np.asarray(layer.data), phase)["psnr"] > in_focus - 1.0
    assert widget.demodulations == 1


@pytest.mark.parametrize("region", ["auto", "labels", "shapes"])
def test_compensate_dock_flattens_a_curved_reference(qtbot, make_napari_viewer, region):
    import napari_diffpr as dp
    from scipy.ndimage import binary_dilation

    from cell_scenes import PX_UM, WL_UM, scene

    phase, _ = scene()
    s = dp.simulate.hologram(phase, reference_aberration=8.0, seed=3, pixel_size_um=PX_UM, wavelength_um=WL_UM)
    far = ~binary_dilation(phase > 1e-3, iterations=10)
    far[:10] = far[-10:] = far[:, :10] = far[:, -10:] = False
    reference = dp.reconstruct(s.hologram, "fourier", background=s.background).phase[far].std()
    raw = dp.reconstruct(s.hologram, "fourier", background_fit="none", sign="+1")
    viewer = make_napari_viewer()
    viewer.add_image(raw.phase, name="raw phase", metadata={"napari_diffpr_kind": "phase"}, scale=(PX_UM, PX_UM))
    if region == "labels":  # the cells, e.g. painted or from the Measure dock: background outside
        viewer.add_labels(binary_dilation(phase > 1e-3, iterations=6).astype(np.int32), name="cells",
                          scale=(PX_UM, PX_UM))
    elif region == "shapes":  # rectangles drawn over empty background, in world units (µm)
        px = [[[5, 5], [40, 250]], [[215, 5], [250, 250]], [[60, 225], [200, 250]]]
        viewer.add_shapes([np.array(r) * PX_UM for r in px], shape_type="rectangle", name="empty areas")
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffpr", "Compensate")
    widget.reset_choices()
    widget._phase.value = "raw phase"
    widget._region.value = {"auto": "(find automatically)", "labels": "cells", "shapes": "empty areas"}[region]
    _click(qtbot, widget._run.native)
    out = viewer.layers["raw phase [compensated]"]
    assert np.asarray(out.data)[far].std() <= 1.5 * reference
    assert raw.phase[far].std() > 30 * reference
    assert "Z4 defocus" in out.metadata["aberration_fit"]["coefficients_rad"]
    assert "largest terms" in widget._status.value


def test_reconstruct_dock_form_takes_refocus_auto_or_a_distance():
    from napari_diffpr._napari.param_form import ParamForm
    from napari_diffpr.methods import get_method

    form = ParamForm(get_method("fourier"))
    w = form["refocus"]
    assert w.value == "" and "none" in w.native.placeholderText()
    assert form.values()["refocus"] is None
    w.value = "auto"
    assert form.values()["refocus"] == "auto"
    w.value = "-4.5"
    assert form.values()["refocus"] == -4.5
