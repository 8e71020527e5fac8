"""Memory budget: estimate what a call will need before allocating it, and refuse clearly.

The budget is, in order of precedence: :func:`set_budget` (the CLI's ``--memory-budget``), the
environment variable ``NAPARI_DIFFPR_MEMORY_BUDGET`` ("8GB", "512MB", "75%" of the available
memory), else half of the memory available when the check runs. Estimates are deliberately on
the high side; a refusal raises :class:`~napari_diffpr.errors.ResourceError` naming what it
would need, the budget, and what to change. Imports neither torch nor napari.
"""
from __future__ import annotations

import math
import os
import re

from .errors import ParameterError, ResourceError

ENV_VAR = "NAPARI_DIFFPR_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}
_override: int | None = None


def format_bytes(n: float) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def available_bytes() -> int:
    """Memory the system could give this process now (psutil, else /proc/meminfo)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3  # unknown: assume a modest laptop


def parse_budget(text: str | int | float) -> int:
    """Bytes from "8GB", "512 MiB", "4e9", "75%" (of the available memory) or a number."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text <= 0:
            raise ParameterError(f"a memory budget must be a positive number of bytes, got {text!r}")
        return int(text)
    s = str(text).strip().lower()
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(%|[a-z]*)", s)
    if not m or (m.group(2) not in _UNITS and m.group(2) != "%"):
        raise ParameterError(f"cannot read the memory budget {text!r}: give e.g. '8GB', '512MB' or '75%' "
                             "(of the available memory)")
    value = float(m.group(1))
    if m.group(2) == "%":
        if not 0 < value <= 100:
            raise ParameterError(f"a memory budget in percent must be in (0, 100], got {text!r}")
        return int(available_bytes() * value / 100)
    n = int(value * _UNITS[m.group(2)])
    if n <= 0:
        raise ParameterError(f"a memory budget must be positive, got {text!r}")
    return n


def set_budget(value: str | int | float | None) -> int | None:
    """Set the budget for this process (None: back to the environment / default); returns the
    previous explicit setting."""
    global _override
    previous = _override
    _override = None if value is None else parse_budget(value)
    return previous


def budget_bytes() -> int:
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return parse_budget(env)
    return int(available_bytes() * DEFAULT_FRACTION)


def check(nbytes: float, what: str, hint: str = "") -> None:
    """Raise ResourceError when ``nbytes`` exceeds the budget; ``what`` names the computation,
    ``hint`` says what to change."""
    budget = budget_bytes()
    if nbytes > budget:
        raise ResourceError(
            f"{what} would need about {format_bytes(nbytes)} of memory, more than the budget of "
            f"{format_bytes(budget)} (set by {_source()}); nothing was allocated. "
            + (hint + " " if hint else "")
            + f"To allow more, set {ENV_VAR} (e.g. '16GB' or '80%') or pass --memory-budget on the command line.")


def _source() -> str:
    if _override is not None:
        return "set_budget / --memory-budget"
    if os.environ.get(ENV_VAR, "").strip():
        return ENV_VAR
    return f"default: {DEFAULT_FRACTION:.0%} of the memory available now"


# --------------------------------------------------------------------- per-method estimates
# Peak extra resident memory per input pixel on a CPU, from benchmarks/bench_memory.py at 2048^2
# and 4096^2 (docs/benchmarks.md, "Memory": reduced U-Net 225-255 B/px, DiffPR with one sample
# ~930 B/px) and psutil probes at 256^2-512^2 (vanilla U-Net 1.85x the reduced one), times a
# 1.25 safety factor, plus a fixed allowance for small images (allocator and torch workspaces).
NETWORK_BYTES_PER_PIXEL = {"reduced-unet": 300 * 1.25, "unet": 560 * 1.25}
DIFFPR_STAGE1_BYTES_PER_PIXEL = 300 * 1.25
DIFFPR_PRIOR_BYTES_PER_SAMPLE_PIXEL = 800 * 1.25
DIFFPR_KEPT_BYTES_PER_SAMPLE_PIXEL = 24
# full-frame sampler arrays per sample at 2048² (chunked prior): 1.87 GB peak measured in all,
# of which the windows' activations ~1.3 GB (docs/models.md)
DIFFPR_SAMPLER_BYTES_PER_SAMPLE_PIXEL = 120 * 1.25
NETWORK_FIXED_BYTES = 128 * 1024**2
DEFAULT_BYTES_PER_PIXEL = 200  # conventional methods not modelled below (TIE: FFTs of a few planes)


