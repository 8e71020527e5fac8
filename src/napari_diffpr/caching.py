"""Fingerprints for the per-input caches that let a re-run skip work (the dock's slider, a
changed unwrapper): a cached stage is reused only for the very same input bytes."""
from __future__ import annotations

import hashlib

import numpy as np


def fingerprint(*arrays) -> str:
    """A hash of the arrays' shapes, dtypes and bytes (None counts as a distinct value). About
    1 ms per MB: small next to any stage worth caching."""
    h = hashlib.blake2b(digest_size=16)
    for arr in arrays:
        if arr is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(arr)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


class CallCache(dict):
    """A cache made for one call on one input (``reconstruct`` without a caller's cache): its
    entries cannot belong to another input, so :func:`for_input` does not fingerprint it
    (hashing a 1024^2 frame twice cost ~25 % of a Fourier reconstruction)."""


def for_input(cache: dict, prefix: str, *arrays) -> dict:
    """Forget ``cache``'s entries whose keys start with ``prefix`` unless they were made for
    these same ``arrays``; returns ``cache``. Keys are strings or tuples whose first item is a
    string. A :class:`CallCache` is returned as it is."""
    if isinstance(cache, CallCache):
        return cache
    key = f"{prefix}input"
    fp = fingerprint(*arrays)
    if cache.get(key) != fp:
        for k in [k for k in cache if str(k[0] if isinstance(k, tuple) else k).startswith(prefix)]:
            del cache[k]
        cache[key] = fp
    return cache
