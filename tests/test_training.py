"""Training: seeded data with disjoint splits, deterministic steps, exact resume, the CLI
(tiny models on 32² images; seconds)."""
import pytest

torch = pytest.importorskip("torch")

from napari_diffpr.models.inputs import HOLOGRAM_INPUT_UNWRAPPED  # noqa: E402
from napari_diffpr.training import data  # noqa: E402
from napari_diffpr.training.cli import main  # noqa: E402
from napari_diffpr.training.loop import TrainConfig, Trainer  # noqa: E402

TINY = {"reduced-unet-hologram": {"base_channels": 4}, "unet-rgb": {"base_channels": 4},
        "prior": {"base_channels": 8, "channel_mults": [1, 2]}}


def tiny_config(model="reduced-unet-hologram", steps=4, **kw):
    return TrainConfig(model=model, steps=steps, batch_size=2, size=32, pool_size=4, pool_image=32,
                       validation_size=2, cache_dir=None, model_kwargs=TINY[model],
                       checkpoint_every=1000, validate_every=1000, threads=1, **kw)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_split_seeds_are_disjoint_and_batches_reproducible():
    ranges = sorted(data.SPLIT_SEEDS.values())
    assert all(b - a >= data.SPLIT_SIZE for a, b in zip(ranges, ranges[1:]))
    with pytest.raises(ValueError):
        data.batch_generator("train", data.SPLIT_SIZE)
    pool = data.load_pool("train", 4, 32, "hologram", cache_dir=None)
    again = data.load_pool("train", 4, 32, "hologram", cache_dir=None)
    val = data.load_pool("validation", 4, 32, "hologram", cache_dir=None)
    torch.testing.assert_close(pool["phase"], again["phase"])
    torch.testing.assert_close(pool["input"], again["input"])
    assert not torch.allclose(pool["phase"], val["phase"])
    b1 = data.make_batch("hologram", pool, 3, 2, 32)
    b2 = data.make_batch("hologram", pool, 3, 2, 32)
    b3 = data.make_batch("hologram", pool, 4, 2, 32)
    torch.testing.assert_close(b1["input"], b2["input"])
    assert not torch.allclose(b1["input"], b3["input"])
    assert b1["input"].shape == (2, 3, 32, 32) and b1["target_lr"].shape == (2, 1, 8, 8)
    # the reduced U-Net's target is the 4x4 average of the full-resolution target
    torch.testing.assert_close(b1["target_lr"][0, 0, 0, 0], b1["target"][0, 0, :4, :4].mean())
    # input and target windows stay aligned: crops of the same pool image, same transform
    img = pool["phase"][0:1]
    one = {"phase": img, "input": pool["input"][0:1]}
    b = data.make_batch("hologram", one, 0, 1, 16)
    found = [(y, x, kk) for y in range(17) for x in range(17) for kk in range(8)
             if torch.equal(data._dihedral(img[0, :, y:y + 16, x:x + 16], kk), b["phase"][0])]
    y, x, kk = found[0]
    torch.testing.assert_close(b["input"][0], data._dihedral(one["input"][0, :, y:y + 16, x:x + 16], kk))


@pytest.mark.parametrize("model", ["reduced-unet-hologram", "prior"])
def test_training_steps_are_deterministic(model, tmp_path):
    a = Trainer(tiny_config(model, steps=2), tmp_path / "a", log=lambda s: None)
    b = Trainer(tiny_config(model, steps=2), tmp_path / "b", log=lambda s: None)
    torch.manual_seed(123)   # the global RNG must not matter
    a.run(progress=False)
    torch.manual_seed(456)
    b.run(progress=False)
    wa, wb = weights(a), weights(b)
    assert any(not torch.equal(wa[k], Trainer(tiny_config(model), tmp_path / "c").model.state_dict()[k])
               for k in wa if wa[k].is_floating_point())   # it did train
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


@pytest.mark.parametrize("model", ["reduced-unet-hologram", "prior", "unet-rgb"])
def test_resume_continues_identically(model, tmp_path):
    straight = Trainer(tiny_config(model, steps=4), tmp_path / "straight", log=lambda s: None)
    straight.run(progress=False)

    first = Trainer(tiny_config(model, steps=4, max_minutes=0.0), tmp_path / "resumed", log=lambda s: None)
    first.run(progress=False)          # max_minutes=0: stops (and checkpoints) after one step
    assert first.step == 1 and first.checkpoint_path.is_file()
    resumed = Trainer(tiny_config(model, steps=4), tmp_path / "resumed", log=lambda s: None)
    resumed.load_checkpoint()
    assert resumed.step == 1
    resumed.run(progress=False)
    assert resumed.step == 4
    ws, wr = weights(straight), weights(resumed)
    for k in ws:
        torch.testing.assert_close(ws[k], wr[k], rtol=0, atol=0)
    es, er = straight.ema.state_dict(), resumed.ema.state_dict()
    for k in es:
        torch.testing.assert_close(es[k], er[k], rtol=0, atol=0)


