"""napari-diffpr: quantitative phase imaging for napari.

Public API (importing this package imports neither torch nor Qt):

    reconstruct(data, method, **params) -> Result
    methods(modality=None) -> {name: Method}
    compare(result, reference) -> {"psnr", "ssim", "mae", "hf_error"}
    simulate  (module: phantoms and forward models)
    measure(phase_or_result, labels=None, ...) -> pandas.DataFrame, one row per cell (dry mass ...)
    refocus(result, distance_um | "auto") -> Result   (angular-spectrum refocusing, autofocus)
    compensate(result, mask="auto") -> Result         (aberration fit without a background hologram)
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "reconstruct", "run_method", "methods", "compare", "simulate",
           "Result", "Progress", "read", "write", "measure", "refocus", "compensate"]

# Eager (cheap: numpy only): a lazy ``methods`` would be shadowed by the ``methods`` submodule as
# soon as anything imported it, and ``napari_diffpr.methods()`` would then call a module.
from .methods import methods  # noqa: E402
from .measure import measure  # noqa: E402  (same reason: the function, not the submodule; numpy only)


def __getattr__(name):
    # Lazy so that napari's manifest discovery stays cheap.
    if name in ("reconstruct", "run_method"):
        from . import api
        return getattr(api, name)
    if name == "compare":
        from .metrics import compare
        return compare
    if name == "simulate":
        from .optics import simulate
        return simulate
    if name in ("Result", "Progress"):
        from . import result
        return getattr(result, name)
    if name == "refocus":
        from .retrieval.refocus import refocus_result
        return refocus_result
    if name == "compensate":
        from .retrieval.compensate import compensate
        return compensate
    if name in ("read", "write"):
        from . import io
        return getattr(io, name)
    raise AttributeError(f"module 'napari_diffpr' has no attribute {name!r}")
