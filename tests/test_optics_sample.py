"""The ready-made samples napari and the CLI use, and the package-level facade."""
import numpy as np
import pytest

import napari_diffpr
from napari_diffpr.errors import ParameterError


def test_facade_is_the_optics_module():
    from napari_diffpr.optics import simulate
    assert napari_diffpr.simulate is simulate


def test_hologram_sample():
    d = napari_diffpr.simulate.sample("hologram", size=64, seed=1)
    assert set(d) >= {"measurement", "background", "phase", "meta"}
    assert d["measurement"].shape == d["background"].shape == d["phase"].shape == (64, 64)
    assert d["measurement"].dtype == np.float32
    assert d["phase"].max() > 0.5
    m = d["meta"]
    assert m["pixel_size_um"] > 0 and m["wavelength_um"] > 0 and len(m["carrier"]) == 2
    again = napari_diffpr.simulate.sample("hologram", size=64, seed=1)
    assert np.array_equal(again["measurement"], d["measurement"])


def test_rgb_sample():
    d = napari_diffpr.simulate.sample("rgb", size=64, seed=0)
    assert d["measurement"].shape == (64, 64, 3) and d["background"] is None
    assert d["phase"].shape == (64, 64)
    m = d["meta"]
    assert len(m["wavelengths_um"]) == 3 and len(m["defocus_um"]) == 3 and m["pixel_size_um"] > 0
    assert abs(float(np.median(d["measurement"])) - 1.0) < 0.05


def test_bad_sample_kind():
    with pytest.raises(ParameterError, match="hologram"):
        napari_diffpr.simulate.sample("tomogram")


def test_importing_the_simulator_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, napari_diffpr, napari_diffpr.optics.simulate, napari_diffpr.optics.units, "
            "napari_diffpr.optics.propagation; napari_diffpr.simulate; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_device_argument():
    import torch

    x = napari_diffpr.simulate.phantom_batch(2, 32, generator=torch.Generator().manual_seed(0), device="cpu")
    assert x.device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="not available"):
            napari_diffpr.simulate.phantom_batch(2, 32, device="cuda")
    with pytest.raises(ParameterError, match="device"):
        napari_diffpr.simulate.phantom_batch(2, 32, device="tpu")
