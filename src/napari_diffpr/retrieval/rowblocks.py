"""Element-wise work on large images split into blocks of rows, one block per core.

numpy releases the GIL inside its ufuncs, so a few threads over row blocks use every core for
the full-size steps of Fourier filtering (phase ramp, |field|, angle) that numpy runs on one
core; blocks of rows also keep each thread's data in its own cache.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from . import fftutil

MIN_ROWS_PER_BLOCK = 64  # below this the thread hand-off costs more than it saves
_pool: ThreadPoolExecutor | None = None


def for_row_blocks(fn: Callable[[slice], None], n_rows: int, workers: int | None = None) -> None:
    """Call ``fn(rows)`` for slices covering 0..n_rows, in parallel when that pays; ``fn``
    writes its block's results itself (blocks never overlap)."""
    global _pool
    k = max(1, min(workers or fftutil.workers(), n_rows // MIN_ROWS_PER_BLOCK))
    if k == 1:
        fn(slice(0, n_rows))
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=fftutil.WORKERS, thread_name_prefix="napari-diffpr-rows")
    bounds = [n_rows * i // k for i in range(k + 1)]
    futures = [_pool.submit(fn, slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]
    for f in futures:
        f.result()  # re-raises a block's exception here
