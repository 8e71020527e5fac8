"""The napari-diffpr command: flags generated from the registry, reconstruct/simulate/compare/demo
end to end through main(argv), clear messages and non-zero exits for bad arguments."""
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from napari_diffpr import io
from napari_diffpr.cli import main
from napari_diffpr.metrics import compare
from napari_diffpr.methods import Method, Param, register, unregister
from napari_diffpr.result import Progress, Result



def fringe_hologram(size=64, seed=0):
    """A small off-axis hologram of a round 2 rad phase bump on a tilted carrier."""
    y, x = np.mgrid[:size, :size].astype(np.float32)
    phase = 2.0 * np.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / (2 * (size / 8) ** 2))
    holo = 1 + 0.8 * np.cos(2 * np.pi * (0.21 * x + 0.13 * y) + phase)
    return (holo + np.random.default_rng(seed).normal(0, 0.01, holo.shape)).astype(np.float32)


@pytest.fixture
def echo_method():
    """A method with one parameter of every kind; its phase encodes the values it received."""
    seen = {}

    def run(data, *, background=None, cache=None, gain=1.0, shift=0, flip=False, offset=(0.0, 0.0),
            mode="a", limit=None):
        seen.update(gain=gain, shift=shift, flip=flip, offset=offset, mode=mode, limit=limit,
                    background=background is not None)
        yield Progress("echo", 1, 1)
        phase = data * gain + shift + offset[0] + offset[1]
        return Result(phase=-phase if flip else phase, metadata={"device": "cpu"})

    register(Method(
        name="echo-test", modality="hologram", title="Echo (tests)", description="test method",
        run=run, uses_background=True, params=(
            Param("gain", "float", 1.0, "multiplier", unit="rad", minimum=0.0, maximum=10.0),
            Param("shift", "int", 0, "added constant", minimum=-5, maximum=5),
            Param("flip", "bool", False, "negate the output"),
            Param("offset", "floats", (0.0, 0.0), "two offsets", unit="µm", length=2),
            Param("mode", "str", "a", "a mode", choices=("a", "b")),
            Param("limit", "float", None, "optional limit", unit="µm", optional=True, minimum=0.0),
        )), replace=True)
    yield seen
    unregister("echo-test")


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_registry_parameters_become_typed_flags(tmp_path, capsys, echo_method):
    holo = fringe_hologram(48)
    np.save(tmp_path / "h.npy", holo)
    out = tmp_path / "p.tif"
    code, stdout, err = _run(["reconstruct", tmp_path / "h.npy", "-o", out, "-m", "echo-test", "--gain", "2.5",
                              "--shift", "-3", "--flip", "--offset", "0.5", "1", "--mode", "b", "--limit", "4"],
                             capsys)
    assert code == 0, err
    assert echo_method == {"gain": 2.5, "shift": -3, "flip": True, "offset": (0.5, 1.0), "mode": "b",
                           "limit": 4.0, "background": False}
    (item,) = io.read(out)
    np.testing.assert_allclose(item.data, -(holo * 2.5 - 3 + 1.5), rtol=1e-6)
    assert item.metadata["parameters"]["offset"] == [0.5, 1.0]
    assert item.metadata["method"] == "echo-test"
    assert "wrote" in stdout and "echo" in err  # summary on stdout, progress on stderr

    # Unset flags keep the method's defaults; "auto" means None for optional parameters.
    code, _, err = _run(["reconstruct", tmp_path / "h.npy", "-o", out, "-m", "echo-test", "--limit", "auto",
                         "--no-flip", "-q", "--overwrite"], capsys)
    assert code == 0, err
    assert echo_method["gain"] == 1.0 and echo_method["limit"] is None and echo_method["flip"] is False
    assert err == ""  # --quiet


def test_options_before_input_do_not_confuse_the_input(tmp_path, capsys, echo_method):
    holo = fringe_hologram(48)
    np.save(tmp_path / "h.npy", holo)
    np.save(tmp_path / "p.npy", holo * 0 + 7)  # the output of an earlier run, about to be replaced
    # the output's name comes before INPUT: it must not be read as the measurement
    code, _, err = _run(["reconstruct", "-m", "echo-test", "-o", tmp_path / "p.npy", "--gain", "2", "-q",
                         tmp_path / "h.npy", "--overwrite"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), holo * 2, rtol=1e-6)


