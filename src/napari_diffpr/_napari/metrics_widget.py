"""The Metrics dock: PSNR / SSIM / MAE / high-frequency error of each phase layer against a
reference layer (ground truth or any result) via napari_diffpr.compare, the selected layer's
numbers on the canvas text overlay, and an optional absolute-error layer."""
from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from ..errors import InputError
from ..metrics import abs_error, compare
from .layer_info import modality_of
from .layers import spatial_kwargs
from .lifecycle import LayerDataWatcher, connect_while_alive, single_shot_timer
from .overlay import hide_text, show_text

HEADERS = ("layer", "PSNR (dB)", "SSIM", "MAE (ref. span)", "HF error")
ERROR_SUFFIX = " abs. error"


def format_metrics(name: str, reference: str, m: dict[str, float]) -> str:
    # two short lines: the canvas is often narrow with three docks open
    return (f"{name} vs {reference}\n"
            f"PSNR {m['psnr']:.2f} dB | SSIM {m['ssim']:.3f} | MAE {m['mae']:.4f} | HF {m['hf_error']:.3f}")


class MetricsWidget(Container):
    """Dock widget; ``compute()`` fills the table and returns ``{layer name: metrics}``."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self.results: dict[str, dict[str, float]] = {}
        self._reference = ComboBox(label="reference", choices=self._phase_choices,
                                   tooltip="Ground truth or any phase layer to score the others against")
        self._compute = PushButton(text="Compute")
        self._overlay = CheckBox(value=True, text="show the selected row on the canvas")
        self._error_map = PushButton(text="Add |error| layer for the selected row")
        self._status = Label(value="")
        super().__init__(widgets=[self._reference, self._compute, self._overlay, self._error_map,
                                  self._status])
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.native.layout().insertWidget(2, self.table)

        self._compute.changed.connect(lambda *_: self.compute())
        self._reference.changed.connect(lambda *_: self.compute())
        self.table.itemSelectionChanged.connect(self._on_selection)
        self._overlay.changed.connect(lambda *_: self._on_selection())
        self._error_map.changed.connect(lambda *_: self.add_error_layer())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        # a re-run replaces a scored layer's data: score it again (once things settle)
        self._recompute = single_shot_timer(self.native, 200, self._refresh)
        self._watcher = LayerDataWatcher(self.native, lambda *_: self._recompute.start())
        self.reset_choices()

    def _phase_choices(self, *_):
        layers = [lay for lay in self._viewer.layers
                  if lay.__class__.__name__ == "Image" and modality_of(lay) == "hologram"
                  and (lay.metadata or {}).get("napari_diffpr_kind") in ("phase", "ground_truth")]
        # the ground truth first: it is the natural reference
        layers.sort(key=lambda lay: lay.metadata.get("napari_diffpr_kind") != "ground_truth")
        return [lay.name for lay in layers]

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        self._reference.reset_choices()

    def set_reference(self, name: str) -> None:
        """Choose the reference layer by name (recomputes the table)."""
        self._reference.reset_choices()
        self._reference.value = name

    def _candidates(self, reference):
        return [lay for lay in self._viewer.layers
                if lay is not reference and lay.__class__.__name__ == "Image"
                and (lay.metadata or {}).get("napari_diffpr_kind") == "phase"
                and np.shape(lay.data) == np.shape(reference.data)]

    def compute(self) -> dict[str, dict[str, float]]:
        self.results = {}
        self.table.setRowCount(0)
        name = self._reference.value
        if not name or name not in self._viewer.layers:
            self._status.value = "no reference: open a sample with ground truth or run a method"
            hide_text(self._viewer)
            return self.results
        reference = self._viewer.layers[name]
        candidates = self._candidates(reference)
        self._watcher.watch([reference, *candidates])
        errors = []
        for layer in candidates:
            try:
                self.results[layer.name] = compare(np.asarray(layer.data), np.asarray(reference.data))
            except InputError as exc:
                errors.append(f"{layer.name}: {exc}")
        self.table.setRowCount(len(self.results))
        for row, (lname, m) in enumerate(self.results.items()):
            cells = [lname, f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['mae']:.4f}",
                     f"{m['hf_error']:.4f}"]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._status.value = (f"{len(self.results)} layer(s) scored against {name!r} "
                              "(reference rescaled to [0, 1]; MAE in that unit)"
                              + ("; " + "; ".join(errors) if errors else ""))
        if self.results:
            self.table.selectRow(0)
        else:
            hide_text(self._viewer)
        return self.results

    def _refresh(self) -> None:
        if self.results:  # only a table the user asked for is kept up to date
            selected = self.selected()
            self.compute()
            if selected in self.results:
                self.table.selectRow(list(self.results).index(selected))

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def _on_selection(self) -> None:
        name = self.selected()
        if name is None or not self._overlay.value or name not in self.results:
            hide_text(self._viewer)
            return
        show_text(self._viewer, format_metrics(name, self._reference.value, self.results[name]))

    def add_error_layer(self, name: str | None = None):
        """Add (or update) ``|layer - reference|`` in radians as a layer; returns it."""
        name = name or self.selected()
        ref_name = self._reference.value
        if name is None or ref_name is None:
            self._status.value = "select a row first"
            return None
        layer, reference = self._viewer.layers[name], self._viewer.layers[ref_name]
        err = abs_error(np.asarray(layer.data), np.asarray(reference.data))
        out = name + ERROR_SUFFIX
        meta = {"napari_diffpr_kind": "abs_error", "unit": "rad", "layer": name, "reference": ref_name}
        if out in self._viewer.layers and self._viewer.layers[out].data.shape == err.shape:
            self._viewer.layers[out].data = err
            self._viewer.layers[out].metadata = meta
            return self._viewer.layers[out]
        return self._viewer.add_image(err, name=out, colormap="magma", metadata=meta,
                                      contrast_limits=(0.0, float(err.max()) or 1.0),
                                      **spatial_kwargs(layer, err.ndim))
