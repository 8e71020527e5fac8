"""Shipped weights: safetensors files in ``napari_diffpr/weights/`` with the model's
architecture, input representation and phase scaling as JSON in the file's metadata.

    save_weights(model, path, config)
    load_model(name, device="cpu") -> (model in eval mode, config)
    available_models() -> names shipped

Importing this module imports torch; the registry imports it lazily.
"""
from __future__ import annotations

import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..errors import RetrievalError

MODEL_NAMES = ("unet-hologram", "reduced-unet-hologram", "unet-rgb", "reduced-unet-rgb", "prior",
               "prior-hologram", "prior-rgb")
_CACHE: dict[tuple[str, str], tuple[torch.nn.Module, dict]] = {}
_LOCK = threading.Lock()


def _architectures() -> dict[str, type]:
    from .prior import DiffusionUNet
    from .unet import ReducedUNet, VanillaUNet

    return {"VanillaUNet": VanillaUNet, "ReducedUNet": ReducedUNet, "DiffusionUNet": DiffusionUNet}


def build_model(config: dict) -> torch.nn.Module:
    """A fresh (untrained) model from a config's ``architecture`` and ``model_kwargs``."""
    arch = _architectures().get(config.get("architecture"))
    if arch is None:
        raise RetrievalError(f"unknown architecture {config.get('architecture')!r} in a weight config; "
                             f"known: {', '.join(_architectures())}")
    return arch(**config.get("model_kwargs", {}))


def save_weights(model: torch.nn.Module, path: str | Path, config: dict[str, Any],
                 dtype: torch.dtype = torch.float16) -> Path:
    """Write ``model``'s parameters (as ``dtype``: float16 halves the package size and changes
    outputs by far less than the models' error) and ``config`` plus the architecture to
    ``path`` (.safetensors)."""
    from safetensors.torch import save_file

    config = dict(config)
    config.setdefault("architecture", type(model).__name__)
    config.setdefault("model_kwargs", dict(getattr(model, "init_kwargs", {})))
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(config)})
    return path


def read_config(path: str | Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise RetrievalError(f"{path} has no 'config' metadata: not a napari-diffpr weight file")
    return json.loads(meta["config"])


def load_weights(path: str | Path, device="cpu") -> tuple[torch.nn.Module, dict]:
    """Model (eval mode, float32, on ``device``) and config from a weight file at ``path``."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise RetrievalError(f"weight file not found: {path}")
    config = read_config(path)
    model = build_model(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    return model.to(device).eval(), config


def weights_dir() -> Path:
    return Path(str(resources.files("napari_diffpr") / "weights"))


def available_models() -> list[str]:
    """Names of the weight files shipped in the package (without .safetensors)."""
    d = weights_dir()
    if not d.is_dir():
        return []
    return sorted(p.name[: -len(".safetensors")] for p in d.glob("*.safetensors"))


def load_model(name: str, device="cpu") -> tuple[torch.nn.Module, dict]:
    """The shipped model ``name`` (e.g. "reduced-unet-hologram", "prior") in eval mode on
    ``device`` and its config; cached per (name, device) — treat the model as read-only."""
    from ..device import resolve_device

    dev = resolve_device(device) if isinstance(device, str) or device is None else torch.device(device)
    key = (name, str(dev))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        path = weights_dir() / f"{name}.safetensors"
        if not path.is_file():
            shipped = available_models()
            raise RetrievalError(
                f"model weights {path.name!r} are not installed (looked in {path.parent}); "
                f"shipped: {', '.join(shipped) or 'none'}. Train them with `napari-diffpr train` "
                f"(see docs/models.md) and copy the .safetensors file there.")
        model, config = load_weights(path, dev)
        for p in model.parameters():
            p.requires_grad_(False)
        _CACHE[key] = (model, config)
        return model, config


def prior_name(modality: str) -> str:
    """The prior to use for ``modality``: "prior" when one is shipped for both, else
    "prior-hologram" / "prior-rgb"."""
    shipped = available_models()
    specific = f"prior-{modality}"
    if specific in shipped:
        return specific
    return "prior"


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