def test_help_lists_method_parameters_with_units(capsys, echo_method):
    code, out, _ = _run(["reconstruct", "--method", "echo-test", "--help"], capsys)
    assert code == 0
    assert "--gain" in out and "in rad" in out and "range 0..10" in out
    assert "--offset" in out and "in µm" in out and "micrometres" in out
    code, out, _ = _run(["methods", "echo-test"], capsys)
    assert code == 0 and "--limit" in out and "default: auto" in out
    code, out, _ = _run(["methods", "--json"], capsys)
    listing = json.loads(out)
    assert listing["echo-test"]["params"][0]["name"] == "gain"


def test_bad_arguments_give_clear_messages_and_nonzero_exit(tmp_path, capsys, echo_method):
    np.save(tmp_path / "h.npy", fringe_hologram(48))
    base = ["reconstruct", tmp_path / "h.npy", "-o", tmp_path / "p.tif", "-m", "echo-test"]
    cases = [
        (base + ["--gain", "abc"], "expected a number"),
        (base + ["--gain", "20"], "must be <= 10"),
        (base + ["--shift", "1.5"], "expected a whole number"),
        (base + ["--mode", "c"], "invalid choice"),
        (base + ["--offset", "1"], "expected 2 arguments"),
        (["reconstruct", tmp_path / "h.npy", "-m", "echo-test"], "-o/--output"),
        (["reconstruct", tmp_path / "missing.tif", "-o", tmp_path / "p.tif"], "no such file"),
        (["reconstruct", tmp_path / "h.npy", "-o", tmp_path / "p.tif", "-m", "nope"], "unknown method 'nope'"),
        (["reconstruct", tmp_path / "h.npy", "-o", tmp_path / "p.png", "-m", "echo-test"], "unsupported file type"),
        (["reconstruct", tmp_path / "h.npy", "-o", tmp_path / "h.npy", "-m", "echo-test"], "same file as the input"),
        (["frobnicate"], "invalid choice"),
        (["simulate", "--size", "8", "-o", tmp_path / "s.npz"], "at least 32 pixels"),
        (["compare", tmp_path / "h.npy", tmp_path / "missing.tif"], "no such file"),
    ]
    for argv, message in cases:
        code, out, err = _run(argv, capsys)
        assert code == 2, (argv, out, err)
        assert message in err, (argv, err)
    assert not (tmp_path / "p.tif").exists()


def test_phase_file_is_not_a_measurement(tmp_path, capsys):
    io.write_phase_tiff(tmp_path / "phase.tif", fringe_hologram(48))
    code, _, err = _run(["reconstruct", tmp_path / "phase.tif", "-o", tmp_path / "p.tif"], capsys)
    assert code == 2 and "not a measurement" in err


def test_fourier_cli_matches_the_python_api_and_uses_npz_background(tmp_path, capsys):
    from napari_diffpr import reconstruct

    holo = fringe_hologram(64, seed=1)
    y, x = np.mgrid[:64, :64]
    bg = (1 + 0.8 * np.cos(2 * np.pi * (0.21 * x + 0.13 * y))).astype(np.float32)
    before = holo.copy()
    io.write_npz(tmp_path / "h.npz", holo, background=bg, metadata={"pixel_size_um": 0.2})
    code, _, err = _run(["reconstruct", tmp_path / "h.npz", "-o", tmp_path / "p.tif", "--filter-size", "0.4",
                         "--unwrap", "lsq"], capsys)
    assert code == 0, err
    (item,) = io.read(tmp_path / "p.tif")
    expected = reconstruct(holo, "fourier", background=bg, filter_size=0.4, unwrap="lsq")
    np.testing.assert_allclose(item.data, expected.phase, atol=1e-5)
    assert item.metadata["background_used"] is True
    assert item.metadata["pixel_size_um"] == 0.2
    assert item.metadata["input_file"].endswith("h.npz")
    np.testing.assert_array_equal(holo, before)


def test_stack_input_gives_stack_output(tmp_path, capsys, echo_method):
    stack = np.stack([fringe_hologram(40, seed=s) for s in range(3)])
    np.save(tmp_path / "stack.npy", stack)
    code, _, err = _run(["reconstruct", tmp_path / "stack.npy", "-o", tmp_path / "p.tif", "-m", "echo-test"],
                        capsys)
    assert code == 0, err
    assert "frame 3/3" in err
    (item,) = io.read(tmp_path / "p.tif")
    assert item.data.shape == (3, 40, 40) and item.metadata["n_frames"] == 3


