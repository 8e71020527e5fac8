"""Weights: safetensors files (no pickle: loading can never run code) with the model's
architecture, input representation and phase scaling as JSON in the file's metadata.

Where ``load_model(name)`` looks, first hit wins:

1. a file given for this process with :func:`use_weights_file` (the CLI's ``--weights`` /
   ``--prior-weights``), checked against what ``name`` must be;
2. the per-user folder :func:`user_weights_dir` (user-trained or fine-tuned weights;
   ``$NAPARI_DIFFPR_WEIGHTS_DIR``, else the platform's user cache folder, e.g.
   ``~/.cache/napari-diffpr/weights`` on Linux) - never site-packages;
3. the weights shipped in ``napari_diffpr/weights/``.

    save_weights(model, path, config)
    load_model(name, device="cpu") -> (model in eval mode, config)
    available_models() -> names shipped

Importing this module imports torch; the registry imports it lazily.
"""
from __future__ import annotations

import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..errors import RetrievalError

MODEL_NAMES = ("unet-hologram", "reduced-unet-hologram", "unet-rgb", "reduced-unet-rgb", "prior",
               "prior-hologram", "prior-rgb", "zmd-rgb")
WEIGHTS_DIR_ENV = "NAPARI_DIFFPR_WEIGHTS_DIR"
# What each role must be: architecture and the task (modality) it was trained for.
_ROLE = {"unet-hologram": ("VanillaUNet", "hologram"), "reduced-unet-hologram": ("ReducedUNet", "hologram"),
         "unet-rgb": ("VanillaUNet", "rgb"), "reduced-unet-rgb": ("ReducedUNet", "rgb"),
         "prior": ("DiffusionUNet", "prior"), "prior-hologram": ("DiffusionUNet", "prior"),
         "prior-rgb": ("DiffusionUNet", "prior"), "zmd-rgb": ("ZMD", "rgb")}
_OVERRIDES: dict[str, Path] = {}
_CACHE: dict[tuple[str, str], tuple[torch.nn.Module, dict]] = {}
_LOCK = threading.Lock()


def _architectures() -> dict[str, type]:
    from .prior import DiffusionUNet
    from .unet import ReducedUNet, VanillaUNet
    from .zmd import ZMD

    return {"VanillaUNet": VanillaUNet, "ReducedUNet": ReducedUNet, "DiffusionUNet": DiffusionUNet, "ZMD": ZMD}


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

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - SafetensorError, OSError on a damaged or foreign file
        raise RetrievalError(f"{path} is not a readable .safetensors weight file ({type(exc).__name__}: {exc}); "
                             "napari-diffpr loads only safetensors files written by `napari-diffpr train`") from None
    if "config" not in meta:
        raise RetrievalError(f"{path} has no 'config' metadata: not a napari-diffpr weight file")
    try:
        config = json.loads(meta["config"])
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise RetrievalError(f"{path}: its 'config' metadata is not a JSON object; not a napari-diffpr weight file")
    return config


def check_compatible(name: str, config: dict, path: str | Path = "") -> None:
    """RetrievalError unless ``config`` fits the role ``name`` (e.g. "reduced-unet-hologram"):
    the same architecture, trained for the same task, with an input representation this
    version knows and whose channel count matches the network."""
    role = _ROLE.get(name)
    where = f"{path}: " if path else ""
    if role is None:
        return
    arch, task = role
    if config.get("architecture") != arch:
        raise RetrievalError(f"{where}these weights are a {config.get('architecture')!r} network, but {name!r} "
                             f"needs a {arch!r}; give the weights of the matching method")
    if config.get("task", task) != task:
        raise RetrievalError(f"{where}these weights were trained for {config.get('task')!r} input, but {name!r} "
                             f"works on {task!r} input")
    if task in ("hologram", "rgb"):
        from .inputs import input_representation

        try:
            input_representation(config, task)
        except RetrievalError as exc:
            raise RetrievalError(f"{where}{exc}") from None


