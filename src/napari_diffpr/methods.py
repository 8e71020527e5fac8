"""The methods registry: name -> Method (a parameter spec and a run generator).

Everything that reconstructs phase (the Python API, the CLI, the napari dock) looks methods up
here, so a method registered once shows up everywhere with its parameters. Registering does not
import torch: a method's ``run`` imports what it needs when called.

A ``run`` is a generator function::

    def run(data, *, background=None, cache=None, **params) -> Generator[Progress, None, Result]

``data`` is one validated frame (hologram: H x W float32; rgb: H x W x 3 float32), ``background``
the matching sample-free frame or None, ``cache`` a dict the caller may keep between runs on the
same input so that e.g. a refinement-only re-run can skip stage 1.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Sequence

from .errors import ParameterError
from .result import Progress, Result

MODALITIES = ("hologram", "rgb")
_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One method parameter. ``kind`` is one of ``int``, ``float``, ``str``, ``bool``,
    ``floats`` (a tuple of ``length`` floats), ``ints`` (a tuple of ``length`` ints) or
    ``float_or_auto`` (a number, or the text ``"auto"``).
    ``optional`` allows None (meaning "automatic"). ``widget`` hints the GUI
    (e.g. ``"slider"``); ``refine_only`` marks parameters whose change re-runs only the
    refinement stage (the DiffPR corruption level, sampler, steps, seed)."""

    name: str
    kind: str
    default: Any
    help: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    optional: bool = False
    length: int | None = None
    widget: str | None = None
    refine_only: bool = False

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type, or raise ParameterError."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(f"parameter {self.name!r} may not be None ({self.help})")
        if self.kind in ("floats", "ints"):
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "__len__"):
                raise ParameterError(
                    f"parameter {self.name!r} expects a sequence of {self.length} numbers, got {value!r}")
            items = list(value)
            if self.length is not None and len(items) != self.length:
                raise ParameterError(
                    f"parameter {self.name!r} expects {self.length} values, got {len(items)}: {value!r}")
            scalar = "int" if self.kind == "ints" else "float"
            return tuple(self._scalar(v, scalar) for v in items)
        return self._scalar(value, self.kind)

    def _scalar(self, value: Any, kind: str) -> Any:
        name = self.name
        if kind == "bool":
            if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1)):
                return bool(value)
            raise ParameterError(f"parameter {name!r} expects True or False, got {value!r}")
        if kind == "str":
            if not isinstance(value, str):
                raise ParameterError(f"parameter {name!r} expects text, got {type(value).__name__} {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ParameterError(
                    f"parameter {name!r} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
            return value
        if kind == "float_or_auto":
            # a distance or "auto" (e.g. refocus): text from a form or the CLI is read here too
            if isinstance(value, str):
                text = value.strip().lower()
                if text == "auto":
                    return "auto"
                try:
                    value = float(text)
                except ValueError:
                    raise ParameterError(f"parameter {name!r} expects a number or 'auto', got {value!r}") from None
            kind = "float"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(f"parameter {name!r} expects a number, got {type(value).__name__} {value!r}")
        if kind == "int":
            if isinstance(value, numbers.Integral) or float(value).is_integer():
                value = int(value)
            else:
                raise ParameterError(f"parameter {name!r} expects a whole number, got {value!r}")
        else:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ParameterError(f"parameter {name!r} must be finite, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ParameterError(
                f"parameter {name!r} must be >= {self.minimum}{(' ' + self.unit) if self.unit else ''}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ParameterError(
                f"parameter {name!r} must be <= {self.maximum}{(' ' + self.unit) if self.unit else ''}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter {name!r} must be one of {self.choices}; got {value!r}")
        return value

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


RunFunction = Callable[..., Generator[Progress, None, Result]]


@dataclass(frozen=True)
class Method:
    """A registered reconstruction method."""

    name: str
    modality: str
    title: str
    description: str
    params: tuple[Param, ...]
    run: RunFunction
    uses_background: bool = False
    uses_torch: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults, coerce types and check ranges; unknown names are an error."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ParameterError(
                f"method {self.name!r} has no parameter(s) {', '.join(map(repr, unknown))}; "
                f"it accepts: {', '.join(known) or 'none'}")
        return {name: p.validate(params.get(name, p.default)) for name, p in known.items()}

    @property
    def refine_only_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.refine_only)


_REGISTRY: dict[str, Method] = {}
_BUILTINS_LOADED = False


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to the registry (``replace=True`` to overwrite a name)."""
    if method.modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {method.modality!r}")
    if method.name in _REGISTRY and not replace:
        raise ValueError(f"a method named {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    """Import the modules that register the built-in methods (none of them imports torch)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import importlib

    for module in ("napari_diffpr.retrieval.methods", "napari_diffpr.models.methods"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a subpackage not written yet
            if exc.name != module:
                raise


def methods(modality: str | None = None) -> dict[str, Method]:
    """All registered methods by name, optionally only those for ``modality``."""
    _load_builtins()
    return {n: m for n, m in _REGISTRY.items() if modality is None or m.modality == modality}


def get_method(name: str, modality: str | None = None) -> Method:
    """Look up a method by name. Names shared by two modalities (e.g. ``"unet"``) are stored
    as ``"unet"`` for holograms and ``"unet-rgb"`` for RGB; ``modality`` picks between them."""
    _load_builtins()
    if modality == "rgb" and f"{name}-rgb" in _REGISTRY:
        return _REGISTRY[f"{name}-rgb"]
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise ParameterError(
        f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
