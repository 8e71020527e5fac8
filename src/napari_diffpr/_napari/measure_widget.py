"""The Measure dock: per-cell dry mass (napari_diffpr.measure) of a phase layer.

It segments the phase (or uses a Labels layer the user painted or corrected), adds or updates a
Labels layer "<phase> cells" whose ``features`` hold the table, shows the table (clicking a row
selects that cell in the Labels layer and jumps to its frame; picking a cell in the canvas
selects its row), plots dry mass over time per track (one point per cell for a single image),
adds a Tracks layer for time-lapses, and exports the table as CSV. Everything it computes comes
from the same ``measure()`` a script calls.
"""
from __future__ import annotations

import math

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, LineEdit, PushButton
from qtpy.QtWidgets import QAbstractItemView, QFileDialog, QTableWidget, QTableWidgetItem

from ..errors import InputError, ParameterError
from ..measure import DEFAULT_ALPHA_ML_PER_G, measure, tracks_data
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .layer_info import pixel_size_um
from .layers import spatial_kwargs
from .lifecycle import connect_while_alive

AUTO = "(segment automatically)"
LABELS_SUFFIX = " cells"
TRACKS_SUFFIX = " tracks"
# What the table shows (the CSV and layer.features have every column).
SHOWN = ("frame", "label", "track_id", "area_um2", "dry_mass_pg", "mean_phase_rad", "max_phase_rad",
         "integrated_opd_um3", "mean_thickness_um", "centroid_y_um", "centroid_x_um", "touches_edge")
HEADERS = {"frame": "frame", "label": "label", "track_id": "track", "area_um2": "area (µm²)",
           "dry_mass_pg": "dry mass (pg)", "mean_phase_rad": "mean φ (rad)", "max_phase_rad": "max φ (rad)",
           "integrated_opd_um3": "∫OPD (µm³)", "mean_thickness_um": "thickness (µm)",
           "centroid_y_um": "y (µm)", "centroid_x_um": "x (µm)", "touches_edge": "edge"}


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float) and math.isnan(value):
        return ""
    return f"{float(value):.4g}"


