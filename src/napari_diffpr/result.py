"""What a method yields while it runs (Progress) and what it returns (Result)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator

import numpy as np


@dataclass(frozen=True)
class Progress:
    """One progress event: ``step`` of ``total`` in ``stage``; ``preview`` is an optional
    float32 phase estimate (radians, same H x W as the result) for live display."""

    stage: str
    step: int
    total: int
    preview: np.ndarray | None = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)


@dataclass
class Result:
    """A reconstruction: ``phase`` in radians (float32, input's H x W, or N x H x W for a
    stack), ``amplitude`` where the method knows it, and ``metadata``: the full record of
    how it was made (method, every parameter, seed, device, timings, package version).

    Optional per-pixel maps of the learned hologram methods, each float32 with the phase's
    shape, in radians: ``uncertainty`` the standard deviation of ``samples`` > 1 posterior
    samples (DiffPR), ``residual`` the measured hologram band minus the band re-synthesised
    from the result (its phase difference, wrapped to (-pi, pi])."""

    phase: np.ndarray
    amplitude: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    uncertainty: np.ndarray | None = None
    residual: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.phase = np.asarray(self.phase, dtype=np.float32)
        for name in ("amplitude", "uncertainty", "residual"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float32))

    def __repr__(self) -> str:
        return (f"Result(method={self.metadata.get('method')!r}, phase={self.phase.shape} "
                f"float32 rad, amplitude={'yes' if self.amplitude is not None else 'no'})")


def relay(run: Generator[Progress, None, Result], prefix: str = "", keep_preview: bool = True
          ) -> Generator[Progress, None, Result]:
    """Pass a method's progress on with ``prefix`` before each stage ("frame 2/5: ", "tile 3/16: ")
    and return its Result. A kept preview is a copy: the caller may keep or edit it, and it is
    never a view of the result being built."""
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            return stop.value
        preview = None
        if keep_preview and event.preview is not None:
            preview = np.array(event.preview, copy=True)
        yield Progress(stage=prefix + event.stage, step=event.step, total=event.total, preview=preview,
                       message=event.message)
