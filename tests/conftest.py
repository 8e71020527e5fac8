"""Shared fixtures. The napari/Qt ones (make_napari_viewer, qtbot) come from napari's and
pytest-qt's plugins; here only small synthetic data and stub methods for the dock tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def drain(gen):
    """Run a generator to its end: (its return value, every event it yielded)."""
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return stop.value, events


def fringe_hologram(size: int = 64, seed: int = 0) -> np.ndarray:
    """A small off-axis hologram of a round phase bump (radians) on a tilted carrier."""
    y, x = np.mgrid[:size, :size].astype(np.float32)
    r2 = (x - size / 2) ** 2 + (y - size / 2) ** 2
    phase = 2.0 * np.exp(-r2 / (2 * (size / 8) ** 2))
    holo = 1 + 0.8 * np.cos(2 * np.pi * (0.21 * x + 0.13 * y) + phase)
    return (holo + np.random.default_rng(seed).normal(0, 0.01, holo.shape)).astype(np.float32)


@pytest.fixture
def hologram() -> np.ndarray:
    return fringe_hologram()


class StubCounter:
    """Counts how often the stub method computed its stage 1 (i.e. missed the cache)."""

    def __init__(self):
        self.stage1 = 0
        self.runs = 0


@pytest.fixture
def stub_refine_method():
    """A hologram method shaped like DiffPR: a cached stage 1, then a refinement whose result
    depends on a ``t_corrupt`` slider (refine_only) and that yields a preview per step."""
    import time

    from napari_diffpr.methods import Method, Param, register, unregister
    from napari_diffpr.result import Progress, Result

    counter = StubCounter()

    def run(data, *, background=None, cache=None, t_corrupt=200, steps=4, delay=0.0, gain=1.0,
            pixel_size=1.0, device="auto"):
        counter.runs += 1
        if "stage1" not in cache:
            counter.stage1 += 1
            yield Progress("stage 1", 0, 1)
            cache["stage1"] = (data - data.mean()) / data.std() * gain
        base = cache["stage1"]
        for i in range(steps):
            time.sleep(delay)
            yield Progress("refine", i + 1, steps, preview=base * (i + 1) / steps)
        return Result(phase=base * (1 + t_corrupt / 1000.0), metadata={"device": device,
                                                                       "stage1_calls": counter.stage1})

    method = Method(
        name="stub-refine", modality="hologram", title="Stub refinement (tests)",
        description="test stub", run=run, uses_torch=True,
        params=(
            Param("t_corrupt", "int", 200, "corruption level", minimum=0, maximum=999,
                  widget="slider", refine_only=True),
            Param("steps", "int", 4, "refinement steps", minimum=1, maximum=1000, refine_only=True),
            Param("delay", "float", 0.0, "seconds per step", unit="s", minimum=0.0, maximum=5.0),
            Param("gain", "float", 1.0, "stage-1 gain", minimum=0.0, maximum=10.0),
            Param("pixel_size", "float", 1.0, "camera pixel size in the sample plane", unit="µm",
                  minimum=0.001, maximum=100.0),
            Param("device", "str", "auto", "torch device", choices=("auto", "cpu", "cuda", "mps")),
        ))
    register(method, replace=True)
    yield counter
    unregister("stub-refine")


@pytest.fixture
def stub_failing_method():
    """A hologram method that fails after one step, the way a GPU out-of-memory would."""
    from napari_diffpr.methods import Method, register, unregister
    from napari_diffpr.result import Progress

    def run(data, *, background=None, cache=None):
        yield Progress("stage 1", 0, 2)
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    register(Method(name="stub-fail", modality="hologram", title="Failing stub (tests)",
                    description="test stub", run=run, params=()), replace=True)
    yield "stub-fail"
    unregister("stub-fail")