def test_compare_command_reports_metrics(tmp_path, capsys):
    ref = fringe_hologram(48, seed=3)
    res = ref + np.random.default_rng(0).normal(0, 0.05, ref.shape).astype(np.float32)
    io.write_phase_tiff(tmp_path / "res.tif", res)
    io.write_npz(tmp_path / "gt.npz", ref * 0 + 1 + ref, phase=ref)  # 'phase' entry is the reference
    code, out, err = _run(["compare", tmp_path / "res.tif", tmp_path / "gt.npz", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == pytest.approx(compare(res, ref))
    code, out, _ = _run(["compare", tmp_path / "res.tif", tmp_path / "gt.npz"], capsys)
    assert "PSNR" in out and "dB" in out


def test_train_forwards_its_arguments(monkeypatch, capsys):
    received = []
    fake = types.ModuleType("napari_diffpr.training.cli")
    fake.main = lambda argv: received.append(argv) or 3
    monkeypatch.setitem(sys.modules, "napari_diffpr.training.cli", fake)
    assert main(["train", "prior", "--steps", "5", "--help"]) == 3
    assert received == [["prior", "--steps", "5", "--help"]]


def test_simulate_reconstruct_compare_round_trip(tmp_path, capsys):
    pytest.importorskip("napari_diffpr.optics.simulate")
    code, out, err = _run(["simulate", "--kind", "hologram", "--size", "64", "--seed", "1",
                           "-o", tmp_path / "s.npz"], capsys)
    assert code == 0, err
    holo, bg, gt = io.read(tmp_path / "s.npz")
    assert (holo.kind, bg.kind, gt.kind) == ("hologram", "background", "phase")
    assert holo.metadata["pixel_size_um"] > 0
    code, _, err = _run(["reconstruct", tmp_path / "s.npz", "-o", tmp_path / "p.tif", "-q"], capsys)
    assert code == 0, err
    (phase,) = io.read(tmp_path / "p.tif")
    assert phase.data.dtype == np.float32 and phase.data.shape == (64, 64)
    assert phase.metadata["pixel_size_um"] == pytest.approx(holo.metadata["pixel_size_um"])
    assert phase.metadata["method"] == "fourier" and phase.metadata["background_used"] is True
    # the output is a reconstruction of the simulated cell (not noise, not the background)
    assert np.corrcoef(phase.data.ravel(), gt.data.ravel())[0, 1] > 0.8
    code, out, _ = _run(["compare", tmp_path / "p.tif", tmp_path / "s.npz", "--json"], capsys)
    assert json.loads(out) == pytest.approx(compare(phase.data, gt.data))

    # the same sample as three TIFFs, background given explicitly
    code, _, err = _run(["simulate", "--kind", "hologram", "--size", "64", "--seed", "1",
                         "-o", tmp_path / "h.tif"], capsys)
    assert code == 0, err
    code, _, err = _run(["reconstruct", tmp_path / "h.tif", "--background", tmp_path / "h_background.tif",
                         "-o", tmp_path / "p2.tif", "-q"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(io.read(tmp_path / "p2.tif")[0].data, phase.data, atol=1e-4)

    code, _, err = _run(["simulate", "--kind", "rgb", "--size", "64", "-o", tmp_path / "r.tif"], capsys)
    assert code == 0, err
    assert io.read(tmp_path / "r.tif")[0].kind == "rgb"
    assert io.read(tmp_path / "r_phase.tif")[0].kind == "phase"
    assert not (tmp_path / "r_background.tif").exists()


def test_demo_without_display_runs_headless(tmp_path, capsys, monkeypatch):
    pytest.importorskip("napari_diffpr.optics.simulate")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    code, out, err = _run(["demo", "--size", "64", "-q", "-o", tmp_path / "demo.tif"], capsys)
    assert code == 0, err
    assert "no display" in err and "PSNR" in out
    assert io.read(tmp_path / "demo.tif")[0].data.shape == (64, 64)


def test_console_script_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "napari_diffpr.cli", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "napari-diffpr" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "napari_diffpr.cli", "simulate"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "-o/--output" in proc.stderr


def test_physical_parameters_come_from_file_metadata_unless_given(tmp_path, capsys):
    from napari_diffpr.cli import physical_params_from_metadata

    seen = {}

    def run(data, *, background=None, cache=None, pixel_size=1.0, medium_index=1.0, seed=0,
            numerical_aperture=None):
        seen.update(pixel_size=pixel_size, medium_index=medium_index, seed=seed, na=numerical_aperture)
        yield Progress("x", 1, 1)
        return Result(phase=data)

    method = register(Method(name="physical-test", modality="hologram", title="t", description="t", run=run,
                             params=(Param("pixel_size", "float", 1.0, "pixel", unit="µm", minimum=0.001),
                                     Param("medium_index", "float", 1.0, "n", minimum=1.0, maximum=2.0),
                                     Param("seed", "int", 0, "seed"),
                                     Param("numerical_aperture", "float", None, "NA", optional=True))),
                      replace=True)
    try:
        meta = {"pixel_size_um": 0.25, "n_medium": 1.33, "seed": 7, "numerical_aperture": 1.0}
        assert physical_params_from_metadata(method, meta, {}) == {"pixel_size": 0.25, "medium_index": 1.33}
        assert physical_params_from_metadata(method, {"pixel_size_um": -1}, {}) == {}  # invalid: skipped
        io.write_npz(tmp_path / "h.npz", fringe_hologram(40), metadata=meta)
        assert main(["reconstruct", str(tmp_path / "h.npz"), "-o", str(tmp_path / "p.tif"), "-m", "physical-test",
                     "-q"]) == 0
        # seed and NA are never taken from a file: they are choices, not properties of the sample
        assert seen == {"pixel_size": 0.25, "medium_index": 1.33, "seed": 0, "na": None}
        assert main(["reconstruct", str(tmp_path / "h.npz"), "-o", str(tmp_path / "p.tif"), "-m", "physical-test",
                     "-q", "--pixel-size", "0.5", "--overwrite"]) == 0
        assert seen["pixel_size"] == 0.5
    finally:
        unregister("physical-test")


def test_progress_bar_redraws_on_a_terminal_and_logs_every_tenth_otherwise():
    import io as stdio

    from napari_diffpr.cli import ProgressBar

    class Tty(stdio.StringIO):
        def isatty(self):
            return True

    tty, log = Tty(), stdio.StringIO()
    for stream in (tty, log):
        bar = ProgressBar(stream)
        for i in range(1, 101):
            bar(Progress("refine", i, 100))
        bar(Progress("save", 1, 1))
        bar.close()
    assert tty.getvalue().count("\r") == 101 and tty.getvalue().endswith("\n")
    assert "100.0% 100/100" in tty.getvalue()
    lines = log.getvalue().splitlines()
    # the first event, then 10 %, 20 %, ... 100 %, then "save"
    assert len(lines) == 12 and "\r" not in log.getvalue()
    assert "1/100" in lines[0] and "10/100" in lines[1]
    assert lines[-2].startswith("refine") and "100.0%" in lines[-2] and lines[-1].startswith("save")


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "hl60_hologram.npz").exists(), reason="../shared/data not present")
def test_measured_hl60_npz_uses_its_background(tmp_path, capsys):
    code, _, err = _run(["reconstruct", SHARED / "hl60_hologram.npz", "-o", tmp_path / "hl60.tif", "-q"], capsys)
    assert code == 0, err
    (item,) = io.read(tmp_path / "hl60.tif")
    assert item.metadata["background_used"] is True
    assert item.metadata["background_file"].endswith("hl60_hologram.npz")
    assert 4.0 < float(item.data.max()) < 6.0  # the data README: peak phase about 5.0 rad


@pytest.mark.skipif(not (SHARED / "cell_hologram_oah.h5").exists(), reason="../shared/data not present")
def test_measured_qpformat_hdf5_carries_its_physical_metadata(tmp_path, capsys):
    pytest.importorskip("h5py")
    code, _, err = _run(["reconstruct", SHARED / "cell_hologram_oah.h5", "-o", tmp_path / "cell.tif", "-q"], capsys)
    assert code == 0, err
    (item,) = io.read(tmp_path / "cell.tif")
    assert item.metadata["pixel_size_um"] == pytest.approx(0.08475, rel=1e-3)
    assert item.metadata["wavelength_um"] == pytest.approx(0.532)
    # the file's wavelength and pixel size reach the method; its placeholder NA does not
    assert item.metadata["parameters"]["pixel_size"] == pytest.approx(0.08475, rel=1e-3)
    assert item.metadata["parameters"]["numerical_aperture"] is None
