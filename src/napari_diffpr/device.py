"""Torch device choice shared by the simulator, the models and the GUI (torch imported lazily)."""
from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Devices usable on this machine, best first (always ends with "cpu")."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(device: str | None = "auto"):
    """``"auto"`` (or None) -> CUDA, then MPS, then CPU; otherwise the named device, with a
    clear error when it is not present."""
    import torch

    from .errors import ParameterError

    if device in (None, "auto"):
        return torch.device(available_devices()[0])
    name = str(device)
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES[1:]:
        raise ParameterError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}")
    if base != "cpu" and base not in available_devices():
        raise ParameterError(f"device {name!r} is not available on this machine; "
                             f"available: {', '.join(available_devices())} (or 'auto')")
    return torch.device(name)
