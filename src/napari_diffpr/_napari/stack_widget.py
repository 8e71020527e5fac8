"""Stack dock (issue 12): reconstruct a time-lapse (or any N-D stack) in napari.

- "Current frame" reconstructs the frame on screen into a 2-D layer.
- "Whole stack (lazy)" adds a result layer backed by a dask array (:mod:`napari_diffpr.lazy`):
  napari asks it only for the frame on screen, so scrolling through time computes frame by
  frame, each at most once while it is kept.
- "Compute all" computes every frame in a worker thread with a progress bar and Cancel; the
  lazy layer then holds the computed stack (and each frame's record in its metadata).

The dock works on numpy stacks and on lazy ones (an OME-Zarr opened by the reader, a TIFF
opened through tifffile's zarr store): the input is never loaded whole.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton

from ..methods import get_method, methods as registered_methods
from ..lazy import LazyResult
from .layers import UNWRAPPED_COLORMAP, phase_contrast, spatial_kwargs
from .lazy_layers import add_lazy_layer, is_stack, lazy_reconstruction, viewed_index
from .param_form import ParamForm

if TYPE_CHECKING:  # pragma: no cover
    import napari


class StackWidget(Container):
    """Reconstruct the current frame, the whole stack lazily, or compute it all (see module doc)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._input = ComboBox(label="stack", choices=self._stack_names)
        self._method = ComboBox(label="method", choices=self._method_names)
        self._current = PushButton(text="Current frame")
        self._lazy = PushButton(text="Whole stack (lazy)")
        self._all = PushButton(text="Compute all")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(value=0, min=0, max=1, visible=False)
        self._status = Label(value="")
        self.form = ParamForm(get_method(self._method.value or "fourier"))
        super().__init__(widgets=[self._input, self._method, self.form, self._current, self._lazy, self._all,
                                  self._cancel, self._progress, self._status])
        self.lazy: LazyResult | None = None
        self.result_layer = None
        self.worker = None
        self._input.changed.connect(self._on_input)
        self._method.changed.connect(self._on_method)
        self._current.clicked.connect(lambda: self.run_current())
        self._lazy.clicked.connect(lambda: self.run_lazy())
        self._all.clicked.connect(lambda: self.compute_all())
        self._cancel.clicked.connect(self.cancel)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(lambda *_: self._refresh())
        self._refresh()

    def _refresh(self):
        self._input.reset_choices()
        if self._input.value is None and self._input.choices:
            self._input.value = self._input.choices[0]

    # ------------------------------------------------------------------ choices
    def _stack_names(self, *_) -> list[str]:
        return [layer.name for layer in self._viewer.layers if is_stack(layer)]

    def _layer(self):
        name = self._input.value
        return self._viewer.layers[name] if name in self._viewer.layers else None

    def _method_names(self, *_) -> list[str]:
        layer = self._layer() if hasattr(self, "_input") else None
        modality = "rgb" if layer is not None and getattr(layer, "rgb", False) else "hologram"
        return sorted(registered_methods(modality))

    def _on_input(self, *_):
        self._method.reset_choices()

    def _on_method(self, name):
        if not name:
            return
        index = list(self).index(self.form)
        self.remove(self.form)
        self.form = ParamForm(get_method(name))
        self.insert(index, self.form)

    # ------------------------------------------------------------------ actions
    def viewed_index(self, layer=None) -> tuple:
        """Index over the layer's leading axes of the frame on screen."""
        return viewed_index(self._viewer, layer or self._layer())

    def make_lazy(self) -> LazyResult:
        layer = self._layer()
        if layer is None:
            raise ValueError("choose a stack layer (an image with time or z axes)")
        return lazy_reconstruction(layer.data, self._method.value, **self.form.values())

    def _start(self, fn, on_returned, *, generator=False, total=0):
        from napari.qt.threading import create_worker

        self.worker = create_worker(fn, _start_thread=False)
        self._cancel.enabled = True
        for b in (self._current, self._lazy, self._all):
            b.enabled = False
        self._progress.visible = bool(total)
        self._progress.max = max(1, total)
        self._progress.value = 0
        self.worker.returned.connect(on_returned)
        if generator:  # only generator workers yield and can be quit
            self.worker.yielded.connect(self._on_yield)
            self.worker.aborted.connect(lambda: setattr(self._status, "value", "cancelled"))
        self.worker.errored.connect(lambda exc: setattr(self._status, "value", f"failed: {exc}"))
        self.worker.finished.connect(self._done)
        self.worker.start()
        return self.worker

    def _done(self):
        self._cancel.enabled = False
        for b in (self._current, self._lazy, self._all):
            b.enabled = True

    def _on_yield(self, value):
        done, total = value
        self._progress.value = done
        self._status.value = f"frame {done}/{total}"

    def run_current(self):
        """Reconstruct the frame on screen into a 2-D layer."""
        layer = self._layer()
        lazy = self.make_lazy()
        index = self.viewed_index(layer)

        def show(res):
            name = f"{layer.name} [{lazy.method.name}] frame {index}"
            meta = {**res.metadata, "napari_diffpr_kind": "phase", "frame_index": list(index)}
            if name in self._viewer.layers:
                self._viewer.layers[name].data = res.phase
                self._viewer.layers[name].metadata = meta
            else:
                self._viewer.add_image(res.phase, name=name, colormap=UNWRAPPED_COLORMAP, metadata=meta,
                                       contrast_limits=phase_contrast(res.phase), **spatial_kwargs(layer, 2))
            self._status.value = f"frame {index} reconstructed"

        return self._start(lambda: lazy.frame(index), show)

    def run_lazy(self):
        """Add (or replace) the lazy result layer; only the frame on screen is computed, in a
        worker, first (for the contrast limits); the rest when viewed."""
        layer = self._layer()
        lazy = self.make_lazy()
        index = self.viewed_index(layer)

        def show(res):
            self.lazy = lazy
            name = f"{layer.name} [{lazy.method.name}] (stack)"
            self.result_layer = add_lazy_layer(self._viewer, lazy, layer, name, res.phase)
            self._status.value = f"lazy stack of {lazy.metadata['n_frames']} frame(s); frames compute when viewed"

        return self._start(lambda: lazy.frame(index), show)

    def compute_all(self):
        """Compute every frame of the lazy result (made first if needed) with progress and
        Cancel; the layer then holds the computed numpy stack."""
        if self.lazy is None or self.result_layer is None or self.result_layer not in self._viewer.layers:
            self.lazy, self.result_layer = self.make_lazy(), None
        lazy = self.lazy
        lead = lazy.lead_shape
        total = int(np.prod(lead, dtype=int))

        def work():
            out = np.empty(tuple(lazy.phase.shape), np.float32)
            for k, index in enumerate(np.ndindex(*lead)):
                out[index] = lazy.frame(index).phase
                yield (k + 1, total)
            return out

        def show(out):
            meta: dict[str, Any] = {**lazy.metadata, "napari_diffpr_kind": "phase", "lazy": False,
                                    "frames": [lazy.records.get(i) for i in np.ndindex(*lead)]}
            if self.result_layer is not None and self.result_layer in self._viewer.layers:
                self.result_layer.data = out
                self.result_layer.metadata = meta
            else:
                layer = self._layer()
                self.result_layer = self._viewer.add_image(
                    out, name=f"{layer.name} [{lazy.method.name}] (stack)", colormap=UNWRAPPED_COLORMAP,
                    metadata=meta, contrast_limits=phase_contrast(out[(0,) * len(lead)]),
                    **spatial_kwargs(layer, out.ndim))
            self._status.value = f"computed all {total} frame(s)"

        return self._start(work, show, generator=True, total=total)

    def cancel(self):
        if self.worker is not None:
            self.worker.quit()