def estimate_bytes(method, frame, params: dict, *, background: bool = False, cache: dict | None = None) -> float:
    """Estimated peak memory (bytes) of running ``method`` on one validated ``frame``
    (H x W or H x W x 3) with resolved ``params``."""
    h, w = frame.shape[:2]
    base = method.name[:-4] if method.name.endswith("-rgb") else method.name
    if base == "fourier":
        return fourier_bytes(frame, params, background=background, cache=cache)
    if base in NETWORK_BYTES_PER_PIXEL:
        return NETWORK_BYTES_PER_PIXEL[base] * h * w + NETWORK_FIXED_BYTES
    if base == "diffpr":
        samples = int(params.get("samples", 1) or 1) if int(params.get("t_corrupt", 1) or 0) > 0 else 0
        # The prior runs the samples in batches of at most SAMPLE_PIXELS pixels in all
        # (models/pipeline.py); every sample's noisy start, result and the returned sample maps
        # stay at full size (~24 B/px per sample).
        try:
            from .models.chunking import CHUNK_PIXELS
            from .models.pipeline import SAMPLE_PIXELS
        except ImportError:  # pragma: no cover - a build without the networks
            SAMPLE_PIXELS, CHUNK_PIXELS = 4 * 512 * 512, 1152 * 1152
        active = min(samples, max(1, SAMPLE_PIXELS // max(1, h * w))) if samples else 0
        # Stage 1 and the prior run one after the other, so the peak is the larger of the two.
        # The prior evaluates frames above CHUNK_PIXELS on windows (models/chunking.py); the
        # sampler's own arrays (noisy start, estimates, guide spectra) stay at full size.
        prior = (DIFFPR_PRIOR_BYTES_PER_SAMPLE_PIXEL * min(h * w, CHUNK_PIXELS)
                 + DIFFPR_SAMPLER_BYTES_PER_SAMPLE_PIXEL * h * w) * active
        peak = max(DIFFPR_STAGE1_BYTES_PER_PIXEL * h * w, prior)
        return peak + DIFFPR_KEPT_BYTES_PER_SAMPLE_PIXEL * samples * h * w + NETWORK_FIXED_BYTES
    return DEFAULT_BYTES_PER_PIXEL * h * w


def fourier_bytes(frame, params: dict, *, background: bool = False, cache: dict | None = None) -> float:
    """Peak memory of the Fourier method, from the same formulas it uses: the zero margins
    (a few filter kernels wide, so a tiny filter radius means a huge padded grid), the spectrum
    block kept around the sideband, and the unwrapping guide grid. With an automatic sideband
    the coarse detection runs here (its result goes into ``cache``, so it is not repeated)."""
    import math

    from .retrieval.fftutil import next_fast_len
    from .retrieval.filters import filter_extent
    from .retrieval.fourier import edge_margin, filter_radius, twin_limit
    from .retrieval.sideband import check_sideband, coarse_sideband
    from .retrieval.unwrap import guide_step

    h0, w0 = frame.shape
    if params.get("sideband") is None:
        if cache is not None:
            from .caching import for_input

            for_input(cache, "fourier_", frame)  # the same key run_fourier checks
        if cache is not None and "fourier_coarse" in cache:
            sb = cache["fourier_coarse"]
        else:
            sb = coarse_sideband(frame)
            if cache is not None:
                cache["fourier_coarse"] = sb
        # the refinement moves the peak by less than a bin; keep the twin limit conservative
        twin = max(twin_limit(sb) - 1.0 / max(h0, w0), 0.0)
    else:
        sb = check_sideband(params["sideband"], frame.shape)
        twin = twin_limit(sb)
    full = filter_radius(sb, params.get("filter_size", 0.5), numerical_aperture=params.get("numerical_aperture"),
                         wavelength_um=params.get("wavelength"), pixel_size_um=params.get("pixel_size"))
    radius = min(full, twin)
    bin_width = 1.0 / max(h0, w0)
    if radius < bin_width:
        # Less than one frequency bin of the object's spectrum would pass: the result would be
        # a constant or NaN, and the zero margins (a few 1/radius wide) would be enormous.
        from .errors import RetrievalError

        why = (f"its twin order is only {2 * twin:.3g} cycles/px away (a carrier at the Nyquist frequency)"
               if twin < full else "the numerical aperture, wavelength and pixel size give that radius")
        text = (f"the Fourier filter radius would be {radius:.3g} cycles/px, less than one frequency bin "
                f"(1/{max(h0, w0)} = {bin_width:.3g}) of this {h0} x {w0} image: {why}. ")
        if params.get("sideband") is not None or params.get("numerical_aperture") is not None:
            raise ParameterError(text + "Check sideband, numerical_aperture, wavelength (µm) and pixel_size (µm).")
        raise RetrievalError(text + f"The detected sideband (fy, fx) = ({sb.fy:.4f}, {sb.fx:.4f}) cycles/px "
                             "cannot be separated from its twin; give the sideband explicitly if you know it.")

    def spectrum(r):
        m = edge_margin(r)
        hp, wp = (next_fast_len(h0 + 2 * m), next_fast_len(w0 + 2 * m)) if m else (h0, w0)
        ext = filter_extent(params.get("filter_shape", "smooth disk"), radius)
        ry = min(math.ceil(ext * hp) + 1, (hp - 1) // 2)
        rx = min(math.ceil(ext * wp) + 1, (wp - 1) // 2)
        rows = h0 * wp * 4.0 + h0 * (wp // 2 + 1) * 8.0
        block = 2.0 * (2 * rx + 1) * hp * 8 + (2 * ry + 1) * (2 * rx + 1) * 8
        field = h0 * wp * 8.0 + (2 * rx + 1) * h0 * 8
        return rows + block + field

    total = spectrum(full)
    if params.get("sideband") is None:  # the peak refinement transforms a block of full columns
        from .retrieval.sideband import refine_radius

        m = edge_margin(full)
        hp, wp = (next_fast_len(h0 + 2 * m), next_fast_len(w0 + 2 * m)) if m else (h0, w0)
        total += 2.0 * (2 * refine_radius((h0, w0), (hp, wp)) + 3) * max(hp, wp) * 8
    if background:
        total += spectrum(radius) + h0 * w0 * 8.0
    if params.get("unwrap", "skimage") == "skimage":
        step = guide_step(radius)
        total += 2.0 * h0 * (math.ceil(w0 / step) * step) * 4 + math.ceil(h0 / step) * step * math.ceil(w0 / step) * 4
    # phase, amplitude, unwrapping and fit arrays (measured ~70 B/px); 1.25: the same safety
    # factor as the networks' measured numbers
    return 1.25 * (total + 80.0 * h0 * w0)


def run_bytes(method, frame, params: dict, *, background: bool = False, cache: dict | None = None,
              n_frames: int = 1) -> float:
    """What :func:`napari_diffpr.api.run_method` checks before running one frame: the method's
    estimate plus the validated float32 copy of the input and the results kept for every frame."""
    h, w = frame.shape[:2]
    copies = 4.0 * frame.size * n_frames * (2 if background else 1)
    kept = 8.0 * h * w * n_frames
    return estimate_bytes(method, frame, params, background=background, cache=cache) + copies + kept