def test_resume_refuses_other_settings(tmp_path):
    t = Trainer(tiny_config(steps=1), tmp_path, log=lambda s: None)
    t.run(progress=False)
    other = Trainer(tiny_config(steps=1, seed=5), tmp_path, log=lambda s: None)
    with pytest.raises(ValueError, match="seed"):
        other.load_checkpoint()


def test_cli_trains_exports_and_resumes(tmp_path, capsys):
    from napari_diffpr.models.weights import load_weights

    args = ["reduced-unet-hologram", "--steps", "2", "--size", "32", "--pool-size", "4", "--pool-image", "32",
            "--batch-size", "2", "--base-channels", "4", "--threads", "1", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    # the hologram models are physics-anchored: wide data, 4-channel input, residual on channel 3
    assert (tmp_path / "cache" / "pool-train-4x32-wide.phase.pt").is_file()
    assert (tmp_path / "cache" / "pool-train-4x32-wide.hologram-unwrapped.pt").is_file()
    model, cfg = load_weights(tmp_path / "run" / "reduced-unet-hologram.safetensors")
    assert cfg["architecture"] == "ReducedUNet" and cfg["output_scale"] == 4
    assert cfg["input"] == HOLOGRAM_INPUT_UNWRAPPED and cfg["model_kwargs"]["residual_channel"] == 3
    assert "held out" in cfg["training"]["data"]
    assert cfg["training"]["steps_done"] == 2 and "napari-diffpr train" in cfg["training"]["command"]
    assert model(torch.zeros(1, 4, 32, 32)).shape == (1, 1, 8, 8)
    assert main(args[:2] + ["3"] + args[3:] + ["--resume"]) == 0
    assert "resumed reduced-unet-hologram at step 2" in capsys.readouterr().err
    _, cfg = load_weights(tmp_path / "run" / "reduced-unet-hologram.safetensors")
    assert cfg["training"]["steps_done"] == 3


def test_a_resumed_fine_tune_records_the_weights_it_started_from_by_content(tmp_path):
    # the starting file's path can later hold other weights (a fine-tune shipped over it), so the
    # record keeps its SHA-256 too, also through --resume
    import hashlib

    from napari_diffpr.models.weights import read_config

    common = ["--size", "32", "--pool-size", "4", "--pool-image", "32", "--batch-size", "2", "--base-channels", "4",
              "--threads", "1", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--no-progress",
              "--checkpoint-every", "1"]
    assert main(["reduced-unet-hologram", "--steps", "1", "--out", str(tmp_path / "a"), *common]) == 0
    first = tmp_path / "a" / "reduced-unet-hologram.safetensors"
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert main(["reduced-unet-hologram", "--steps", "1", "--init-from", str(first), "--out", str(tmp_path / "b"),
                 *common]) == 0
    assert main(["reduced-unet-hologram", "--steps", "2", "--resume", "--out", str(tmp_path / "b"), *common]) == 0
    training = read_config(tmp_path / "b" / "reduced-unet-hologram.safetensors")["training"]
    assert training["steps_done"] == 2
    assert training["initialised_from"] == str(first) and training["initialised_from_sha256"] == digest


def test_init_from_starts_from_exported_weights_and_refuses_another_network(tmp_path, capsys):
    from napari_diffpr.models.weights import load_weights

    common = ["--size", "32", "--pool-size", "4", "--pool-image", "32", "--batch-size", "2", "--base-channels", "4",
              "--threads", "1", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(["reduced-unet-hologram", "--steps", "2", "--out", str(tmp_path / "a"), *common]) == 0
    first = tmp_path / "a" / "reduced-unet-hologram.safetensors"
    # zero steps from the file: the exported weights are the file's (float16 round trip)
    assert main(["reduced-unet-hologram", "--steps", "0", "--init-from", str(first), "--out", str(tmp_path / "b"),
                 *common]) == 0
    assert "starting reduced-unet-hologram from the weights in" in capsys.readouterr().err
    a, _ = load_weights(first)
    b, cfg = load_weights(tmp_path / "b" / "reduced-unet-hologram.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert cfg["training"]["initialised_from"] == str(first)
    # another architecture, or another width, is refused before any training
    with pytest.raises(ValueError, match="ReducedUNet"):
        main(["unet-hologram", "--steps", "1", "--init-from", str(first), "--out", str(tmp_path / "c"), *common])
    with pytest.raises(ValueError, match="model_kwargs|base_channels"):
        main(["reduced-unet-hologram", "--steps", "1", "--init-from", str(first), "--out", str(tmp_path / "d"),
              *common[:-9], "--base-channels", "8", *common[-7:]])


def test_wide_pool_holds_out_a_family_and_a_carrier_regime_and_feeds_the_unwrapped_phase():
    assert data.HELD_OUT["kind"] not in data.WIDE["kinds"] and "mixed" not in data.WIDE["kinds"]
    assert data.HELD_OUT["carrier"][0] >= data.WIDE["carrier"][1]
    cfg = {"input": HOLOGRAM_INPUT_UNWRAPPED, "phase_scale_rad": 3.0}
    pool = data.load_pool("train", 4, 64, "hologram", cache_dir=None, config=cfg, variant="wide")
    assert pool["input"].shape == (4, 4, 64, 64)
    # channel 3 is the unwrapped Fourier phase in network units: close to the phantom's where
    # the noise and the band allow (correlation over the first half, demodulated with background)
    x, y = pool["input"][:2, 3].flatten(), (pool["phase"][:2, 0] / 3.0).flatten()
    assert torch.corrcoef(torch.stack([x, y]))[0, 1] > 0.6


def test_install_goes_to_the_user_weights_folder_not_the_package(tmp_path, monkeypatch):
    """Trained weights land in the per-user folder (never site-packages); --ship refuses an
    installed package."""
    from napari_diffpr.models import weights
    from napari_diffpr.training import cli

    user = tmp_path / "user-weights"
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(user))
    shipped = sorted(p.name for p in weights.weights_dir().iterdir())
    args = ["reduced-unet-hologram", "--steps", "1", "--batch-size", "2", "--pool-size", "4", "--pool-image", "64",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run"), "--threads", "1",
            "--no-progress", "--device", "cpu"]
    try:
        assert cli.main(args + ["--install"]) == 0
        assert (user / "reduced-unet-hologram.safetensors").is_file()
        assert sorted(p.name for p in weights.weights_dir().iterdir()) == shipped  # package untouched
        assert weights.weight_path("reduced-unet-hologram") == user / "reduced-unet-hologram.safetensors"
        monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path / "site-packages" / "napari_diffpr" / "weights")
        assert cli.main(args + ["--resume", "--ship"]) == 2
    finally:
        weights.clear_cache()


def test_rgb_camera_window_pool_is_the_centre_of_a_twice_wider_field():
    # a camera frame is a window on the dish: the window pool image is the centre of the field the
    # same seed draws at twice the size, and its features are computed on the window itself
    from napari_diffpr.training.rgb_data import simulate_pool

    phase, feats, optics, rgb = simulate_pool("validation", 1, 32, window=True)
    wide, _, wide_optics, wide_rgb = simulate_pool("validation", 1, 64)
    assert phase.shape == (1, 1, 32, 32) and feats.shape[-2:] == (32, 32) and rgb.shape == (1, 3, 32, 32)
    assert torch.equal(phase, wide[..., 16:48, 16:48]) and torch.equal(rgb, wide_rgb[..., 16:48, 16:48])
    assert optics[0]["pixel_size_um"] == wide_optics[0]["pixel_size_um"]


def test_rgb_source_sum_pool_renders_the_exact_partial_coherence():
    # --source-sum: the same phantom and microscope, rendered as the sum over condenser directions
    # (optics.brightfield illumination="sources"), which differs from the disk blur of the default pool
    from napari_diffpr.optics import rgb_random
    from napari_diffpr.training.data import batch_generator
    from napari_diffpr.training.rgb_data import simulate_pool

    phase, _, optics, rgb = simulate_pool("validation", 1, 32, illumination="sources", noise=False)
    blur_phase, _, _, blur_rgb = simulate_pool("validation", 1, 32, noise=False)
    assert torch.equal(phase, blur_phase) and optics[0]["illumination"] == "sources"
    g = batch_generator("validation", 0, "cpu", salt=4)
    _, ph, o = rgb_random.sample(32, g, noise=False)     # the same draws, rendered here by hand
    o = {k: v for k, v in o.items() if k not in ("kind", "defocus_per_channel_um", "illumination")}
    exact = rgb_random.render(ph, o, g, noise=False, illumination="sources")
    assert torch.allclose(rgb, exact[0], atol=1e-6)
    assert float((rgb - blur_rgb).abs().max()) > 1e-3
