"""The Reconstruct dock: input/background layers, a method dropdown and its parameter form (built
from the registry), a device dropdown, Run/Cancel, progress, live previews and result layers.

Moving a refine-only control (the DiffPR corruption-level slider, sampler, steps, seed) re-runs
only the refinement: the same ``cache`` dict goes back to run_method, so the method skips stage 1.
The re-run is debounced and cancels the job in flight.

A stack (a hologram with leading T/Z axes, an RGB image with more than H x W x 3) gets a scope
choice (issue 12): the current frame (the one the viewer's dims point at, into a 2-D layer
"{input} [{method}] [t=5]"), the whole stack as a lazy layer that computes the frames viewed
(the Stack dock's machinery, :mod:`.lazy_layers`), or the whole stack computed now. Lazy
(dask) inputs and large stacks default to the current frame, so nothing computes thousands of
frames unasked; small in-memory stacks default to computing the whole stack.

Everything the dock remembers is keyed on ``layer.unique_id`` (lineage.uid), never on ``id()``:
napari hands plugin docks a proxy viewer whose layers are new objects on every access.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, ProgressBar, PushButton
from napari.utils.notifications import show_error

from ..device import DEVICE_CHOICES
from ..errors import DiffPRError
from ..methods import Method, methods
from ..result import Progress, Result
from . import layers as result_layers
from . import legend, lineage
from .dock_fit import narrow_combos, scroll_body, wrap_label
from .input_checks import background_mismatch, channel_first_rgb_warning
from .layer_info import modality_of, physical_defaults
from .lazy_layers import (LAZY_TIFF_BYTES, LAZY_TIFF_FRAMES, add_lazy_layer, compute_frame, frame_label,
                          lazy_reconstruction, viewed_index)
from .lifecycle import connect_while_alive, single_shot_timer
from .param_form import ParamForm
from .user_choice import UserChoice
from .worker import describe_error, start_job, start_reconstruction

NO_BACKGROUND = "(none)"
MEASUREMENT_KINDS = (None, "hologram", "background", "rgb")
REFINE_DEBOUNCE_MS = 300

# What a stack input is run on (the scope control shows only for inputs with leading axes).
SCOPE_FRAME, SCOPE_LAZY, SCOPE_ALL = "frame", "lazy", "all"
SCOPE_CHOICES = [("current frame", SCOPE_FRAME), ("whole stack, lazy", SCOPE_LAZY),
                 ("whole stack, compute now", SCOPE_ALL)]
LAZY_SUFFIX = " (lazy)"


def lead_ndim(layer) -> int:
    """How many leading axes (T, Z...) ``layer`` has before its frames (H x W, or H x W x 3)."""
    spatial = 3 if modality_of(layer) == "rgb" else 2
    return max(0, len(np.shape(layer.data)) - spatial)


def default_scope(layer) -> str:
    """The current frame for a lazy (dask, zarr...) stack or a large one (the sizes above which
    the reader opens a TIFF lazily); the whole stack, computed now, for a small numpy stack."""
    data = layer.data
    if not isinstance(data, np.ndarray):
        return SCOPE_FRAME
    n_frames = int(np.prod(np.shape(data)[:lead_ndim(layer)], dtype=int))
    return SCOPE_FRAME if n_frames >= LAZY_TIFF_FRAMES or data.nbytes >= LAZY_TIFF_BYTES else SCOPE_ALL


_FRAME_STAGE = re.compile(r"^frame (\d+)/(\d+): ")


def overall_fraction(event: Progress) -> float:
    """Progress over the whole job: run_method prefixes stack events with "frame i/n: ", so
    the bar runs once over all frames instead of restarting for each."""
    match = _FRAME_STAGE.match(event.stage)
    if not match:
        return event.fraction
    i, n = int(match.group(1)), int(match.group(2))
    return min(1.0, (i - 1 + event.fraction) / max(n, 1))


def _device_choices(probe: bool = True) -> list[tuple[str, str]]:
    """(label, value) pairs: 'auto' says what it resolves to; absent devices are marked.
    ``probe=False`` gives plain names without importing torch (slow to import)."""
    if not probe:
        return [(name, name) for name in DEVICE_CHOICES]
    try:
        from ..device import available_devices

        found = available_devices()
    except Exception:  # torch missing or broken: the CPU methods still work
        found = ["cpu"]
    choices = [(f"auto ({found[0]})", "auto")]
    for name in DEVICE_CHOICES[1:]:
        choices.append((name if name in found else f"{name} (not available)", name))
    return choices


class ReconstructWidget(Container):
    """Dock widget; ``run()`` starts a reconstruction and returns the worker (tests wait on it)."""

    def __init__(self, napari_viewer):
        self._viewer = napari_viewer
        self._forms: dict[str, ParamForm] = {}
        self.worker = None
        self._cache_key: tuple | None = None
        self._cache: dict = {}
        self._done_key: tuple | None = None  # settings of the last finished run
        self._shown: tuple | None = None  # (method, input uid) the form was last shown for
        self._input_uid: str | None = None  # the input the background and warnings are for
        self._background_choice = UserChoice()  # the user picked the background: keep it for this input
        self._checked: dict[tuple, str | None] = {}  # (hologram uid, background uid) -> warning
        self._pending_rerun = False
        self._job: dict[str, Any] = {}
        self.last_result: Result | None = None
        self.lazy = None  # the LazyResult of the last "whole stack, lazy" run

        self._input = ComboBox(label="input", choices=self._input_choices,
                               tooltip="Hologram (2-D or a T/Z stack) or RGB brightfield image")
        self._background = ComboBox(label="background", choices=self._background_choices,
                                    tooltip="Sample-free hologram of the same field (optional). Picked "
                                            "automatically by name ('X background', 'X_bg'...) or from "
                                            "the same file; only holograms of the input's size are offered")
        self._pairing = Label(value="")
        self._scope = ComboBox(label="scope", choices=SCOPE_CHOICES, value=SCOPE_ALL, visible=False,
                               tooltip="For a stack: reconstruct the frame on screen, the whole stack as a "
                                       "lazy layer that computes the frames you view, or every frame now "
                                       "(progress and Cancel)")
        self._method = ComboBox(label="method", choices=self._method_choices)
        self._about = Label(value="")
        self._warning = Label(value="")
        self._devices_probed = False
        self._device = ComboBox(label="device", choices=_device_choices(probe=False),
                                tooltip="Where torch methods run; 'auto' picks CUDA, then MPS, then CPU")
        self._params = Container(labels=False)
        self._params.margins = (0, 0, 0, 0)   # every pixel of the dock's width is the canvas's
        self._weights = FileEdit(label="weights file", mode="r", filter="*.safetensors", value="",
                                 tooltip="Your own trained or fine-tuned stage-1 network (.safetensors); "
                                         "empty = the installed weights. Checked before anything runs.")
        self._prior_weights = FileEdit(label="prior weights", mode="r", filter="*.safetensors", value="",
                                       tooltip="Your own diffusion prior (.safetensors) for DiffPR; empty = installed")
        self._reset = PushButton(text="Reset from file",
                                 tooltip="Set the physical parameters (pixel size, wavelengths, ...) "
                                         "from the input layer's file again, replacing your edits")
        self._run_button = PushButton(text="Run")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._bar = ProgressBar(min=0, max=100, value=0, label="progress")
        self._status = Label(value="ready")
        self._body = Container(widgets=[self._input, self._scope, self._background, self._pairing, self._method,
                                        self._about, self._warning, self._device, self._params, self._weights,
                                        self._prior_weights, self._reset,
                                        Container(widgets=[self._run_button, self._cancel_button],
                                                  layout="horizontal", labels=False),
                                        self._bar, self._status])
        super().__init__(widgets=[], labels=False)
        narrow_combos(self._body)
        scroll_body(self, self._body)
        for label in (self._about, self._pairing, self._warning, self._status):
            wrap_label(label)
        self._warning.native.setStyleSheet("color: #e0a030;")

        self._rerun_timer = single_shot_timer(self.native, REFINE_DEBOUNCE_MS, self._refine_rerun)

        self._input.changed.connect(self._on_input_changed)
        self._background.changed.connect(self._on_background_changed)
        self._method.changed.connect(self._show_form)
        self._reset.changed.connect(lambda *_: self.reset_from_file())
        self._run_button.changed.connect(lambda *_: self.run())
        self._cancel_button.changed.connect(lambda *_: self.cancel())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed):
            connect_while_alive(self.native, event, self._refresh_choices)
        legend.attach(self.native, napari_viewer)
        # closing the viewer mid-run: stop the job so no callback reaches deleted widgets
        self.native.destroyed.connect(self._quit_on_destroy)
        self._on_input_changed()

    def _quit_on_destroy(self, *_):
        worker = getattr(self, "worker", None)  # may run while Python tears the dock down
        if worker is not None:
            worker.quit()

    # ---- choices --------------------------------------------------------------------------
    def _image_layers(self):
        # measurements only: not our results, previews, ground truths or error maps
        return [lay for lay in self._viewer.layers
                if lay.__class__.__name__ == "Image" and modality_of(lay) is not None
                and (lay.metadata or {}).get("napari_diffpr_kind") in MEASUREMENT_KINDS]

    def _input_choices(self, *_):
        return [lay.name for lay in self._image_layers()]

    def _background_candidates(self):
        layer = self.input_layer
        if layer is None or modality_of(layer) != "hologram":
            return []
        size = tuple(layer.data.shape[-2:])
        return [lay for lay in self._image_layers()
                if modality_of(lay) == "hologram" and lineage.uid(lay) != lineage.uid(layer)
                and tuple(lay.data.shape[-2:]) == size]

    def _background_choices(self, *_):
        return [NO_BACKGROUND] + [lay.name for lay in self._background_candidates()]

    def _method_choices(self, *_) -> list[tuple[str, str]]:
        layer = self.input_layer
        modality = modality_of(layer) if layer is not None else None
        return [(f"{m.name} — {m.title}", name) for name, m in methods(modality).items()]

    def _refresh_choices(self, *_):
        if self._viewer is None:
            return
        self._input.reset_choices()
        self._on_input_changed()

    def reset_choices(self, *_):  # napari calls this on layer changes for magicgui docks
        self._refresh_choices()

    # ---- state ----------------------------------------------------------------------------
    @property
    def input_layer(self):
        name = self._input.value
        return self._viewer.layers[name] if name and name in self._viewer.layers else None

    @property
    def background_layer(self):
        name = self._background.value
        if not name or name == NO_BACKGROUND or name not in self._viewer.layers:
            return None
        return self._viewer.layers[name]

    @property
    def scope(self) -> str:
        """SCOPE_FRAME, SCOPE_LAZY or SCOPE_ALL; a 2-D input is its own whole stack."""
        layer = self.input_layer
        return self._scope.value if layer is not None and lead_ndim(layer) else SCOPE_ALL

    def viewed_frame(self) -> tuple | None:
        """The input's frame on screen (a tuple over its leading axes), or None for a 2-D input."""
        layer = self.input_layer
        if layer is None or not lead_ndim(layer):
            return None
        return viewed_index(self._viewer, layer)[:lead_ndim(layer)]

    @property
    def method(self) -> Method | None:
        name = self._method.value
        return methods().get(name) if name else None

    @property
    def form(self) -> ParamForm | None:
        return self._forms.get(self._method.value)

    def _on_input_changed(self, *_):
        self._method.reset_choices()
        layer = self.input_layer
        new_input = lineage.uid(layer) != self._input_uid
        if new_input:
            self._input_uid = lineage.uid(layer)
            self._background_choice.by_user = False
            if layer is not None and lead_ndim(layer):
                self._scope.value = default_scope(layer)
        self._scope.visible = layer is not None and lead_ndim(layer) > 0
        self._set_background_choices(auto=new_input or not self._background_choice.by_user)
        self._warning.value = (channel_first_rgb_warning(layer.data) if layer is not None else None) or ""
        self._warning.visible = bool(self._warning.value)
        self._show_form()

    def _set_background_choices(self, auto: bool) -> None:
        """Offer only holograms of the input's size; pick the paired one unless the user chose."""
        keep = self._background.value
        with self._background_choice.dock_sets():
            self._background.reset_choices()
            if auto:
                layer = self.input_layer
                paired = lineage.pick_background(layer, self._background_candidates()) if layer is not None else None
                self._background.value = paired.name if paired is not None else NO_BACKGROUND
            elif keep in self._background.choices:
                self._background.value = keep
            else:  # the user's background is gone
                self._background.value = NO_BACKGROUND
                self._background_choice.by_user = False
        self._describe_pairing()

    def _on_background_changed(self, *_):
        if self._background_choice.note_change():
            self._describe_pairing()

    def _describe_pairing(self) -> None:
        layer, bg, method = self.input_layer, self.background_layer, self.method
        if layer is None or modality_of(layer) != "hologram":
            self._pairing.value = ""
        elif bg is None:
            self._pairing.value = "no background hologram: aberrations are fitted from the hologram itself"
        else:
            how = "your choice" if self._background_choice.by_user else (
                "same file" if lineage.meta(bg).get("dataset") and
                lineage.meta(bg).get("dataset") == lineage.meta(layer).get("dataset") else "paired by name")
            key = (lineage.uid(layer), lineage.uid(bg))
            if key not in self._checked:
                self._checked[key] = background_mismatch(layer.data, bg.data)
            warning = self._checked[key]
            self._pairing.value = f"background: {bg.name!r} ({how})" + (f" — ⚠ {warning}" if warning else "")
        self._pairing.visible = bool(self._pairing.value) and (method is None or method.uses_background)

    def _show_form(self, *_):
        method, layer = self.method, self.input_layer
        shown = (method.name if method else None, lineage.uid(layer))
        if shown == self._shown:
            return  # layers came and went (a result, a preview): keep the user's edits
        self._shown = shown
        self._params.clear()
        if method is None:
            self._about.value = "no method for this input"
            return
        if method.name not in self._forms:
            form = ParamForm(method)
            form.on_change(self._on_param_changed)
            form.filled_for = None
            self._forms[method.name] = form
        form = self._forms[method.name]
        if layer is not None and form.filled_for != lineage.uid(layer):
            # a new input: its file fills the physical values the user has not edited
            form.fill(physical_defaults(method, layer))
            form.filled_for = lineage.uid(layer)
        self._params.append(form)
        self._about.value = method.description
        self._background.enabled = method.uses_background
        self._describe_pairing()
        self._device.enabled = any(p.name == "device" for p in method.params)
        self._weights.visible = method.uses_torch
        self._prior_weights.visible = method.uses_torch and method.name.startswith("diffpr")
        if self._device.enabled and not self._devices_probed:
            # first torch method shown: now it is worth importing torch to see what is there
            value = self._device.value
            self._device.choices = []  # else magicgui re-orders items whose label changed
            self._device.choices = _device_choices()
            self._device.value = value
            self._devices_probed = True

    def reset_from_file(self) -> list[str]:
        """Set the physical parameters from the input layer's file/metadata again, replacing the
        user's edits; returns the names set."""
        method, layer, form = self.method, self.input_layer, self.form
        if method is None or layer is None or form is None:
            return []
        names = form.fill(physical_defaults(method, layer), force=True)
        self._status.value = (f"from {layer.name!r}: {', '.join(names)}" if names
                              else f"{layer.name!r} carries no physical parameters for {method.name}")
        return names

    def set_input(self, layer: str, background: str | None = None) -> None:
        """Choose the input layer (and optionally the background layer) by name."""
        self._input.reset_choices()
        self._input.value = layer
        if background is not None:
            self._background.reset_choices()
            self._background.value = background

    def set_method(self, name: str) -> None:
        """Choose a registered method by name (the list follows the input's modality)."""
        self._method.reset_choices()
        self._method.value = name

    def set_scope(self, scope: str) -> None:
        """For a stack input: "frame" (the frame on screen), "lazy" or "all" (see SCOPE_CHOICES)."""
        self._scope.value = scope

    def set_device(self, device: str) -> None:
        """'auto', 'cpu', 'cuda' or 'mps' (used by methods that declare a device)."""
        self._device.value = device

    def set_params(self, **values: Any) -> None:
        """Set parameters of the current method's form (from napari's console or tests)."""
        self.form.set_values(values)

    def _on_param_changed(self, name: str) -> None:
        method = self.method
        if method is None or name not in method.refine_only_params or self.scope == SCOPE_LAZY:
            return  # a lazy stack has no stage 1 kept to refine: it waits for Run
        # Only a run on the same input with the same stage-1 settings (finished, or still in
        # flight) is refined again; anything else waits for Run.
        key = self._current_key()
        running_same = self.worker is not None and self._job.get("key") == key
        if key is not None and (self._done_key == key or running_same):
            self._rerun_timer.start()  # restarts: debounced while the slider moves

    def _refine_rerun(self) -> None:
        if self.worker is not None:
            self._pending_rerun = True
            self.worker.quit()  # aborts at the next yield; _finished starts the re-run
        else:
            self.run()

    def _current_key(self) -> tuple | None:
        layer, method, form = self.input_layer, self.method, self.form
        if layer is None or method is None or form is None:
            return None
        try:
            values = form.values()
        except ValueError:
            return None
        stage1 = tuple((k, repr(v)) for k, v in sorted(values.items())
                       if k not in method.refine_only_params)
        background = lineage.uid(self.background_layer) if method.uses_background else None
        # one frame of a stack has its own cache: frame 3's stage 1 is never reused for frame 5
        scope = self.scope
        where = (scope, self.viewed_frame()) if scope == SCOPE_FRAME else scope
        # the methods' caches check the input's bytes themselves (an in-place edit recomputes)
        return (lineage.uid(layer), method.name, background, stage1, self._device.value, self._weight_files(),
                where)

    def _weight_files(self) -> tuple[str | None, str | None]:
        """The weight files chosen in the dock (None = the installed weights)."""
        def path(edit):
            text = str(edit.value or "").strip()
            return None if text in ("", ".") else text
        return path(self._weights), path(self._prior_weights)

    def _apply_weight_files(self, method) -> bool:
        """Point the method's networks at the chosen files (or back to the installed ones);
        False, with the reason in the status line, when a file does not fit."""
        if not method.uses_torch:
            return True
        from ..models.weights import prior_name, use_method_weights, use_weights_file

        weights, prior = self._weight_files()
        base = method.name[:-4] if method.name.endswith("-rgb") else method.name
        try:
            # forget an earlier choice first: an emptied field means the installed weights again
            use_weights_file(None, f"{'unet' if base == 'unet' else 'reduced-unet'}-{method.modality}")
            if base == "diffpr":
                use_weights_file(None, prior_name(method.modality))
            use_method_weights(method, weights, prior if base == "diffpr" else None)
        except DiffPRError as exc:  # ParameterError / RetrievalError: a file that does not fit
            self._fail(str(exc))
            return False
        return True

    # ---- running --------------------------------------------------------------------------
    def run(self, start: bool = True):
        """Start a reconstruction with the dock's current settings; returns the worker (or
        None when the settings are invalid, with the reason in the status line).
        ``start=False`` returns it unstarted, so a caller can connect to it first and then
        call ``worker.start()`` (tests wait on ``worker.finished`` that way)."""
        layer, method, form = self.input_layer, self.method, self.form
        if layer is None or method is None:
            self._fail("choose an input layer and a method first")
            return None
        if self.worker is not None:
            self._pending_rerun = True
            self.worker.quit()
            return None
        try:
            params = form.values()
        except ValueError as exc:
            self._fail(str(exc))
            return None
        if any(p.name == "device" for p in method.params):
            params["device"] = self._device.value
        if not self._apply_weight_files(method):
            return None
        background = None
        bg_layer = self.background_layer if method.uses_background else None
        if bg_layer is not None:
            if tuple(bg_layer.data.shape[-2:]) != tuple(layer.data.shape[-2:]):
                self._fail(f"the background {bg_layer.name!r} is {bg_layer.data.shape[-2:]}, the hologram "
                           f"{layer.data.shape[-2:]}: choose a background of the same size or (none)")
                return None
            background = bg_layer.data
        scope = self.scope
        frame = self.viewed_frame() if scope in (SCOPE_FRAME, SCOPE_LAZY) else None
        where = f"{layer.name} [{frame_label(layer, frame)}]" if scope == SCOPE_FRAME else layer.name
        self._job = {"layer_uid": lineage.uid(layer), "method": method.name, "input_name": layer.name,
                     "done": False, "scope": scope, "frame": frame, "where": where,
                     "result_name": self._result_name(layer, method.name, scope, frame)}
        callbacks = dict(on_progress=self._on_progress, on_errored=self._on_errored, on_aborted=self._on_aborted,
                         on_finished=self._on_finished, activity=f"napari-diffpr {method.name} on {where}",
                         start=start)
        if scope == SCOPE_LAZY:
            return self._run_lazy(layer, method, background, params, frame, callbacks)
        key = self._current_key()
        if key != self._cache_key:  # new input, frame or stage-1 settings: start a fresh cache
            self._cache_key, self._cache = key, {}
        self._job["key"] = key
        self._set_running(True)
        self.worker = start_reconstruction(
            layer.data, method.name, background=background, cache=self._cache, params=params, frame=frame,
            on_returned=self._on_returned, **callbacks)
        return self.worker

    @staticmethod
    def _result_name(layer, method: str, scope: str, frame: tuple | None) -> str:
        name = result_layers.result_layer_name(layer.name, method)
        if scope == SCOPE_FRAME and frame is not None:
            return f"{name} [{frame_label(layer, frame)}]"
        return name + LAZY_SUFFIX if scope == SCOPE_LAZY else name

    def _run_lazy(self, layer, method: Method, background, params: dict, frame: tuple, callbacks: dict):
        """The whole stack as a lazy layer (the Stack dock's machinery): only the frame on screen
        is computed here, in a worker, for the contrast limits; napari computes the others when
        they are viewed."""
        if background is not None and np.ndim(background) != np.ndim(layer.data):
            background = np.asarray(background)  # one frame for all: read once, not per frame
        try:
            lazy = lazy_reconstruction(layer.data, method.name, background=background, **params)
        except (DiffPRError, ValueError) as exc:
            self._fail(str(exc))
            return None
        self._job.update(key=None, lazy=lazy)
        self._set_running(True)
        self.worker = start_job(compute_frame, (lazy, frame, f"{layer.name} [{frame_label(layer, frame)}]"),
                                on_returned=self._on_lazy_returned, **callbacks)
        return self.worker

    def cancel(self) -> None:
        self._pending_rerun = False
        self._rerun_timer.stop()
        if self.worker is not None:
            self._status.value = "cancelling…"
            self.worker.quit()

    def _set_running(self, running: bool) -> None:
        self._run_button.enabled = not running
        self._cancel_button.enabled = running
        if running:
            self._bar.value = 0
            self._status.value = f"running {self._job['method']} on {self._job['where']}…"

    def _source(self):
        return lineage.find(self._viewer, self._job.get("layer_uid"))

    def _on_progress(self, event: Progress) -> None:
        if self._job.get("done"):
            return
        self._bar.value = int(round(100 * overall_fraction(event)))
        text = f"{event.stage}: {event.step}/{event.total}" + (f" — {event.message}" if event.message else "")
        self._status.value = text
        self._viewer.status = f"napari-diffpr {self._job['method']} — {text}"
        source = self._source()
        if event.preview is not None and source is not None:
            result_layers.show_preview(self._viewer, event.preview, source, self._job["method"])

    def _drop_preview(self) -> None:
        self._job["done"] = True  # late progress events must not bring the preview back
        if self._job:
            result_layers.remove_preview(self._viewer, self._job["input_name"], self._job["method"])

    def _on_returned(self, result: Result) -> None:
        self._drop_preview()
        frame, source = self._job.get("frame"), self._source()
        if frame is not None:  # one frame of a stack: which one goes into the record
            result.metadata["frame_index"] = list(frame)
            if source is not None:
                result.metadata["stack_shape"] = list(np.shape(source.data))
        result_layers.show_result(self._viewer, result, source, self._job["method"],
                                  input_name=self._job["input_name"], name=self._job["result_name"])
        self.last_result = result
        self._done_key = self._job["key"]
        self._bar.value = 100
        self._status.value = (f"done: {self._job['result_name']}"
                              f" in {result.metadata.get('seconds', 0.0):.2f} s"
                              + (f" on {result.metadata['device']}" if result.metadata.get("device") else ""))

    def _on_lazy_returned(self, result: Result) -> None:
        self._drop_preview()
        source, lazy = self._source(), self._job["lazy"]
        if source is None:  # the input was closed while its frame computed
            self._status.value = "the input layer is gone"
            return
        layer = add_lazy_layer(self._viewer, lazy, source, self._job["result_name"], result.phase)
        self._viewer.layers.selection.active = layer  # the legend follows the selection
        self.lazy = lazy
        self._done_key = None  # nothing kept to refine: a slider change waits for Run
        self._bar.value = 100
        self._status.value = (f"lazy: {self._job['result_name']}, {lazy.metadata['n_frames']} frame(s); "
                              "each computes when you view it")

    def _on_errored(self, exc: BaseException) -> None:
        self._drop_preview()
        self._cache_key, self._cache = None, {}  # a half-written cache must not be reused
        self._done_key = None
        self._pending_rerun = False
        message = describe_error(exc, self._job.get("method", ""))
        self._status.value = message
        show_error(message)

    def _on_aborted(self) -> None:
        self._drop_preview()
        self._status.value = "cancelled"

    def _on_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        if self._pending_rerun:
            self._pending_rerun = False
            self.run()

    def _fail(self, message: str) -> None:
        self._status.value = message
        show_error(message)
