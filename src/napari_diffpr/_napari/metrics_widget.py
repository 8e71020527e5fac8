"""The Metrics dock: PSNR / SSIM / MAE / high-frequency error of each phase layer against a
reference layer (ground truth or any result) via napari_diffpr.compare, the selected layer's
numbers on the canvas text overlay, and an optional absolute-error layer.

Only layers of the reference's own dataset are scored (lineage: same file or sample, or results
of the same input); "score other datasets too" lifts that for a reference the user brought
separately. The canvas text belongs to the scored layer: it shows while that layer is selected
and visible, and hides otherwise."""
from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from ..errors import InputError
from ..metrics import abs_error, compare
from . import legend, lineage
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .layer_info import modality_of
from .layers import spatial_kwargs
from .lifecycle import LayerDataWatcher, connect_while_alive, single_shot_timer
from .overlay import hide_text, show_text
from .user_choice import UserChoice

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
        self._scored_uids: dict[str, str] = {}  # layer uid -> layer name, for the canvas text
        self._reference_choice = UserChoice()
        self._reference = ComboBox(label="reference", choices=self._phase_choices,
                                   tooltip="Ground truth or any phase layer to score the others against; "
                                           "the ground truth of the selected result's dataset by default")
        self._other_datasets = CheckBox(value=False, text="score other datasets too",
                                        tooltip="Also score layers that do not come from the reference's "
                                                "file, sample or input (same size required)")
        self._compute = PushButton(text="Compute")
        self._overlay = CheckBox(value=True, text="show the selected row on the canvas")
        self._error_map = PushButton(text="Add |error| layer for the selected row")
        self._status = Label(value="")
        self._body = Container(widgets=[self._reference, self._other_datasets, self._compute, self._overlay,
                                        self._error_map, self._status])
        super().__init__(widgets=[], labels=False)
        wrap_label(self._status)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # room for five rows before it scrolls
        row = self.table.verticalHeader().defaultSectionSize()
        self.table.setMinimumHeight(int(row * 5.5 + self.table.horizontalHeader().sizeHint().height()))
        self._body.native.layout().insertWidget(3, self.table)
        narrow_combos(self._body)
        scroll_body(self, self._body)

        self._compute.changed.connect(lambda *_: self.compute())
        self._reference.changed.connect(self._on_reference_changed)
        self._other_datasets.changed.connect(lambda *_: self.compute())
        self.table.itemSelectionChanged.connect(self._on_selection)
        self._overlay.changed.connect(lambda *_: self._update_overlay())
        self._error_map.changed.connect(lambda *_: self.add_error_layer())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        connect_while_alive(self.native, napari_viewer.layers.selection.events.active, self._on_active_layer)
        connect_while_alive(self.native, napari_viewer.layers.events.inserted,
                            lambda e: connect_while_alive(self.native, e.value.events.visible,
                                                          lambda *_: self._update_overlay()))
        for layer in napari_viewer.layers:
            connect_while_alive(self.native, layer.events.visible, lambda *_: self._update_overlay())
        legend.attach(self.native, napari_viewer)
        # a re-run replaces a scored layer's data: score it again (once things settle)
        self._recompute = single_shot_timer(self.native, 200, self._refresh)
        self._watcher = LayerDataWatcher(self.native, lambda *_: self._recompute.start())
        self.reset_choices()

    def _phase_layers(self):
        return [lay for lay in self._viewer.layers
                if lay.__class__.__name__ == "Image" and modality_of(lay) == "hologram"
                and lineage.kind(lay) in ("phase", "ground_truth")]

    def _phase_choices(self, *_):
        layers = self._phase_layers()
        # the ground truth first: it is the natural reference
        layers.sort(key=lambda lay: lineage.kind(lay) != "ground_truth")
        return [lay.name for lay in layers]

    def _default_reference(self):
        """The ground truth of the selected phase layer's dataset (else of any result's)."""
        truths = [lay for lay in self._phase_layers() if lineage.kind(lay) == "ground_truth"]
        active = self._viewer.layers.selection.active
        anchors = [active] if active is not None and lineage.kind(active) == "phase" else []
        anchors += [lay for lay in reversed(self._phase_layers()) if lineage.kind(lay) == "phase"]
        for anchor in anchors:
            for truth in truths:
                if lineage.related(anchor, truth) and np.shape(truth.data) == np.shape(anchor.data):
                    return truth
        return truths[0] if truths else None

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        with self._reference_choice.dock_sets():
            self._reference.reset_choices()
            if not self._reference_choice.by_user or self._reference.value is None:
                self._reference_choice.by_user = False
                default = self._default_reference()
                if default is not None:
                    self._reference.value = default.name

    def _on_reference_changed(self, *_):
        self._reference_choice.note_change()
        self.compute()

    def _on_active_layer(self, *_):
        if not self._reference_choice.by_user:
            self.reset_choices()
        self._update_overlay()

    def set_reference(self, name: str) -> None:
        """Choose the reference layer by name (recomputes the table)."""
        self._reference.reset_choices()
        self._reference.value = name

    def _candidates(self, reference):
        """Same-size phase results other than the reference; of its dataset unless asked."""
        ref_uid = lineage.uid(reference)
        same = [lay for lay in self._viewer.layers
                if lineage.uid(lay) != ref_uid and lay.__class__.__name__ == "Image"
                and lineage.kind(lay) == "phase" and np.shape(lay.data) == np.shape(reference.data)]
        related = [lay for lay in same if lineage.related(lay, reference)]
        others = [lay for lay in same if not lineage.related(lay, reference)]
        return (same if self._other_datasets.value else related), others

    def compute(self) -> dict[str, dict[str, float]]:
        self.results = {}
        self._scored_uids = {}
        self.table.setRowCount(0)
        name = self._reference.value
        if not name or name not in self._viewer.layers:
            self._status.value = "no reference: open a sample with ground truth or run a method"
            hide_text(self._viewer)
            return self.results
        reference = self._viewer.layers[name]
        candidates, others = self._candidates(reference)
        self._watcher.watch([reference, *candidates])
        errors = []
        for layer in candidates:
            try:
                self.results[layer.name] = compare(np.asarray(layer.data), np.asarray(reference.data))
                self._scored_uids[lineage.uid(layer)] = layer.name
            except InputError as exc:
                errors.append(f"{layer.name}: {exc}")
        self.table.setRowCount(len(self.results))
        for row, (lname, m) in enumerate(self.results.items()):
            cells = [lname, f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['mae']:.4f}",
                     f"{m['hf_error']:.4f}"]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        skipped = ""
        if others and not self._other_datasets.value:
            skipped = (f"; not scored, from another dataset: {', '.join(lay.name for lay in others)} "
                       "(tick 'score other datasets too' to include them)")
        self._status.value = (f"{len(self.results)} layer(s) scored against {name!r} "
                              "(reference rescaled to [0, 1]; MAE in that unit)"
                              + skipped + ("; " + "; ".join(errors) if errors else ""))
        if not self.results and not candidates and others:
            self._status.value = (f"{name!r} is from another dataset than every result "
                                  f"({', '.join(lay.name for lay in others)}): choose their ground truth, "
                                  "or tick 'score other datasets too'")
        active = self._viewer.layers.selection.active
        if active is not None and lineage.uid(active) in self._scored_uids:
            self.table.selectRow(list(self.results).index(self._scored_uids[lineage.uid(active)]))
        self._update_overlay()
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
        """A row clicked: select its layer in the viewer (the canvas text follows)."""
        name = self.selected()
        if name is not None and name in self._viewer.layers:
            self._viewer.layers.selection.active = self._viewer.layers[name]
        self._update_overlay()

    def _update_overlay(self) -> None:
        """The canvas text shows the active layer's scores while that layer is visible."""
        active = self._viewer.layers.selection.active
        name = self._scored_uids.get(lineage.uid(active)) if active is not None else None
        if name is None or not self._overlay.value or name not in self.results or not active.visible:
            hide_text(self._viewer)
            return
        show_text(self._viewer, format_metrics(name, self._reference.value, self.results[name]))

    def add_error_layer(self, name: str | None = None):
        """Add (or update) ``|layer - reference|`` in radians as a layer, select it (its colorbar
        shows) and return it."""
        name = name or self.selected()
        ref_name = self._reference.value
        if name is None or ref_name is None:
            self._status.value = "select a row first"
            return None
        layer, reference = self._viewer.layers[name], self._viewer.layers[ref_name]
        err = abs_error(np.asarray(layer.data), np.asarray(reference.data))
        out = name + ERROR_SUFFIX
        meta = {"napari_diffpr_kind": "abs_error", "unit": "rad", "layer": name, "reference": ref_name,
                "source_layer_id": lineage.uid(layer)}
        if lineage.meta(layer).get("dataset"):
            meta["dataset"] = lineage.meta(layer)["dataset"]
        limits = (0.0, float(err.max()) or 1.0)
        if out in self._viewer.layers and self._viewer.layers[out].data.shape == err.shape:
            target = self._viewer.layers[out]
            target.data, target.metadata, target.contrast_limits = err, meta, limits
        else:
            target = self._viewer.add_image(err, name=out, colormap="magma", metadata=meta,
                                            contrast_limits=limits, **spatial_kwargs(layer, err.ndim))
        self._viewer.layers.selection.active = target
        return target
