"""The Compensate dock: remove the reference wave's tilt and curvature from a phase layer when
there is no background hologram, by fitting Zernike (or plain polynomial) terms through the
background: found automatically, inside the shapes of a Shapes layer the user drew over empty
areas, or outside the cells of a Labels layer (e.g. the Measure dock's). The flattened phase goes
to "<phase> [compensated]" with the fitted coefficients in its metadata (``aberration_fit``) and
in the dock. The same as ``napari_diffpr.compensate(phase, mask=...)``."""
from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, PushButton, SpinBox

from ..errors import InputError, ParameterError
from ..retrieval.compensate import BASES
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .layers import spatial_kwargs
from .lifecycle import connect_while_alive

AUTO = "(find automatically)"


class CompensateWidget(Container):
    """Dock widget; ``compensate()`` runs it and returns the new layer."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self.fit = None
        self._phase = ComboBox(label="phase", choices=self._phase_choices,
                               tooltip="Unwrapped phase map (rad) with residual tilt/curvature")
        self._region = ComboBox(label="background", choices=self._region_choices,
                                tooltip="Where there is no sample: found automatically, inside the shapes of "
                                        "a Shapes layer, or outside the cells of a Labels layer")
        self._basis = ComboBox(label="basis", choices=list(BASES), value="zernike")
        self._order = SpinBox(value=2, min=0, max=8, label="order",
                              tooltip="Highest radial order (Zernike) or total degree (poly): 1 tilt, "
                                      "2 adds defocus/astigmatism, 3 coma and trefoil, 4 spherical")
        self._run = PushButton(text="Compensate")
        self._status = Label(value="")
        self._body = Container(widgets=[self._phase, self._region, self._basis, self._order, self._run,
                                        self._status])
        super().__init__(widgets=[], labels=False)
        wrap_label(self._status)
        narrow_combos(self._body)
        scroll_body(self, self._body)  # fits a laptop screen next to the other docks
        self._run.changed.connect(lambda *_: self.compensate())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self.reset_choices)
        self.reset_choices()

    def _phase_choices(self, *_):
        return [lay.name for lay in self._viewer.layers
                if lay.__class__.__name__ == "Image" and not getattr(lay, "rgb", False) and np.ndim(lay.data) == 2
                and (lay.metadata or {}).get("napari_diffpr_kind") not in ("hologram", "background")]

    def _region_choices(self, *_):
        return [AUTO] + [lay.name for lay in self._viewer.layers
                         if lay.__class__.__name__ in ("Shapes", "Labels")]

    def reset_choices(self, *_):
        if self._viewer is None:
            return
        self._phase.reset_choices()
        self._region.reset_choices()

    def _mask(self, shape, source):
        name = self._region.value
        if name in (None, AUTO) or name not in self._viewer.layers:
            return "auto"
        layer = self._viewer.layers[name]
        if layer.__class__.__name__ == "Labels":
            data = np.asarray(layer.data)
            if data.shape != shape:
                raise InputError(f"Labels layer {name!r} has shape {data.shape}, the phase {shape}")
            return data == 0
        if len(layer.data) == 0:
            raise InputError(f"Shapes layer {name!r} is empty: draw rectangles or polygons over empty background")
        # shapes are drawn in world coordinates (µm when the image has a scale): bring their
        # vertices into the phase layer's pixel grid before rasterising
        from napari.layers import Shapes

        verts = [np.array([source.world_to_data(layer.data_to_world(pt)) for pt in np.asarray(d, dtype=float)])
                 for d in layer.data]
        masks = np.asarray(Shapes(verts, shape_type=list(layer.shape_type)).to_masks(mask_shape=shape))
        return masks.any(axis=0)

    def compensate(self):
        from ..retrieval.compensate import compensate

        name = self._phase.value
        if not name or name not in self._viewer.layers:
            self._status.value = "no phase layer"
            return None
        source = self._viewer.layers[name]
        phase = np.asarray(source.data, dtype=np.float32)
        try:
            res = compensate(phase, mask=self._mask(phase.shape, source), basis=self._basis.value, order=int(self._order.value))
        except (InputError, ParameterError) as exc:
            self._status.value = str(exc)
            return None
        self.fit = res.metadata["aberration_fit"]
        meta = dict(source.metadata or {}, **res.metadata, napari_diffpr_kind="phase", source_layer=name)
        out = f"{name} [compensated]"
        if out in self._viewer.layers and self._viewer.layers[out].data.shape == phase.shape:
            layer = self._viewer.layers[out]
            layer.data, layer.metadata = res.phase, meta
        else:
            if out in self._viewer.layers:
                self._viewer.layers.remove(out)
            lo, hi = np.percentile(res.phase, [0.5, 99.5])
            layer = self._viewer.add_image(res.phase, name=out, colormap="viridis", metadata=meta,
                                           contrast_limits=(float(lo), float(hi) if hi > lo else float(lo) + 1),
                                           **spatial_kwargs(source, 2))
        big = sorted(self.fit["coefficients_rad"].items(), key=lambda kv: -abs(kv[1]))[:4]
        self._status.value = (f"fit on {100 * self.fit['background_fraction']:.0f} % of the pixels, residual "
                              f"{self.fit['residual_rms_rad']:.3f} rad RMS; largest terms: "
                              + ", ".join(f"{k} {v:+.3f}" for k, v in big) + " rad")
        return layer
