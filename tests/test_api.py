"""The public API end to end with the conventional methods: registry listing, reconstruct on
single frames and stacks, progress and cancel, metadata, and errors a user can act on."""
import subprocess
import sys

import numpy as np
import pytest

import napari_diffpr as nd
from napari_diffpr.errors import Cancelled, InputError, ParameterError
from retrieval_helpers import bump_phase, focus_stack, off_axis, rms, smooth_opd


def test_importing_the_package_and_registering_methods_does_not_import_torch_or_qt():
    code = ("import sys, napari_diffpr as nd; nd.methods(); import napari_diffpr.retrieval.methods; "
            "print(any(m in sys.modules for m in ('torch', 'qtpy', 'PyQt6', 'napari')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_registry_lists_fourier_and_tie_with_documented_parameters():
    ms = nd.methods()
    assert ms["fourier"].modality == "hologram" and ms["fourier"].uses_background
    assert ms["tie"].modality == "rgb" and not ms["tie"].uses_background
    assert set(nd.methods("rgb")) >= {"tie"} and "tie" not in nd.methods("hologram")
    for name in ("fourier", "tie"):
        for p in ms[name].params:
            d = p.as_dict()
            assert len(d["help"]) > 20, p.name
            assert p.validate(p.default) == p.default or p.optional
    fourier = {p.name: p for p in ms["fourier"].params}
    assert {"sideband", "filter_shape", "filter_size", "unwrap", "background_fit", "sign"} <= set(fourier)
    assert fourier["filter_size"].default == 0.5 and fourier["filter_size"].maximum == 1.0
    assert fourier["sign"].choices == ("auto", "+1", "-1")
    tie = {p.name: p for p in ms["tie"].params}
    for name in ("wavelengths", "defocus", "pixel_size", "reference_wavelength"):
        assert tie[name].unit == "µm", name
    assert tie["boundary"].choices == ("neumann", "periodic")


def test_hologram_stack_gives_a_phase_stack_with_per_frame_metadata():
    truth = np.stack([bump_phase((64, 72), height=h, sigma=7) for h in (1.0, 2.0, 3.0)])
    holos = np.stack([off_axis(t, (0.2, -0.2))[0] for t in truth])
    bg = off_axis(np.zeros((64, 72)), (0.2, -0.2))[0]
    events = []
    res = nd.reconstruct(holos, "fourier", background=bg, progress=events.append)
    assert res.phase.shape == (3, 64, 72) and res.amplitude.shape == (3, 64, 72)
    for i in range(3):
        d = res.phase[i] - truth[i]
        assert rms(d - np.median(d)) < 0.02
    assert len(res.metadata["frames"]) == 3 and res.metadata["n_frames"] == 3
    assert events[0].stage.startswith("frame 1/3") and events[-1].stage.startswith("frame 3/3")


def test_rgb_input_picks_tie_and_records_parameters():
    opd = smooth_opd((64, 64), 0.25)
    rgb = np.moveaxis(focus_stack(opd, (-1.5, 0.0, 1.5), (0.63, 0.55, 0.45), 0.25, 1.33), 0, -1)
    rgb = rgb + np.random.default_rng(0).normal(0, 1e-3, rgb.shape).astype(np.float32)
    res = nd.reconstruct(rgb, "tie", pixel_size=0.25, regularization=0.01)
    assert res.phase.shape == (64, 64)
    p = res.metadata["parameters"]
    assert p["pixel_size"] == 0.25 and p["wavelengths"] == [0.63, 0.55, 0.45]
    assert res.metadata["modality"] == "rgb" and "napari_diffpr_version" in res.metadata


def test_progress_callback_can_cancel():
    holo = off_axis(bump_phase((64, 64)), (0.2, 0.2))[0]
    seen = []

    def stop_after_detect(event):
        seen.append(event.stage)
        return event.stage != "detect"

    with pytest.raises(Cancelled):
        nd.reconstruct(holo, "fourier", progress=stop_after_detect)
    assert seen == ["detect"]


def test_user_errors_are_specific():
    holo = off_axis(bump_phase((64, 64)), (0.2, 0.2))[0]
    with pytest.raises(ParameterError, match="no parameter.*'filtersize'"):
        nd.reconstruct(holo, "fourier", filtersize=0.3)
    with pytest.raises(ParameterError, match="filter_shape.*must be one of"):
        nd.reconstruct(holo, "fourier", filter_shape="round")
    with pytest.raises(ParameterError, match="unknown method"):
        nd.reconstruct(holo, "fourrier")
    with pytest.raises(InputError, match="2-D image"):
        nd.reconstruct(holo[0], "fourier")  # 1-D
    # issue 12: leading axes (T, Z, ...) are accepted and kept
    assert nd.reconstruct(holo[None, None], "fourier", unwrap="none").phase.shape == (1, 1) + holo.shape
    with pytest.raises(InputError, match="H x W x 3"):
        nd.reconstruct(holo, "tie")
    with pytest.raises(ParameterError, match="regularization.*>= 0.0"):
        nd.reconstruct(np.random.default_rng(0).random((40, 40, 3)), "tie", regularization=-1)
