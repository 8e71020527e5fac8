"""The Refocus dock: bring an off-axis hologram into focus numerically, interactively.

The hologram is demodulated once (Fourier method, with its background hologram if chosen) and
the complex field is kept; the slider (µm) then only re-propagates that cached field (angular
spectrum in the medium, retrieval/refocus.py), and **Autofocus** searches the sharpest plane and
plots the focus curve. The refocused phase goes to the layer "<hologram> [fourier refocused]",
whose record holds the distance (``refocus_um``) and, after autofocus, the curve. Scripts do the
same with ``reconstruct(..., refocus=...)`` or ``napari_diffpr.refocus(result, ...)``.
"""
from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSlider, FloatSpinBox, Label, PushButton

from ..caching import fingerprint
from ..errors import InputError, ParameterError
from ..retrieval.refocus import DEFAULT_RANGE_UM, FOCUS_METRICS
from . import lineage
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .layer_info import pixel_size_um
from .lifecycle import connect_while_alive

NONE = "(none)"
METHOD_LABEL = "fourier refocused"


class RefocusWidget(Container):
    """Dock widget; ``autofocus()``, ``refocus_to(z)`` and ``layer`` are what tests drive."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self._cache_key = None
        self._field = None  # the in-focus-as-recorded Result (phase + amplitude), z = 0
        self.demodulations = 0  # how often the hologram was demodulated (the cache's misses)
        self.search = None
        self.layer = None
        self._hologram = ComboBox(label="hologram", choices=self._hologram_choices)
        self._background = ComboBox(label="background", choices=self._background_choices,
                                    tooltip="Sample-free hologram (optional)")
        self._wavelength = FloatSpinBox(value=0.532, min=0.2, max=2.0, step=0.001, label="wavelength (µm)")
        self._pixel = FloatSpinBox(value=0.1, min=1e-4, max=100.0, step=0.001, label="pixel size (µm)")
        self._medium = FloatSpinBox(value=1.333, min=1.0, max=2.0, step=0.001, label="medium index")
        for w in (self._wavelength, self._pixel, self._medium):
            w.native.setDecimals(5)
        self._metric = ComboBox(label="focus metric", choices=list(FOCUS_METRICS), value="tamura")
        self._range = FloatSpinBox(value=DEFAULT_RANGE_UM, min=1.0, max=500.0, step=1.0, label="search ± (µm)")
        self._slider = FloatSlider(value=0.0, min=-DEFAULT_RANGE_UM, max=DEFAULT_RANGE_UM, step=0.1,
                                   label="refocus (µm)", tracking=False,
                                   tooltip="Propagation distance; positive = towards the camera")
        self._auto = PushButton(text="Autofocus")
        self._status = Label(value="")
        self._body = Container(widgets=[self._hologram, self._background, self._wavelength, self._pixel,
                                        self._medium, self._metric, self._range, self._slider, self._auto,
                                        self._status])
        super().__init__(widgets=[], labels=False)
        wrap_label(self._status)
        from .mpl_canvas import ThemedCanvas

        self.canvas = ThemedCanvas(napari_viewer, figsize=(4.0, 2.4))
        self._body.native.layout().addWidget(self.canvas)
        narrow_combos(self._body)
        scroll_body(self, self._body)  # fits a laptop screen next to the other docks
        self._slider.changed.connect(lambda value: self.refocus_to(float(value)))
        self._auto.changed.connect(lambda *_: self.autofocus())
        self._range.changed.connect(lambda value: self._set_range(float(value)))
        self._hologram.changed.connect(lambda *_: self._fill_optics())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        self.reset_choices()
        self._fill_optics()

    def _grey_layers(self, kinds):
        return [lay.name for lay in self._viewer.layers
                if lay.__class__.__name__ == "Image" and not getattr(lay, "rgb", False)
                and np.ndim(lay.data) == 2 and (lay.metadata or {}).get("napari_diffpr_kind") in kinds]

    def _hologram_choices(self, *_):
        return self._grey_layers(("hologram", None))

    def _background_choices(self, *_):
        return [NONE] + self._grey_layers(("background",))

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        self._hologram.reset_choices()
        self._background.reset_choices()
        name = self._hologram.value
        if name and self._background.value == NONE and f"{name} background" in self._background.choices:
            self._background.value = f"{name} background"

    def _fill_optics(self) -> None:
        name = self._hologram.value
        if not name or name not in self._viewer.layers:
            return
        layer = self._viewer.layers[name]
        md = layer.metadata or {}
        if md.get("wavelength_um"):
            self._wavelength.value = float(md["wavelength_um"])
        px = pixel_size_um(layer)
        if px:
            self._pixel.value = px
        if md.get("medium_index"):
            self._medium.value = float(md["medium_index"])

    def _set_range(self, r: float) -> None:
        self._slider.min, self._slider.max = -r, r

    # ------------------------------------------------------------------------------ compute
    def _base(self):
        """The demodulated field (a Result at z = 0), computed once per hologram/background/optics."""
        name = self._hologram.value
        if not name or name not in self._viewer.layers:
            raise InputError("no hologram layer: open one (or File > Open Sample > DiffPR)")
        bg_name = self._background.value
        holo = self._viewer.layers[name]
        bg = self._viewer.layers[bg_name] if bg_name not in (None, NONE) and bg_name in self._viewer.layers else None
        optics = (self._wavelength.value, self._pixel.value, self._medium.value)
        # keyed on the layers' identities and bytes: napari hands plugins a proxy viewer (id()
        # of a layer changes on every access) and a layer's data may be edited in place
        key = (lineage.uid(holo), lineage.uid(bg), fingerprint(np.asarray(holo.data),
                                                               None if bg is None else np.asarray(bg.data)), optics)
        if key != self._cache_key:
            from .. import api

            self._field = api.reconstruct(np.asarray(holo.data), "fourier",
                                          background=None if bg is None else np.asarray(bg.data),
                                          wavelength=optics[0], pixel_size=optics[1], medium_index=optics[2])
            self._cache_key = key
            self.demodulations += 1
        return holo, self._field

    def _show(self, holo, result) -> None:
        from .layers import show_result

        self.layer = show_result(self._viewer, result, source_layer=holo, method=METHOD_LABEL)

    def refocus_to(self, distance_um: float):
        """Show the hologram refocused by ``distance_um`` (re-propagating the cached field)."""
        from ..retrieval.refocus import refocus_result

        try:
            holo, base = self._base()
            result = refocus_result(base, float(distance_um))
        except (InputError, ParameterError) as exc:
            self._status.value = str(exc)
            return None
        if self.search is not None:
            result.metadata["focus_search"] = self.search
        self._show(holo, result)
        self._status.value = f"refocused by {distance_um:+.2f} µm"
        self._plot(float(distance_um))
        return result

    def autofocus(self):
        """Search the sharpest plane, move the slider there, plot the focus curve; returns µm."""
        from ..retrieval.refocus import autofocus

        try:
            holo, base = self._base()
            field = (base.amplitude * np.exp(1j * base.phase)).astype(np.complex64)
            found = autofocus(field, self._wavelength.value, self._pixel.value, self._medium.value,
                              metric=self._metric.value, range_um=self._range.value)
        except (InputError, ParameterError) as exc:
            self._status.value = str(exc)
            return None
        self.search = found.as_dict()
        z = round(found.distance_um, 2)
        with self._slider.changed.blocked():
            self._slider.value = z
        self.refocus_to(found.distance_um)
        edge = " (at the end of the range: widen it)" if found.at_range_edge else ""
        self._status.value = (f"autofocus ({found.metric}): {found.distance_um:+.2f} µm{edge}, "
                              f"{len(found.curve_um)} planes in {found.seconds:.2f} s")
        return found.distance_um

    def _plot(self, current: float | None = None) -> None:
        ax = self.canvas.axes
        ax.clear()
        if self.search is not None:
            ax.plot(self.search["curve_um"], self.search["curve_metric"], marker=".", ms=3, lw=1)
            ax.axvline(self.search["distance_um"], color="#2ca02c", lw=1, label="autofocus")
            ax.set_ylabel(f"{self.search['metric']} (lower = sharper)")
        if current is not None:
            ax.axvline(current, color="#d62728", lw=1, ls="--", label="shown")
        ax.set_xlabel("refocus distance (µm)")
        self.canvas.apply_theme()
        self.canvas.draw_idle()
