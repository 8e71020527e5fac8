"""Fourier filtering of stacks (issue 12): the row FFTs of a batch of frames in one call, and -
when the setup is fixed (``sideband_search="first frame"``) - one sideband search for the whole
stack instead of one per frame.

The per-frame method (``run_fourier``) is unchanged: this module only fills each frame's cache
with what it would have computed itself (its row spectra, its coarse sideband), so a stack gives
the same phase as its frames reconstructed one by one (bit for bit with ``"each frame"``).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generator, Iterator

import numpy as np

from . import fftutil

from .fourier import edge_margin, filter_radius
from .sideband import coarse_sideband
from .spectrum import HalfRows

BATCH = 16  # frames per batched FFT: bounds the extra memory to BATCH row spectra


class FourierStack:
    """Called by ``api.run_method`` around each frame of a Fourier stack run with a call-local
    cache: :meth:`before` fills the frame's cache (and, in "first frame" mode, fixes its
    sideband); :meth:`after` remembers frame 0's sideband."""

    def __init__(self, frames: np.ndarray, params: dict[str, Any], batch: int = BATCH, prefill: bool = True):
        self.frames = frames
        self.prefill = prefill  # False with a caller's cache (the dock): it keeps its own spectra
        self.params = params
        self.batch = max(1, int(batch))
        self.first_sideband: tuple[float, float] | None = None
        self._filled: dict[int, dict] = {}

    @property
    def once(self) -> bool:
        return self.params.get("sideband_search") == "first frame" and self.params.get("sideband") is None

    def _radius(self, sb) -> float:
        p = self.params
        return filter_radius(sb, p.get("filter_size", 0.5), numerical_aperture=p.get("numerical_aperture"),
                             wavelength_um=p.get("wavelength"), pixel_size_um=p.get("pixel_size"))

    def _fill(self, start: int) -> None:
        """Row spectra (and coarse sidebands) of frames start .. start + batch, grouped by margin."""
        stop = min(len(self.frames), start + self.batch)
        idx = list(range(start, stop))
        entries: dict[int, dict] = {i: {} for i in idx}
        if self.params.get("sideband") is not None:
            from .sideband import check_sideband

            sb = check_sideband(self.params["sideband"], self.frames.shape[1:])
            margins = {i: edge_margin(self._radius(sb)) for i in idx}
        elif self.once and self.first_sideband is not None:
            from .sideband import Sideband

            sb = Sideband(*self.first_sideband)
            margins = {i: edge_margin(self._radius(sb)) for i in idx}
        else:
            margins = {}
            for i in idx:
                coarse = coarse_sideband(self.frames[i])
                entries[i]["fourier_coarse"] = coarse
                margins[i] = edge_margin(self._radius(coarse))
        for margin in sorted(set(margins.values())):
            group = [i for i in idx if margins[i] == margin]
            for i, rows in zip(group, HalfRows.batch(self.frames[group], margin)):
                entries[i][("fourier_rows", margin)] = rows
        self._filled.update(entries)

    def before(self, i: int, frame_cache: dict, params: dict[str, Any]) -> dict[str, Any]:
        """Fill frame ``i``'s cache; returns the parameters to run it with."""
        if self.once and i == 0:
            return params  # frame 0 searches its sideband as usual
        if not self.prefill:
            return {**params, "sideband": self.first_sideband} if self.once and self.first_sideband else params
        if i not in self._filled:
            self._fill(i)
        frame_cache.update(self._filled.pop(i))
        if self.once and self.first_sideband is not None:
            return {**params, "sideband": self.first_sideband}
        return params

    def after(self, i: int, metadata: dict) -> None:
        if i == 0 and self.once:
            self.first_sideband = tuple(float(v) for v in metadata["sideband_fy_fx"])
        if self.once and i > 0:
            metadata["sideband_detected"] = False
            metadata["sideband_from"] = "frame 0 (sideband_search='first frame')"


class FramesAhead:
    """Runs the frames of a stack ``depth`` at a time in worker threads, each with single-threaded
    FFTs: at 512^2 one frame's FFTs gain nothing from a second thread, two frames at once use both
    cores. Frames are handed back in order (``done``), so results and metadata stay in order."""

    _pool: ThreadPoolExecutor | None = None  # shared by all runs, started on first use
    _pool_size = 0

    def __init__(self, depth: int | None = None):
        self.depth = max(1, depth or fftutil.WORKERS)
        if FramesAhead._pool_size < self.depth:
            FramesAhead._pool = ThreadPoolExecutor(max_workers=self.depth, thread_name_prefix="napari-diffpr-frames")
            FramesAhead._pool_size = self.depth
        self._pending: deque[tuple[int, Future]] = deque()

    @staticmethod
    def _drain(gen: Generator) -> Any:
        with fftutil.single_threaded():
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    return stop.value

    def submit(self, i: int, gen: Generator) -> None:
        self._pending.append((i, self._pool.submit(self._drain, gen)))

    def done(self, wait_all: bool = False) -> Iterator[tuple[int, Any]]:
        """(index, Result) of the oldest frames: all of them with ``wait_all``, else as many as
        needed to keep at most ``depth`` running. A frame's exception is raised here."""
        while self._pending and (wait_all or len(self._pending) > self.depth):
            i, future = self._pending.popleft()
            yield i, future.result()
