"""A magicgui form built from a method's parameter spec (napari_diffpr.methods.Param).

The dock never lists parameters by hand: every field here comes from ``Method.params``, so a
method registered later (the DiffPR models) shows up with its own controls, units and help.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from magicgui.widgets import (CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, Slider,
                              SpinBox, Widget)

from ..errors import ParameterError
from ..methods import Method, Param

# Parameters the dock sets itself (the device dropdown), so the form does not repeat them.
HANDLED_BY_DOCK = ("device",)
_BIG = 1e9


def _label(p: Param) -> str:
    return f"{p.name} ({p.unit})" if p.unit else p.name


def _tooltip(p: Param) -> str:
    parts = [p.help]
    if p.minimum is not None or p.maximum is not None:
        lo = "-inf" if p.minimum is None else f"{p.minimum:g}"
        hi = "inf" if p.maximum is None else f"{p.maximum:g}"
        parts.append(f"range {lo} … {hi}{(' ' + p.unit) if p.unit else ''}")
    if p.kind == "float_or_auto":  # e.g. refocus: empty means "not at all", "auto" searches
        parts.append("a number, or auto; leave empty for none")
    elif p.optional:
        parts.append("leave empty for automatic")
    if p.refine_only:
        parts.append("changing it re-runs only the refinement stage")
    return "\n".join(parts)


def _format(value: Any) -> str:
    if value is None:
        return ""
    # repr: the shortest text that reads back as the same float (":g" would cut to 6 digits)
    if isinstance(value, (tuple, list)):
        return ", ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value)
    return repr(float(value)) if isinstance(value, float) else str(value)


def _float_step(p: Param) -> float:
    lo, hi = p.minimum, p.maximum
    if lo is not None and hi is not None and hi > lo:
        return float(10 ** np.floor(np.log10((hi - lo) / 100)))
    default = abs(float(p.default or 1.0))
    return float(10 ** np.floor(np.log10(default))) / 10 if default > 0 else 0.01


def decimals_for(*values: Any, least: int = 3, most: int = 8) -> int:
    """Decimals a spin box needs to show ``values`` exactly (a 0.08475 µm pixel size must not
    become 0.08), at least ``least``."""
    need = least
    for v in values:
        if isinstance(v, (int, float)) and v == v and abs(v) not in (float("inf"),):
            text = f"{abs(float(v)):.{most}f}".rstrip("0")
            need = max(need, len(text.split(".")[1]) if "." in text else 0)
    return min(need, most)


def _set_float(w: FloatSpinBox, value: float) -> None:
    decimals = decimals_for(value, least=w.native.decimals())
    if decimals != w.native.decimals():
        w.native.setDecimals(decimals)
    w.value = value


def make_param_widget(p: Param) -> Widget:
    """One magicgui widget for ``p``; text fields for optional and tuple parameters."""
    common = dict(name=p.name, label=_label(p), tooltip=_tooltip(p))
    if p.kind in ("floats", "ints") or p.optional:
        hint = "auto" if p.optional else ""
        if p.kind == "float_or_auto":
            hint = "none (a number, or auto)"
        if p.kind in ("floats", "ints"):
            hint = f"{p.length or 'n'} values, comma separated" + (" (empty = auto)" if p.optional else "")
        w = LineEdit(value=_format(p.default), **common)
        w.native.setPlaceholderText(hint)
        return w
    if p.kind == "bool":
        return CheckBox(value=bool(p.default), **common)
    if p.choices is not None:
        return ComboBox(value=p.default, choices=list(p.choices), **common)
    if p.kind == "str":
        return LineEdit(value=str(p.default), **common)
    lo = -_BIG if p.minimum is None else p.minimum
    hi = _BIG if p.maximum is None else p.maximum
    if p.kind == "int":
        if p.widget == "slider":
            return Slider(value=int(p.default), min=int(lo), max=int(hi), readout=True, tracking=False,
                          **common)
        return SpinBox(value=int(p.default), min=int(lo), max=int(hi), **common)
    step = _float_step(p)
    w = FloatSpinBox(value=float(p.default), min=float(lo), max=float(hi), step=step, **common)
    w.native.setDecimals(decimals_for(p.default, p.minimum, step))
    w.value = float(p.default)  # again, now that the box keeps enough decimals
    return w


def _parse_text(p: Param, text: str) -> Any:
    text = text.strip()
    if not text:
        if p.optional:
            return None
        raise ParameterError(f"parameter {p.name!r} needs a value ({p.help})")
    scalar = int if p.kind in ("int", "ints") else float if p.kind in ("float", "floats") else str
    try:
        if p.kind in ("floats", "ints"):
            return tuple(scalar(v) for v in text.replace(";", ",").split(",") if v.strip())
        return scalar(text)
    except ValueError:
        raise ParameterError(
            f"parameter {p.name!r}: could not read {text!r} as "
            f"{'numbers' if p.kind in ('floats', 'ints') else p.kind}") from None


class ParamForm(Container):
    """The controls for one method. ``values()`` returns validated parameters (ParameterError on
    a bad entry); ``on_change(callback)`` calls back with the name of the edited parameter.

    ``touched`` holds the parameters the user edited; ``fill(values)`` (values read from a
    layer's file or metadata) leaves those alone, so a user's edit is never silently replaced."""

    def __init__(self, method: Method):
        self.method = method
        self.shown = tuple(p for p in method.params if p.name not in HANDLED_BY_DOCK)
        super().__init__(widgets=[make_param_widget(p) for p in self.shown], labels=True)
        self.margins = (0, 0, 0, 0)   # it sits inside a dock that has margins already
        self.touched: set[str] = set()
        self._filling = False
        for p in self.shown:
            self[p.name].changed.connect(lambda *_, name=p.name: self._mark(name))

    def _mark(self, name: str) -> None:
        if not self._filling:
            self.touched.add(name)

    def fill(self, values: dict[str, Any], *, force: bool = False) -> list[str]:
        """Set the untouched parameters (all of them with ``force``, which also forgets the
        user's edits) from ``values``; returns the names set."""
        if force:
            self.touched.clear()
        chosen = {k: v for k, v in values.items() if k not in self.touched}
        self._filling = True
        try:
            self.set_values(chosen)
        finally:
            self._filling = False
        return sorted(chosen)

    def _raw(self, p: Param) -> Any:
        w = self[p.name]
        return _parse_text(p, w.value) if isinstance(w, LineEdit) else w.value

    def values(self) -> dict[str, Any]:
        return {p.name: p.validate(self._raw(p)) for p in self.shown}

    def set_values(self, values: dict[str, Any]) -> None:
        for p in self.shown:
            if p.name in values and values[p.name] is not None:
                w = self[p.name]
                if isinstance(w, LineEdit):
                    w.value = _format(values[p.name])
                elif isinstance(w, FloatSpinBox):
                    _set_float(w, float(values[p.name]))
                else:
                    w.value = values[p.name]

    def on_change(self, callback: Callable[[str], None]) -> None:
        for p in self.shown:
            self[p.name].changed.connect(lambda *_, name=p.name: callback(name))