class MeasureWidget(Container):
    """Dock widget. ``measure()`` runs the measurement and returns the table; ``select_cell``,
    ``export_csv`` and ``table`` (the QTableWidget) are what tests and scripts drive."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self.result = None  # the last pandas table
        self.labels_layer = None
        self._syncing = False
        self._phase = ComboBox(label="phase", choices=self._phase_choices,
                               tooltip="Phase map (rad) to measure: a reconstruction or ground truth")
        self._cells = ComboBox(label="cells", choices=self._labels_choices,
                                tooltip="A Labels layer of cells (paint or correct it, then Measure again), "
                                        "or segment automatically (threshold above the background + watershed)")
        self._wavelength = FloatSpinBox(value=0.532, min=0.2, max=2.0, step=0.001, label="wavelength (µm)",
                                        tooltip="Vacuum wavelength of the light")
        self._pixel = FloatSpinBox(value=0.1, min=1e-4, max=100.0, step=0.001, label="pixel size (µm)",
                                   tooltip="Pixel size in the sample plane")
        self._medium = FloatSpinBox(value=1.333, min=1.0, max=2.0, step=0.001, label="medium index")
        self._alpha = FloatSpinBox(value=DEFAULT_ALPHA_ML_PER_G, min=0.05, max=0.5, step=0.001,
                                   label="α (mL/g)", tooltip="Specific refraction increment of dry mass "
                                                            "(0.18-0.21 for cells)")
        self._cell_index = LineEdit(value="", label="cell index",
                                    tooltip="Refractive index of the cells, for the mean thickness "
                                            "(empty = no thickness)")
        for w in (self._wavelength, self._pixel, self._medium):
            w.native.setDecimals(5)
        self._run = PushButton(text="Measure")
        self._export = PushButton(text="Export CSV…")
        self._status = Label(value="")
        self._body = Container(widgets=[self._phase, self._cells, self._wavelength, self._pixel, self._medium,
                                        self._alpha, self._cell_index, self._run, self._export, self._status])
        super().__init__(widgets=[], labels=False)
        wrap_label(self._status)
        self.table = QTableWidget(0, len(SHOWN))
        self.table.setHorizontalHeaderLabels([HEADERS[c] for c in SHOWN])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self._body.native.layout().addWidget(self.table)
        from .mpl_canvas import ThemedCanvas

        self.canvas = ThemedCanvas(napari_viewer, figsize=(4.0, 2.6))
        self._body.native.layout().addWidget(self.canvas)
        narrow_combos(self._body)
        scroll_body(self, self._body)  # fits a laptop screen next to the other docks

        self._run.changed.connect(lambda *_: self.measure())
        self._export.changed.connect(lambda *_: self._ask_export())
        self._phase.changed.connect(lambda *_: self._fill_optics())
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        self.reset_choices()
        self._fill_optics()

    # ----------------------------------------------------------------------------- choices
    def _phase_choices(self, *_):
        layers = [lay for lay in self._viewer.layers
                  if lay.__class__.__name__ == "Image" and not getattr(lay, "rgb", False)
                  and np.ndim(lay.data) in (2, 3)
                  and (lay.metadata or {}).get("napari_diffpr_kind") not in ("hologram", "background")]
        # reconstructions first, then ground truth, then any other grey image
        rank = {"phase": 0, "ground_truth": 1}
        layers.sort(key=lambda lay: rank.get((lay.metadata or {}).get("napari_diffpr_kind"), 2))
        return [lay.name for lay in layers]

    def _labels_choices(self, *_):
        return [AUTO] + [lay.name for lay in self._viewer.layers if lay.__class__.__name__ == "Labels"]

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        self._phase.reset_choices()
        self._cells.reset_choices()

    def _records(self, layer) -> list[dict]:
        """The layer's metadata and that of the layer it was reconstructed from."""
        md = dict(layer.metadata or {})
        out = [md]
        src = md.get("source_layer")
        if src and src in self._viewer.layers:
            out.append(dict(self._viewer.layers[src].metadata or {}))
        return out

    def _fill_optics(self) -> None:
        name = self._phase.value
        if not name or name not in self._viewer.layers:
            return
        layer = self._viewer.layers[name]
        from ..measure import physical_parameters

        for md in reversed(self._records(layer)):  # the layer's own record wins
            found = physical_parameters(md)
            if found["source"]["wavelength_um"] == "metadata":
                self._wavelength.value = found["wavelength_um"]
            if found["source"]["pixel_size_um"] == "metadata":
                self._pixel.value = found["pixel_size_um"]
            if found["source"]["medium_index"] == "metadata":
                self._medium.value = found["medium_index"]
        if not any(physical_parameters(md)["source"]["pixel_size_um"] == "metadata" for md in self._records(layer)):
            px = pixel_size_um(layer)
            if px:
                self._pixel.value = px

    # ----------------------------------------------------------------------------- measuring
    def _cell_index_value(self):
        text = self._cell_index.value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise ParameterError(f"cell index must be a number (e.g. 1.38) or empty, got {text!r}") from None

    def measure(self):
        """Measure the chosen phase layer; returns the table (or None, with the reason shown)."""
        name = self._phase.value
        if not name or name not in self._viewer.layers:
            self._status.value = "no phase layer: reconstruct one or open a sample first"
            return None
        layer = self._viewer.layers[name]
        labels = None
        if self._cells.value not in (None, AUTO) and self._cells.value in self._viewer.layers:
            labels = np.asarray(self._viewer.layers[self._cells.value].data)
        try:
            table, lab = measure(np.asarray(layer.data), labels, wavelength_um=self._wavelength.value,
                                 pixel_size_um=self._pixel.value, medium_index=self._medium.value,
                                 refractive_increment_ml_per_g=self._alpha.value,
                                 cell_index=self._cell_index_value(), return_labels=True)
        except (InputError, ParameterError) as exc:
            self._status.value = str(exc)
            return None
        self.result = table
        self._show_labels(layer, lab, table, given=labels is not None)
        self._show_tracks(layer, table)
        self._fill_table(table)
        self._plot(table)
        n_frames = int(table["frame"].nunique()) if len(table) else 0
        self._status.value = (f"{len(table)} cell(s)" + (f" in {n_frames} frames, {table['track_id'].nunique()} tracks"
                                                         if np.ndim(layer.data) == 3 else "")
                              + f"; total dry mass {table['dry_mass_pg'].sum():.4g} pg")
        return table

    def _show_labels(self, phase_layer, labels, table, given: bool) -> None:
        features = table.assign(index=table["label"].to_numpy())
        if given:
            layer = self._viewer.layers[self._cells.value]
        else:
            name = phase_layer.name + LABELS_SUFFIX
            if name in self._viewer.layers and np.shape(self._viewer.layers[name].data) == labels.shape:
                layer = self._viewer.layers[name]
                layer.data = labels
            else:
                if name in self._viewer.layers:
                    self._viewer.layers.remove(name)
                layer = self._viewer.add_labels(labels, name=name, opacity=0.4,
                                                metadata={"napari_diffpr_kind": "cells", "phase_layer": phase_layer.name},
                                                **spatial_kwargs(phase_layer, labels.ndim))
        layer.features = features
        if layer is not self.labels_layer:
            self.labels_layer = layer
            connect_while_alive(self.native, layer.events.selected_label, self._on_label_selected)
            if self._on_canvas_click not in layer.mouse_drag_callbacks:
                layer.mouse_drag_callbacks.append(self._on_canvas_click)

    def _show_tracks(self, phase_layer, table) -> None:
        name = phase_layer.name + TRACKS_SUFFIX
        if np.ndim(phase_layer.data) != 3 or len(table) == 0:
            return
        data = tracks_data(table, self._pixel.value)
        spatial = spatial_kwargs(phase_layer, 3)
        spatial.pop("units", None)
        spatial.pop("axis_labels", None)
        if name in self._viewer.layers:
            self._viewer.layers.remove(name)
        self._viewer.add_tracks(data, name=name, tail_length=int(table["frame"].max()) + 1, **spatial)

    def _fill_table(self, table) -> None:
        self._syncing = True
        try:
            self.table.setRowCount(len(table))
            for row, values in enumerate(table[list(SHOWN)].itertuples(index=False)):
                for col, value in enumerate(values):
                    self.table.setItem(row, col, QTableWidgetItem(_fmt(value)))
            self.table.resizeColumnsToContents()
        finally:
            self._syncing = False

    def _plot(self, table, highlight: int | None = None) -> None:
        ax = self.canvas.axes
        ax.clear()
        if len(table):
            if table["frame"].nunique() > 1:
                for tid, track in table.groupby("track_id"):
                    track = track.sort_values("frame")
                    lw = 2.5 if tid == highlight else 1.0
                    ax.plot(track["frame"], track["dry_mass_pg"], marker="o", ms=3, lw=lw, label=f"track {tid}")
                ax.set_xlabel("frame")
            else:
                colors = ["#d62728" if lab == highlight else "#1f77b4" for lab in table["label"]]
                ax.bar(table["label"].astype(str), table["dry_mass_pg"], color=colors)
                ax.set_xlabel("cell (label)")
            ax.set_ylabel("dry mass (pg)")
        self.canvas.apply_theme()
        self.canvas.draw_idle()

    # ----------------------------------------------------------------------------- selection
    def _current_frame(self) -> int:
        if self.labels_layer is None or np.ndim(self.labels_layer.data) != 3:
            return 0
        return int(self._viewer.dims.current_step[0])

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows else None

    def _on_row_selected(self) -> None:
        if self._syncing or self.result is None or self.labels_layer is None:
            return
        row = self.selected_row()
        if row is None:
            return
        rec = self.result.iloc[row]
        self._syncing = True
        try:
            if np.ndim(self.labels_layer.data) == 3:
                self._viewer.dims.set_current_step(0, int(rec["frame"]))
            self.labels_layer.selected_label = int(rec["label"])
            self.labels_layer.show_selected_label = True
        finally:
            self._syncing = False
        self._plot(self.result, highlight=int(rec["track_id"] if self.result["frame"].nunique() > 1 else rec["label"]))

    def _on_label_selected(self, *_) -> None:
        if self._syncing or self.result is None or self.labels_layer is None:
            return
        self.select_cell(int(self.labels_layer.selected_label), self._current_frame())

    def select_cell(self, label: int, frame: int = 0) -> int | None:
        """Select the table row of cell ``label`` in ``frame``; returns the row (None if absent)."""
        if self.result is None:
            return None
        hits = np.flatnonzero((self.result["label"].to_numpy() == label)
                              & (self.result["frame"].to_numpy() == frame))
        if hits.size == 0:
            self.table.clearSelection()
            return None
        self.table.selectRow(int(hits[0]))
        self.table.scrollToItem(self.table.item(int(hits[0]), 0))
        return int(hits[0])

    def _on_canvas_click(self, layer, event):
        """A click on a cell (in any mode but painting) selects it, and so its row."""
        if getattr(layer, "mode", "pan_zoom") not in ("pan_zoom", "pick"):
            return
        value = layer.get_value(event.position, view_direction=getattr(event, "view_direction", None),
                                dims_displayed=getattr(event, "dims_displayed", None), world=True)
        if value is not None and int(value) > 0:
            layer.selected_label = int(value)

    # ----------------------------------------------------------------------------- export
    def export_csv(self, path) -> str:
        """Write the last table (every column, physical units in the headers' names) as CSV."""
        if self.result is None:
            raise InputError("nothing to export: press Measure first")
        self.result.to_csv(path, index=False)
        self._status.value = f"wrote {len(self.result)} row(s) to {path}"
        return str(path)

    def _ask_export(self) -> None:
        if self.result is None:
            self._status.value = "nothing to export: press Measure first"
            return
        path, _ = QFileDialog.getSaveFileName(self.native, "Export cells as CSV", "cells.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

