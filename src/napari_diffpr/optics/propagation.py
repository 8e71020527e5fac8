"""Free-space propagation of complex fields: angular-spectrum and Fresnel transfer functions and
the pupil (NA) band limit. Torch, batched over any leading dimensions, CPU or GPU.

Conventions: fields are ``(..., H, W)`` complex tensors sampled at ``pixel_size_um``; frequencies
are in cycles/µm in ``torch.fft.fftfreq`` order (no fftshift); a positive distance propagates
downstream (towards the detector), a negative one back. Evanescent components (spatial frequency
above ``n_medium / λ``) do not propagate and are set to zero.
"""
from __future__ import annotations

import math


def frequency_grid(shape, pixel_size_um: float = 1.0, *, device=None, dtype=None):
    """``(fy, fx)`` in cycles/µm, shaped ``(H, 1)`` and ``(1, W)`` so they broadcast."""
    import torch

    h, w = int(shape[-2]), int(shape[-1])
    dtype = dtype or torch.float32
    fy = torch.fft.fftfreq(h, d=pixel_size_um, device=device, dtype=dtype).reshape(h, 1)
    fx = torch.fft.fftfreq(w, d=pixel_size_um, device=device, dtype=dtype).reshape(1, w)
    return fy, fx


def _as_distance(distance_um, device, dtype):
    """Distance as a tensor of shape ``(..., 1, 1)`` so that it broadcasts against ``(H, W)``."""
    import torch

    z = torch.as_tensor(distance_um, device=device, dtype=dtype)
    return z.reshape(*z.shape, 1, 1)


def angular_spectrum_tf(shape, pixel_size_um: float, wavelength_um: float, distance_um,
                        n_medium: float = 1.0, *, device=None):
    """Angular-spectrum transfer function ``exp(i 2π z sqrt((n/λ)² − f²))`` (complex64).

    ``distance_um`` may be a number or a tensor of distances; the result has shape
    ``(*distance.shape, H, W)``. Evanescent frequencies are zero."""
    import torch

    fy, fx = frequency_grid(shape, pixel_size_um, device=device, dtype=torch.float64)
    k2 = (n_medium / wavelength_um) ** 2 - fy * fy - fx * fx
    kz = torch.sqrt(torch.clamp(k2, min=0.0))
    z = _as_distance(distance_um, device, torch.float64)
    # float64 for the argument: 2π z n/λ is hundreds of radians at tens of µm
    arg = 2.0 * math.pi * z * kz
    tf = torch.polar(torch.ones_like(arg), arg) * (k2 > 0)
    return tf.to(torch.complex64)


def fresnel_tf(shape, pixel_size_um: float, wavelength_um: float, distance_um,
               n_medium: float = 1.0, *, device=None):
    """Paraxial (Fresnel) transfer function ``exp(i 2π z n/λ) · exp(−i π λ z f² / n)``
    (complex64); cheaper than the angular spectrum (no square root) and equal to it when
    ``λ f / n ≪ 1``."""
    import torch

    fy, fx = frequency_grid(shape, pixel_size_um, device=device, dtype=torch.float64)
    z = _as_distance(distance_um, device, torch.float64)
    lam = wavelength_um / n_medium  # wavelength in the medium
    arg = 2.0 * math.pi * z / lam - math.pi * lam * z * (fy * fy + fx * fx)
    return torch.polar(torch.ones_like(arg), arg).to(torch.complex64)


def pupil(shape, pixel_size_um: float, na: float, wavelength_um: float, *, device=None):
    """Circular pupil: 1 where the spatial frequency is at most ``NA / λ`` (cycles/µm), else 0
    (float32, ``(H, W)``)."""
    import torch

    fy, fx = frequency_grid(shape, pixel_size_um, device=device)
    cutoff = na / wavelength_um
    return ((fy * fy + fx * fx) <= cutoff * cutoff).to(torch.float32)


def disk_band_limit(shape, radius_cycles_per_px, *, device=None):
    """Disk low-pass of radius ``radius_cycles_per_px`` (a number or a tensor of radii, giving
    ``(*radius.shape, H, W)``), in cycles/pixel; float32."""
    import torch

    fy, fx = frequency_grid(shape, 1.0, device=device)
    r = _as_distance(radius_cycles_per_px, device, torch.float32)
    return ((fy * fy + fx * fx) <= r * r).to(torch.float32)


def propagate(field, distance_um, wavelength_um: float, pixel_size_um: float,
              n_medium: float = 1.0, *, method: str = "angular", na: float | None = None):
    """Propagate a complex field ``(..., H, W)`` by ``distance_um`` (a number, or a tensor that
    broadcasts against the leading dimensions). ``method`` is ``"angular"`` (exact scalar
    diffraction) or ``"fresnel"`` (paraxial). ``na`` optionally band-limits with a pupil of
    ``NA/λ``. NumPy in gives NumPy out."""
    import numpy as np
    import torch

    from ..errors import ParameterError

    if method not in ("angular", "fresnel"):
        raise ParameterError(f"method must be 'angular' or 'fresnel', got {method!r}")
    for name, v in (("wavelength_um", wavelength_um), ("pixel_size_um", pixel_size_um),
                    ("n_medium", n_medium)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ParameterError(f"{name} must be a positive finite number in µm, got {v!r}")
    if na is not None and not (math.isfinite(na) and 0 < na <= n_medium):
        raise ParameterError(f"na must be in (0, n_medium={n_medium}], got {na!r}")
    was_numpy = isinstance(field, np.ndarray)
    u = torch.as_tensor(np.array(field) if was_numpy else field)
    if u.ndim < 2:
        raise ParameterError(f"field must be at least 2-D (..., H, W), got shape {tuple(u.shape)}")
    u = u.to(torch.complex64)
    make = angular_spectrum_tf if method == "angular" else fresnel_tf
    tf = make(u.shape, pixel_size_um, wavelength_um, distance_um, n_medium, device=u.device)
    if na is not None:
        tf = tf * pupil(u.shape, pixel_size_um, na, wavelength_um, device=u.device)
    from ..torchfft import ifft2  # torch's own is wrong at 2048² on >1 thread
    out = ifft2(torch.fft.fft2(u) * tf)
    return out.cpu().numpy() if was_numpy else out