def user_weights_dir() -> Path:
    """The per-user folder for trained or fine-tuned weights: ``$NAPARI_DIFFPR_WEIGHTS_DIR``, else
    the platform's user cache folder (platformdirs) + ``weights``. Not created here."""
    env = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-diffpr", appauthor=False)) / "weights"


def use_weights_file(path: str | Path | None, name: str) -> Path | None:
    """Use the weight file ``path`` for the model ``name`` in this process (None: forget an
    earlier choice). The file is checked now (readable, architecture, task, input
    representation), so a mismatch is reported before any computation. Returns the path."""
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == name]:
            del _CACHE[key]
        if path is None:
            _OVERRIDES.pop(name, None)
            return None
        p = Path(path)
        if not p.is_file():
            raise RetrievalError(f"weight file not found: {p}")
        check_compatible(name, read_config(p), p)
        _OVERRIDES[name] = p
        return p


def use_method_weights(method, weights: str | Path | None = None,
                       prior_weights: str | Path | None = None) -> None:
    """Use weight files for a registered network method (the CLI's --weights/--prior-weights,
    the dock's weight-file fields): ``weights`` for its stage-1 U-Net, ``prior_weights`` for
    DiffPR's diffusion prior. Checked now, before any computation (ParameterError for a method
    without networks, RetrievalError for a file that does not fit)."""
    from ..errors import ParameterError

    if not (weights or prior_weights):
        return
    if not method.uses_torch:
        raise ParameterError(f"weight files are for network methods; {method.name!r} has no network")
    base = method.name[:-4] if method.name.endswith("-rgb") else method.name
    if weights:
        use_weights_file(weights, f"{'unet' if base == 'unet' else 'reduced-unet'}-{method.modality}")
    if prior_weights:
        if base != "diffpr":
            raise ParameterError(f"a prior weight file is for diffpr; {method.name!r} uses no diffusion prior")
        use_weights_file(prior_weights, prior_name(method.modality))


def weight_path(name: str) -> Path:
    """The file ``load_model(name)`` loads: a :func:`use_weights_file` choice, else the user
    folder's ``name.safetensors``, else the shipped one (RetrievalError when none exists)."""
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    for folder in (user_weights_dir(), weights_dir()):
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    shipped = available_models()
    raise RetrievalError(
        f"model weights {name + '.safetensors'!r} are not installed (looked in {user_weights_dir()} and "
        f"{weights_dir()}); shipped: {', '.join(shipped) or 'none'}. Train them with `napari-diffpr train` "
        f"(see docs/models.md) and put the .safetensors file in {user_weights_dir()}, or pass it with --weights.")


def load_weights(path: str | Path, device="cpu") -> tuple[torch.nn.Module, dict]:
    """Model (eval mode, float32, on ``device``) and config from a weight file at ``path``."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise RetrievalError(f"weight file not found: {path}")
    config = read_config(path)
    model = build_model(config)
    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - missing/unexpected keys or shapes, a damaged file
        raise RetrievalError(f"{path}: the stored tensors do not fit the {config.get('architecture')!r} network its "
                             f"config describes ({type(exc).__name__}: {str(exc)[:300]})") from None
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
    """The model ``name`` (e.g. "reduced-unet-hologram", "prior") in eval mode on ``device`` and
    its config, from :func:`weight_path` (a chosen file, the user folder, or the shipped one),
    checked to fit the role ``name``; cached per (name, device) — treat the model as read-only."""
    from ..device import resolve_device

    dev = resolve_device(device) if isinstance(device, str) or device is None else torch.device(device)
    key = (name, str(dev))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        path = weight_path(name)
        check_compatible(name, read_config(path), path)
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
    if specific in shipped or specific in _OVERRIDES or (user_weights_dir() / f"{specific}.safetensors").is_file():
        return specific
    return "prior"


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
