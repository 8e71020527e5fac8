"""Run napari_diffpr.api.run_method on a napari worker thread.

The same generator the headless ``reconstruct()`` drains runs here, so the dock never computes
something a script cannot. ``worker.quit()`` takes effect at the method's next ``yield`` (one
step); a quit worker emits ``aborted`` and never ``returned``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from napari.qt.threading import GeneratorWorker, create_worker

from ..api import run_method
from ..errors import DiffPRError

_OOM_WORDS = ("out of memory", "outofmemory", "cuda error: out of memory", "mps backend out of memory",
              "cannot allocate memory", "unable to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or any(w in text for w in _OOM_WORDS)


def describe_error(exc: BaseException, method: str = "") -> str:
    """A message a biologist can act on: our own errors as they are, anything else with its type,
    and an out-of-memory hint (smaller crop, fewer frames, CPU device)."""
    what = f"Reconstruction with {method!r} failed" if method else "Reconstruction failed"
    if is_out_of_memory(exc):
        return (f"{what}: out of memory ({exc}). Try a smaller crop or fewer frames, "
                "fewer sampler steps, or the 'cpu' device if the GPU is too small.")
    if isinstance(exc, DiffPRError):
        return f"{what}: {exc}"
    return f"{what}: {type(exc).__name__}: {exc}"


class ReconstructionFailed(Exception):
    """Carries a method's exception out of the worker thread (``.original``).

    superqt's worker treats a RuntimeError coming out of the work as "the Qt object was deleted"
    and ends silently, emitting neither ``errored`` nor ``finished`` -- and RetrievalError and
    torch's out-of-memory errors are RuntimeErrors. Wrapping every exception keeps them visible."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


def _run_guarded(job, *args, **kwargs):
    try:
        return (yield from job(*args, **kwargs))
    except Exception as exc:
        raise ReconstructionFailed(exc) from exc


def run_frame(data, index: tuple, method, *, background=None, **kwargs):
    """``run_method`` on frame ``index`` (a tuple over the leading axes) of the stack ``data``,
    read here, in the worker: only that frame is read (a dask stack is not loaded whole). A
    background with the stack's own shape gives its frame ``index``; any other is passed on."""
    from .lazy_layers import frame_at

    if background is not None and np.ndim(background) == np.ndim(data):
        background = frame_at(background, index)
    elif background is not None:
        background = np.asarray(background)
    return (yield from run_method(frame_at(data, index), method, background=background, **kwargs))


def start_job(job: Callable, args: tuple = (), kwargs: dict[str, Any] | None = None, *,
              on_progress: Callable | None = None, on_returned: Callable | None = None,
              on_errored: Callable | None = None, on_aborted: Callable | None = None,
              on_finished: Callable | None = None,
              activity: str | None = None, start: bool = True) -> GeneratorWorker:
    """Start the generator ``job(*args, **kwargs)`` (yielding Progress, returning a Result) in a
    thread and return the worker. Callbacks run in the GUI thread: ``on_progress(Progress)``,
    ``on_returned(Result)``, ``on_errored(exception)``, ``on_aborted()``, ``on_finished()``.
    ``start=False`` returns the worker unstarted.
    ``activity``: a description for the busy indicator in napari's status bar / activity dock.

    Callbacks may run re-entrantly (napari's activity dock calls processEvents), so a callback
    should ignore progress that arrives after the job has ended."""
    # _ignore_errors: the dock reports errors itself (notification + UI reset), so napari must
    # not re-raise them from the worker as well.
    worker = create_worker(_run_guarded, job, *args, _start_thread=False, _ignore_errors=True,
                           _progress={"desc": activity} if activity else False, **(kwargs or {}))
    relay = getattr(worker, "_relay_error", None)
    if relay is not None:  # napari would also post the raw traceback; the dock posts a clear message
        try:
            worker.errored.disconnect(relay)
        except (TypeError, RuntimeError):
            pass
    if on_errored is not None:
        worker.errored.connect(lambda exc: on_errored(getattr(exc, "original", exc)))
    for signal, callback in ((worker.yielded, on_progress), (worker.returned, on_returned), (worker.aborted, on_aborted),
                             (worker.finished, on_finished)):
        if callback is not None:
            signal.connect(callback)
    if start:
        worker.start()
    return worker


def start_reconstruction(data, method: str, *, background=None, cache: dict | None = None,
                         params: dict[str, Any] | None = None, frame: tuple | None = None,
                         **callbacks: Any) -> GeneratorWorker:
    """Start ``run_method(data, method, background=..., cache=..., **params)`` in a thread and
    return the worker (see :func:`start_job` for the callbacks, ``activity`` and ``start``).
    ``frame``: run on that frame of the stack ``data`` only (:func:`run_frame`)."""
    kwargs = {"background": background, "cache": cache, **(params or {})}
    if frame is not None:
        return start_job(run_frame, (data, tuple(frame), method), kwargs, **callbacks)
    return start_job(run_method, (data, method), kwargs, **callbacks)
