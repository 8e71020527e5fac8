"""The registry contract: parameter validation, defaults, stacks and the generator protocol."""
import numpy as np
import pytest

from napari_diffpr import api
from napari_diffpr.errors import Cancelled, InputError, ParameterError
from napari_diffpr.methods import Method, Param, get_method, methods, register, unregister
from napari_diffpr.result import Progress, Result


def _mean_run(data, *, background=None, cache=None, gain=1.0, steps=3):
    for i in range(steps):
        yield Progress("work", i + 1, steps, preview=np.zeros_like(data))
    cache["calls"] = cache.get("calls", 0) + 1
    phase = (data - data.mean()) * gain
    if background is not None:
        phase = phase - background
    return Result(phase=phase, metadata={"device": "cpu"})


@pytest.fixture
def stub():
    m = Method(
        name="_stub", modality="hologram", title="Stub", description="test method",
        params=(Param("gain", "float", 1.0, "multiplier", minimum=0.0, maximum=10.0),
                Param("steps", "int", 3, "number of steps", minimum=1)),
        run=_mean_run, uses_background=True)
    register(m)
    yield m
    unregister("_stub")


def test_param_coerces_and_checks_ranges():
    p = Param("x", "float", 1.0, "x", unit="µm", minimum=0.0, maximum=2.0)
    assert p.validate(1) == 1.0 and isinstance(p.validate(1), float)
    with pytest.raises(ParameterError, match=r"'x' must be <= 2.0 µm"):
        p.validate(3)
    with pytest.raises(ParameterError, match="expects a number"):
        p.validate("1")
    with pytest.raises(ParameterError, match="finite"):
        p.validate(float("nan"))
    i = Param("n", "int", 1, "n")
    assert i.validate(4.0) == 4
    with pytest.raises(ParameterError, match="whole number"):
        i.validate(2.5)
    with pytest.raises(ParameterError, match="True or False"):
        Param("b", "bool", False, "b").validate("yes")
    s = Param("s", "str", "a", "s", choices=("a", "b"))
    with pytest.raises(ParameterError, match="one of 'a', 'b'"):
        s.validate("c")
    f3 = Param("w", "floats", (1, 2, 3), "w", length=3)
    assert f3.validate([1, 2, 3]) == (1.0, 2.0, 3.0)
    with pytest.raises(ParameterError, match="expects 3 values"):
        f3.validate((1, 2))
    with pytest.raises(ParameterError, match="may not be None"):
        p.validate(None)
    assert Param("o", "float", None, "o", optional=True).validate(None) is None


def test_unknown_parameter_and_method_are_named(stub):
    with pytest.raises(ParameterError, match="no parameter.*'gian'.*accepts: gain, steps"):
        stub.resolve_params({"gian": 2})
    with pytest.raises(ParameterError, match="unknown method 'nope'"):
        get_method("nope")


def test_registered_method_is_listed_with_spec(stub):
    listed = methods("hologram")
    assert listed["_stub"] is stub
    assert "_stub" not in methods("rgb")
    assert [p.name for p in listed["_stub"].params] == ["gain", "steps"]


def test_reconstruct_single_frame_records_parameters(stub):
    rng = np.random.default_rng(0)
    data = rng.random((40, 48)).astype(np.float64)
    before = data.copy()
    res = api.reconstruct(data, "_stub", gain=2)
    assert res.phase.dtype == np.float32 and res.phase.shape == (40, 48)
    np.testing.assert_allclose(res.phase, (data - data.mean()) * 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data, before)  # caller's array untouched
    md = res.metadata
    assert md["method"] == "_stub" and md["parameters"] == {"gain": 2.0, "steps": 3}
    assert md["device"] == "cpu" and md["n_frames"] == 1 and md["napari_diffpr_version"]


def test_stack_runs_frame_by_frame_with_progress(stub):
    data = np.random.default_rng(1).random((4, 36, 36))
    events = []
    res = api.reconstruct(data, "_stub", progress=events.append, steps=2)
    assert res.phase.shape == (4, 36, 36)
    assert len(events) == 8 and events[-1].stage.startswith("frame 4/4")
    np.testing.assert_allclose(res.phase[2], data[2] - data[2].mean(), atol=1e-5)


def test_background_must_match_frame_shape(stub):
    data = np.random.default_rng(2).random((36, 40))
    with pytest.raises(InputError, match=r"background hologram has shape \(36, 41\).*\(36, 40\)"):
        api.reconstruct(data, "_stub", background=np.ones((36, 41)))
    bg = np.random.default_rng(3).random((36, 40))
    res = api.reconstruct(data, "_stub", background=bg)
    np.testing.assert_allclose(res.phase, data - data.mean() - bg, atol=1e-5)


def test_progress_callback_can_cancel(stub):
    data = np.random.default_rng(4).random((36, 36))
    seen = []

    def stop_after_first(event):
        seen.append(event)
        return False

    with pytest.raises(Cancelled):
        api.reconstruct(data, "_stub", progress=stop_after_first, steps=50)
    assert len(seen) == 1


def test_cache_is_shared_between_runs(stub):
    data = np.random.default_rng(5).random((36, 36))
    cache = {}
    api.reconstruct(data, "_stub", cache=cache)
    api.reconstruct(data, "_stub", cache=cache)
    assert cache["calls"] == 2
