"""The Line profile dock: phase along a line (a Shapes layer) for every chosen layer on one axis,
x in physical units, adjustable width, live while the line is dragged (throttled), CSV/PNG export.

By default it profiles the selected result, the ground truth of its dataset and the other results
of the same input (lineage), following the selection until the user picks layers by hand. One
axis never mixes units: layers in another unit than the first are left out, with a note."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton, Select, SpinBox
from qtpy.QtWidgets import QFileDialog

from . import legend, lineage
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .layer_info import modality_of
from .layers import is_phase_layer
from .lifecycle import LayerDataWatcher, connect_while_alive, single_shot_timer
from .mpl_canvas import LINE_COLORS, ThemedCanvas
from .profile_sampling import Profile, sample_profile, write_profiles_csv
from .user_choice import UserChoice

NEW_LINE_NAME = "profile line"
THROTTLE_MS = 60


class ProfileWidget(Container):
    """Dock widget; ``update_profiles()`` recomputes and returns the plotted profiles."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self.profiles: list[Profile] = []
        self._watched = None
        self._layers_choice = UserChoice()  # the user picked layers: stop following the selection
        self._shapes = ComboBox(label="line layer", choices=self._shapes_choices,
                                tooltip="Shapes layer holding the line (the selected or first line is used)")
        self._new_line = PushButton(text="New line")
        self._layers = Select(label="layers", choices=self._image_choices,
                              tooltip="Layers to profile (ctrl-click to pick several)")
        self._width = SpinBox(label="width (px)", value=1, min=1, max=100,
                              tooltip="Line width in pixels; values across it are averaged")
        self._csv = PushButton(text="Export CSV…")
        self._png = PushButton(text="Export PNG…")
        self._status = Label(value="")
        self._body = Container(widgets=[
            Container(widgets=[self._shapes, self._new_line], layout="horizontal", labels=False),
            self._layers, self._width,
            Container(widgets=[self._csv, self._png], layout="horizontal", labels=False),
            self._status])
        super().__init__(widgets=[], labels=False)
        wrap_label(self._status)
        self._layers.native.setMaximumHeight(96)  # about five names; the plot matters more
        self.canvas = ThemedCanvas(napari_viewer)
        self.canvas.setMinimumHeight(200)
        self._body.native.layout().addWidget(self.canvas.toolbar)
        self._body.native.layout().addWidget(self.canvas)
        narrow_combos(self._body)
        scroll_body(self, self._body)

        self._timer = single_shot_timer(self.native, THROTTLE_MS, self.update_profiles)
        self._watcher = LayerDataWatcher(self.native, self._schedule)  # re-runs update results

        self._new_line.changed.connect(lambda *_: self.add_line_layer())
        self._shapes.changed.connect(self._watch_shapes)
        self._layers.changed.connect(self._on_layers_changed)
        self._width.changed.connect(self._schedule)
        self._csv.changed.connect(lambda *_: self._ask_path("CSV (*.csv)", self.export_csv))
        self._png.changed.connect(lambda *_: self._ask_path("PNG (*.png)", self.export_png))
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        connect_while_alive(self.native, napari_viewer.dims.events.current_step, self._schedule)
        connect_while_alive(self.native, napari_viewer.layers.selection.events.active, self._follow_selection)
        legend.attach(self.native, napari_viewer)
        self.reset_choices()

    # ---- choices --------------------------------------------------------------------------
    def _shapes_choices(self, *_):
        return [lay.name for lay in self._viewer.layers if lay.__class__.__name__ == "Shapes"]

    def _image_choices(self, *_):
        return [lay.name for lay in self._viewer.layers
                if lay.__class__.__name__ == "Image" and modality_of(lay) == "hologram"
                and (lay.metadata or {}).get("napari_diffpr_kind") != "preview"]

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        self._shapes.reset_choices()
        with self._layers_choice.dock_sets():
            self._layers.reset_choices()
        self._follow_selection()
        self._watch_shapes()

    def default_layers(self) -> list[str]:
        """The selected phase layer (else the newest), the ground truth of its dataset and the
        other results of its input, in the anchor's unit."""
        layers = [self._viewer.layers[n] for n in self._layers.choices]
        phase = [lay for lay in layers if is_phase_layer(lay)]
        active = self._viewer.layers.selection.active
        anchor = active if active is not None and is_phase_layer(active) else (phase[-1] if phase else None)
        if anchor is None:
            return []
        unit = lineage.spatial_unit(anchor)
        return [lay.name for lay in phase
                if lineage.related(lay, anchor) and lineage.spatial_unit(lay) == unit]

    def _follow_selection(self, *_):
        if self._layers_choice.by_user:
            return
        default = self.default_layers()
        if set(default) != set(self._layers.value):
            with self._layers_choice.dock_sets():
                self._layers.value = default
            self._schedule()

    def _on_layers_changed(self, *_):
        self._layers_choice.note_change()
        self._schedule()

    def _watch_shapes(self, *_):
        layer = self.line_layer
        if layer is self._watched:
            return
        if self._watched is not None:
            self._watched.events.data.disconnect(self._schedule)
        self._watched = layer
        if layer is not None:
            # fires while a vertex is dragged; the timer throttles the redraws
            connect_while_alive(self.native, layer.events.data, self._schedule)
        self._schedule()

    @property
    def line_layer(self):
        name = self._shapes.value
        return self._viewer.layers[name] if name and name in self._viewer.layers else None

    def set_layers(self, names: list[str]) -> None:
        """Choose the layers to profile by name (the dock stops following the selection)."""
        self._layers.value = list(names)
        self._layers_choice.by_user = True

    def set_line_layer(self, name: str) -> None:
        self._shapes.reset_choices()
        self._shapes.value = name

    def set_width(self, pixels: int) -> None:
        self._width.value = int(pixels)

    # ---- line ---------------------------------------------------------------------------
    def add_line_layer(self):
        """Add a Shapes layer with one horizontal line across the middle of the first chosen
        (or first) image layer, select it and return it."""
        names = list(self._layers.value) or list(self._layers.choices)
        if names:
            ref = self._viewer.layers[names[0]]
            h, w = np.shape(ref.data)[-2:]
            a = np.asarray(ref.data_to_world([h / 2, w * 0.1] if ref.ndim == 2 else
                                             [0] * (ref.ndim - 2) + [h / 2, w * 0.1]), float)[-2:]
            b = np.asarray(ref.data_to_world([h / 2, w * 0.9] if ref.ndim == 2 else
                                             [0] * (ref.ndim - 2) + [h / 2, w * 0.9]), float)[-2:]
            # vertices in world coordinates (scale 1), labelled in the image's units so napari
            # does not drop units for mixing layers
            units = {"units": tuple(str(u) for u in ref.units[-2:])}
        else:
            a, b = np.array([50.0, 10.0]), np.array([50.0, 90.0])
            units = {}
        layer = self._viewer.add_shapes([np.stack([a, b])], shape_type="line", name=NEW_LINE_NAME,
                                        edge_color="yellow", edge_width=max(1e-3, self._edge_width()),
                                        **units)
        layer.mode = "direct"  # drag the end points right away
        self._shapes.reset_choices()
        self._shapes.value = layer.name
        return layer

    def _edge_width(self) -> float:
        names = list(self._layers.value) or list(self._layers.choices)
        scale = float(self._viewer.layers[names[0]].scale[-1]) if names else 1.0
        return scale  # one pixel of the image: visible without hiding what it measures

    def line_world(self):
        """(start, end) of the line in world coordinates (last two dims), or None."""
        layer = self.line_layer
        if layer is None:
            return None
        lines = [i for i, t in enumerate(layer.shape_type) if t in ("line", "path")]
        if not lines:
            return None
        selected = [i for i in layer.selected_data if i in lines]
        verts = layer.data[selected[0] if selected else lines[0]]
        start = np.asarray(layer.data_to_world(verts[0]), float)[-2:]
        end = np.asarray(layer.data_to_world(verts[-1]), float)[-2:]
        return start, end

    # ---- plotting -----------------------------------------------------------------------
    def _schedule(self, *_):
        if not self._timer.isActive():  # throttle: at most one update per interval
            self._timer.start()

    def update_profiles(self) -> list[Profile]:
        line = self.line_world()
        ax = self.canvas.axes
        ax.clear()
        self.profiles = []
        if line is None:
            self._status.value = "add a line (New line) to see profiles"
        else:
            point = np.asarray(self._viewer.dims.point, float)
            chosen = [self._viewer.layers[n] for n in self._layers.value if n in self._viewer.layers]
            self._watcher.watch(chosen)
            # one axis, one unit: the first chosen layer's unit decides
            unit = lineage.spatial_unit(chosen[0]) if chosen else "px"
            skipped = [lay.name for lay in chosen if lineage.spatial_unit(lay) != unit]
            for layer in chosen:
                if lineage.spatial_unit(layer) == unit:
                    self.profiles.append(sample_profile(layer, *line, width=self._width.value,
                                                        point_world=point))
            for i, prof in enumerate(self.profiles):
                ax.plot(prof.distance, prof.values, color=LINE_COLORS[i % len(LINE_COLORS)],
                        label=prof.name, linewidth=1.5)
            units = sorted({p.unit for p in self.profiles}) or [unit]
            ax.set_xlabel(f"distance along the line ({', '.join(units)})")
            ax.set_ylabel("phase (rad)")
            if self.profiles:
                ax.legend(fontsize="small")
            self._status.value = (f"{len(self.profiles)} profile(s), width {self._width.value} px"
                                  + (f"; not plotted (not in {unit}): {', '.join(skipped)}" if skipped else ""))
        self.canvas.apply_theme()
        return self.profiles

    # ---- export -------------------------------------------------------------------------
    def export_csv(self, path) -> Path:
        if not self.profiles:
            self.update_profiles()
        return write_profiles_csv(path, self.profiles)

    def export_png(self, path) -> Path:
        self.canvas.figure.savefig(path, dpi=150, facecolor=self.canvas.figure.get_facecolor())
        return Path(path)

    def _ask_path(self, file_filter: str, save) -> None:
        path, _ = QFileDialog.getSaveFileName(self.native, "Export profile", "", file_filter)
        if path:
            save(path)
            self._status.value = f"saved {path}"
