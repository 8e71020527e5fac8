"""Weight files: save/load round trip, the loader's cache and errors, and the shipped weights."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_diffpr.errors import RetrievalError  # noqa: E402
from napari_diffpr.models import weights  # noqa: E402
from napari_diffpr.models.prior import DiffusionUNet  # noqa: E402
from napari_diffpr.models.unet import ReducedUNet  # noqa: E402

SHIPPED = weights.available_models()

# Shipped-weights quality floor for the reduced U-Net on 128² simulated test holograms with their
# background holograms. docs/benchmarks.md (16 test images, same simulator, test seeds) measured
# 29.54 dB mean PSNR with a per-image std of 2.23 dB; this test averages 2 images (std of the mean
# ~1.6 dB), so the floor is the benchmark mean minus 4.5 dB (~2.9 sigma). An all-zero output scores
# ~18 dB on these images, so the floor still separates a trained network from a broken one.
REDUCED_UNET_PSNR_FLOOR = 29.54 - 4.5


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ReducedUNet(3, 1, base_channels=4)
    config = {"phase_scale_rad": 2.0, "phase_offset_rad": 0.0, "note": "µm and radians"}
    path = weights.save_weights(model, tmp_path / "m.safetensors", config, dtype=torch.float32)
    loaded, cfg = weights.load_weights(path)
    assert cfg["architecture"] == "ReducedUNet"
    assert cfg["model_kwargs"] == {"in_channels": 3, "out_channels": 1, "base_channels": 4}
    assert cfg["note"] == "µm and radians" and cfg["phase_scale_rad"] == 2.0
    assert not loaded.training
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    # the caller's config is not modified by save_weights
    assert "architecture" not in config


def test_float16_storage_is_close_and_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    model = DiffusionUNet(1, base_channels=8, channel_mults=(1, 2))
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
    path = weights.save_weights(model, tmp_path / "p.safetensors", {})
    loaded, cfg = weights.load_weights(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x, t = torch.randn(1, 1, 16, 16), torch.tensor([100.0])
    ref = model.eval()(x, t)
    assert (loaded(x, t) - ref).abs().max() < 1e-2 * ref.abs().max()


def test_missing_weights_error_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path)
    weights.clear_cache()
    with pytest.raises(RetrievalError, match="unet-hologram.safetensors"):
        weights.load_model("unet-hologram")
    assert weights.available_models() == []


def test_not_a_weight_file(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(RetrievalError, match="config"):
        weights.load_weights(tmp_path / "x.safetensors")


def test_load_model_caches_per_name_and_device(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path)
    weights.clear_cache()
    weights.save_weights(ReducedUNet(3, 1, base_channels=4), tmp_path / "reduced-unet-rgb.safetensors", {})
    a, cfg = weights.load_model("reduced-unet-rgb", "cpu")
    b, _ = weights.load_model("reduced-unet-rgb", "cpu")
    assert a is b and not a.training
    assert weights.available_models() == ["reduced-unet-rgb"]
    assert weights.prior_name("rgb") == "prior"
    weights.clear_cache()


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, napari_diffpr; napari_diffpr.methods(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["unet-hologram", "reduced-unet-hologram", "unet-rgb", "reduced-unet-rgb", "prior",
                                  "zmd-rgb"])
def test_shipped_weights_load(name):
    if name not in SHIPPED:
        pytest.skip(f"{name} weights not shipped")
    model, cfg = weights.load_model(name)
    assert cfg["name"] == name and "phase_scale_rad" in cfg and "training" in cfg
    if name == "prior":
        x = torch.zeros(1, 1, 32, 32)
        assert model(x, torch.tensor([10.0])).shape == x.shape
    else:
        x = torch.zeros(1, cfg["model_kwargs"]["in_channels"], 32, 32)
        assert model(x).shape[-1] == 32 // cfg.get("output_scale", 1)


def test_shipped_reduced_unet_beats_psnr_floor():
    if "reduced-unet-hologram" not in SHIPPED or REDUCED_UNET_PSNR_FLOOR is None:
        pytest.skip("reduced-unet-hologram weights or their benchmark floor not available")
    from napari_diffpr.metrics import compare
    from napari_diffpr.models.inputs import crop_output, network_to_phase, prepare_input
    from napari_diffpr.optics import simulate
    from napari_diffpr.training.data import batch_generator

    g = batch_generator("test", 0)   # the test split: never seen in training
    phase = simulate.phantom_batch(2, 128, generator=g)
    holo, bg = simulate.hologram_batch(phase, generator=g, randomize=True)
    model, cfg = weights.load_model("reduced-unet-hologram")
    psnrs = []
    for i in range(2):
        x, crop = prepare_input(holo[i, 0].numpy(), "hologram", bg[i, 0].numpy(), cfg)
        with torch.no_grad():
            low = network_to_phase(model(x), cfg)
            up = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False)
        est = crop_output(up, crop)[0, 0].numpy()
        psnrs.append(compare(est, phase[i, 0].numpy())["psnr"])
    assert np.mean(psnrs) > REDUCED_UNET_PSNR_FLOOR, psnrs
