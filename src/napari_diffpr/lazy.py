"""Lazy reconstruction of stacks held as dask arrays (issue 12).

``reconstruct(dask_array, method, ...)`` returns a :class:`LazyResult`: its ``phase`` is a dask
array with one chunk per frame (``dask.array.map_blocks`` over the leading axes), so napari, a
slice or ``.compute()`` runs the method only on the frames asked for. Each frame is
reconstructed by the same :func:`napari_diffpr.api.reconstruct` as an eager call, so a frame
of the lazy result equals the eager result bit for bit. The record of every computed frame
(sideband, sign, timings...) is kept in :attr:`LazyResult.records`; :meth:`frame_record`
computes a frame's record when it is not there yet (e.g. after a distributed computation,
whose workers keep their own copies).

Only dask is imported here, and only when a dask array is given.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from . import __version__
from .errors import InputError
from .methods import Method


def _method_of(method, shape) -> Method:
    from .api import _pick_method

    return _pick_method(method, np.empty((0,) * (len(shape) - 1) + (shape[-1],)))


class LazyResult:
    """A reconstruction computed frame by frame on demand.

    phase: dask array of float32 radians with the input's leading axes and H x W (one chunk
        per frame). amplitude: the same for the amplitude, or None when the method gives none
        (known once any frame has been computed; asking computes the first frame).
    metadata: the run's record (method, resolved parameters, input shape, version) without
        per-frame values; ``records`` maps a frame index (tuple over the leading axes) to its
        record once computed; :meth:`frame_record` / :meth:`frame` give one frame on demand.
    """

    def __init__(self, data, method: str | Method = "fourier", *, background=None, keep: int = 4,
                 **params: Any):
        import dask.array as da
        from dask.base import tokenize

        if data.ndim < 2:
            raise InputError(f"the measurement must have at least 2 dimensions (H x W); got shape {data.shape}")
        self.method = _method_of(method, data.shape)
        self.params = dict(params)
        run_options = {k: self.params.pop(k) for k in ("tile", "tile_overlap") if k in self.params}
        resolved = self.method.resolve_params(self.params)
        self.params.update(run_options)  # reconstruct's own options (tiling) pass through  # parameter errors now, not at compute time
        self.rgb = self.method.modality == "rgb"
        spatial = 3 if self.rgb else 2
        if data.ndim < spatial:
            raise InputError(f"an RGB method needs H x W x 3 data; got shape {data.shape}")
        self.lead_shape = tuple(data.shape[:-spatial])
        self.frame_shape = tuple(data.shape[-spatial:])
        # one chunk per frame: the leading axes chunked by 1, the frame whole
        data = data.rechunk((1,) * len(self.lead_shape) + self.frame_shape)
        self.data = data
        bg = background
        if bg is not None and type(bg).__module__.split(".")[0] != "dask":
            bg = np.asarray(bg)
        if bg is not None and tuple(bg.shape) not in (self.frame_shape, tuple(data.shape)):
            raise InputError(f"background hologram has shape {tuple(bg.shape)} but the frames are "
                             f"{self.frame_shape} (stack {tuple(data.shape)})")
        self.background = bg
        self.records: dict[tuple, dict] = {}
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple, Any] = OrderedDict()  # last results: phase + amplitude once
        self._keep = max(1, int(keep))
        self._has_amplitude: bool | None = None
        self._token = tokenize(data, self.method.name, sorted(self.params.items(), key=str),
                               None if bg is None else (bg if hasattr(bg, "dask") else bg.tobytes()))
        out_chunks = data.chunks[:len(self.lead_shape)] + tuple((s,) for s in data.shape[-spatial:][:2])
        drop = (data.ndim - 1,) if self.rgb else ()
        self.phase = da.map_blocks(self._phase_block, data, dtype=np.float32, chunks=out_chunks,
                                   drop_axis=drop, meta=np.empty((0,) * (data.ndim - len(drop)), np.float32),
                                   name=f"napari-diffpr-phase-{self._token}")
        self.metadata = {
            "method": self.method.name, "modality": self.method.modality,
            "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()},
            "background_used": background is not None, "input_shape": list(data.shape),
            "leading_shape": list(self.lead_shape), "n_frames": int(np.prod(self.lead_shape, dtype=int)),
            "lazy": True, "napari_diffpr_version": __version__,
        }

    def __getstate__(self):  # for dask distributed: workers keep their own records and results
        state = dict(self.__dict__)
        state.update(_lock=None, _kept=OrderedDict(), records={})
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ one frame
    def _background_for(self, index: tuple):
        bg = self.background
        if bg is None:
            return None
        if tuple(bg.shape) == self.frame_shape:
            return np.asarray(bg)
        return np.asarray(bg[index])

    def _result(self, index: tuple, frame=None):
        """The eager Result of frame ``index`` (a tuple over the leading axes), kept for a few
        frames so phase and amplitude of one frame are computed once."""
        from .api import reconstruct

        with self._lock:
            if index in self._kept:
                self._kept.move_to_end(index)
                return self._kept[index]
        if frame is None:
            frame = self.data[index]
        frame = np.asarray(frame)
        res = reconstruct(frame, self.method, background=self._background_for(index), **self.params)
        with self._lock:
            self.records[index] = res.metadata
            self._has_amplitude = res.amplitude is not None
            self._kept[index] = res
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return res

    def _index(self, block_info) -> tuple:
        loc = block_info[None]["chunk-location"] if block_info else None
        return tuple(int(i) for i in loc[:len(self.lead_shape)])

    def _phase_block(self, block, block_info=None):
        index = self._index(block_info)
        frame = block.reshape(self.frame_shape)
        return self._result(index, frame).phase.reshape((1,) * len(self.lead_shape) + self.frame_shape[:2])

    def _amplitude_block(self, block, block_info=None):
        index = self._index(block_info)
        frame = block.reshape(self.frame_shape)
        amp = self._result(index, frame).amplitude
        return amp.reshape((1,) * len(self.lead_shape) + self.frame_shape[:2])

    @property
    def amplitude(self):
        import dask.array as da

        if self._has_amplitude is None:
            self._result((0,) * len(self.lead_shape))
        if not self._has_amplitude:
            return None
        drop = (self.data.ndim - 1,) if self.rgb else ()
        return da.map_blocks(self._amplitude_block, self.data, dtype=np.float32, chunks=self.phase.chunks,
                             drop_axis=drop, meta=np.empty((0,) * self.phase.ndim, np.float32),
                             name=f"napari-diffpr-amplitude-{self._token}")

    def frame(self, index) -> Any:
        """The eager :class:`~napari_diffpr.result.Result` of one frame (``index``: an int for
        one leading axis, or a tuple)."""
        index = (index,) if np.isscalar(index) else tuple(int(i) for i in index)
        return self._result(index)

    def frame_record(self, index) -> dict:
        """The record of one frame, computing the frame if it has not been computed here yet."""
        index = (index,) if np.isscalar(index) else tuple(int(i) for i in index)
        if index not in self.records:
            self._result(index)
        return self.records[index]

    def compute(self, **kwargs):
        """The eager Result of the whole stack (``dask.compute`` keyword arguments pass through);
        its metadata lists every frame's record, in frame order, like an eager stack run."""
        from .result import Result

        phase = self.phase.compute(**kwargs)
        meta = dict(self.metadata)
        meta["frames"] = [self.records[i] for i in np.ndindex(*self.lead_shape) if i in self.records]
        return Result(phase=phase, metadata=meta)

    def __repr__(self) -> str:
        return (f"LazyResult(method={self.method.name!r}, phase={tuple(self.phase.shape)} float32 rad, lazy, "
                f"{len(self.records)}/{self.metadata['n_frames']} frame(s) computed)")


def reconstruct_lazy(data, method: str | Method = "fourier", *, background=None, **params: Any) -> LazyResult:
    """See :class:`LazyResult`."""
    return LazyResult(data, method, background=background, **params)
