"""The learned methods in the registry: specs, no torch at import, and end-to-end runs through
napari_diffpr.reconstruct (tiny stand-in networks; the shipped weights when present)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import napari_diffpr
from napari_diffpr.errors import Cancelled, ParameterError

LEARNED = {"unet": "hologram", "reduced-unet": "hologram", "diffpr": "hologram",
           "unet-rgb": "rgb", "reduced-unet-rgb": "rgb", "diffpr-rgb": "rgb", "zmd": "rgb"}
RGB_OPTICS = {"wavelengths", "defocus", "pixel_size", "medium_index", "na_illumination", "na_detection",
              "focal_shift", "channel_bandwidth"}


def test_learned_methods_are_registered_with_their_specs():
    found = napari_diffpr.methods()
    for name, modality in LEARNED.items():
        m = found[name]
        assert m.modality == modality and m.uses_torch
        assert m.uses_background == (modality == "hologram")
        assert m.param("device").choices == ("auto", "cpu", "cuda", "mps")
    for name in ("diffpr", "diffpr-rgb"):
        m = found[name]
        t = m.param("t_corrupt")
        assert (t.kind, t.minimum, t.maximum, t.widget, t.refine_only) == ("int", 0, 999, "slider", True)
        assert m.param("sampler").choices == ("pc", "ddim", "dpm++")
        extra = {"guidance", "samples"} | ({"consistency", "coherence_model"} if name == "diffpr-rgb" else set())
        assert set(m.refine_only_params) == {"t_corrupt", "sampler", "steps", "seed", "pc_snr"} | extra
        assert not m.param("device").refine_only
    # issue 7: the hologram U-Nets are fused with the measured band unless guidance = 0
    for name in ("unet", "reduced-unet"):
        assert {p.name for p in found[name].params} == {"device", "guidance"}
        assert found[name].param("guidance").default == 1.0 and found[name].refine_only_params == ("guidance",)
    # issue 8: every learned RGB method takes the microscope's optics, with tie's names and defaults
    tie = found["tie"]
    for name in ("unet-rgb", "reduced-unet-rgb", "diffpr-rgb", "zmd"):
        names = {p.name for p in found[name].params}
        assert RGB_OPTICS <= names, name
        for shared in ("wavelengths", "defocus", "pixel_size", "medium_index", "focal_shift", "channel_bandwidth"):
            assert found[name].param(shared).default == tie.param(shared).default, (name, shared)
    assert set(found["zmd"].refine_only_params) == {"samples", "sampler", "steps", "seed", "guidance", "t_start",
                                                        "consistency", "coherence_model"}
    # session 11: the consistency steps model the condenser's exact partial coherence by default
    for name in ("diffpr-rgb", "zmd"):
        p = found[name].param("coherence_model")
        assert p.default == "source sum" and p.choices == ("source sum", "disk blur")
    assert found["zmd"].param("consistency").default == 32 == found["diffpr-rgb"].param("consistency").default
    # ZMD measured better unguided (the consistency steps fit the measurement), DiffPR-rgb guided
    assert found["zmd"].param("guidance").default == 0.0 and found["diffpr-rgb"].param("guidance").default == 1.0
    assert found["zmd"].param("guidance").minimum == 0.0          # 0 = unguided


def test_modality_picks_the_rgb_variant():
    from napari_diffpr.methods import get_method

    assert get_method("diffpr", modality="rgb").name == "diffpr-rgb"
    assert get_method("diffpr").name == "diffpr"


def test_parameters_are_validated():
    m = napari_diffpr.methods()["diffpr"]
    with pytest.raises(ParameterError, match="t_corrupt"):
        m.resolve_params({"t_corrupt": 1000})
    with pytest.raises(ParameterError, match="sampler"):
        m.resolve_params({"sampler": "euler"})
    with pytest.raises(ParameterError, match="steps"):
        m.resolve_params({"steps": 0})


def test_registry_does_not_import_torch():
    code = ("import sys, napari_diffpr; ms = napari_diffpr.methods(); "
            "assert 'diffpr' in ms and 'diffpr-rgb' in ms; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- end to end with tiny stand-in networks ----------------------------------------------------
class Built:
    def __init__(self):
        self.calls = []
        self.pipes = {}


@pytest.fixture()
def tiny_weights(monkeypatch):
    """Replace the shipped-weight loader by tiny random networks (one pipeline per modality,
    reused like the real model cache)."""
    torch = pytest.importorskip("torch")
    from napari_diffpr.models import pipeline
    from napari_diffpr.models.prior import DiffusionUNet
    from napari_diffpr.models.unet import ReducedUNet, VanillaUNet

    built = Built()
    cfg = {"phase_scale_rad": 3.0, "phase_offset_rad": 0.0}

    def fake_load(modality, predictor, device="auto", with_prior=True):
        built.calls.append((modality, predictor, device, with_prior))
        key = (modality, predictor)
        if key not in built.pipes:
            torch.manual_seed(0)
            net = (ReducedUNet if predictor == "reduced-unet" else VanillaUNet)(3, 1, base_channels=4).eval()
            prior = DiffusionUNet(channels=1, base_channels=8, channel_mults=(1, 2)).eval()
            torch.nn.init.normal_(prior.out_conv.weight, std=0.05)
            built.pipes[key] = pipeline.DiffPRPipeline(net, cfg, modality=modality, prior=prior,
                                                       prior_config=cfg, device="cpu",
                                                       names=(f"{predictor}-{modality}", "prior"))
        p = built.pipes[key]
        return p

    monkeypatch.setattr(pipeline, "load_pipeline", fake_load)
    return built


def test_reconstruct_diffpr_hologram_end_to_end(tiny_weights, hologram):
    keep = hologram.copy()
    events = []
    res = napari_diffpr.reconstruct(hologram, "diffpr", t_corrupt=40, sampler="dpm++", steps=3, seed=2,
                                    device="cpu", progress=events.append)
    assert res.phase.shape == hologram.shape and res.phase.dtype == np.float32
    assert np.isfinite(res.phase).all()
    np.testing.assert_array_equal(hologram, keep)
    md = res.metadata
    assert md["method"] == "diffpr" and md["parameters"]["t_corrupt"] == 40
    assert md["sampler"] == "dpm++" and md["seed"] == 2 and md["units"] == "rad"
    assert len(events) == 4 and all(e.preview.shape == hologram.shape for e in events)
    assert tiny_weights.calls[-1] == ("hologram", "reduced-unet", "cpu", True)


def test_reconstruct_rgb_methods_and_no_prior_loaded_without_refinement(tiny_weights):
    rng = np.random.default_rng(0)
    rgb = (1 + 0.05 * rng.standard_normal((48, 48, 3))).astype(np.float32)
    for name in ("unet", "reduced-unet", "diffpr"):
        res = napari_diffpr.reconstruct(rgb, name, device="cpu")
        assert res.metadata["method"] == f"{name}-rgb" and res.phase.shape == (48, 48)
    assert [c[3] for c in tiny_weights.calls] == [False, False, True]
    napari_diffpr.reconstruct(rgb, "diffpr", t_corrupt=0, device="cpu")
    assert tiny_weights.calls[-1][3] is False


def test_reduced_unet_equals_diffpr_at_t_corrupt_zero(tiny_weights, hologram):
    a = napari_diffpr.reconstruct(hologram, "reduced-unet", device="cpu")
    b = napari_diffpr.reconstruct(hologram, "diffpr", t_corrupt=0, device="cpu")
    np.testing.assert_array_equal(a.phase, b.phase)
    assert a.metadata["stage1_scale"] == 4


def test_refine_only_rerun_through_reconstruct_reuses_stage1(tiny_weights, hologram):
    cache: dict = {}
    first = napari_diffpr.reconstruct(hologram, "diffpr", t_corrupt=30, steps=2, device="cpu", cache=cache)
    second = napari_diffpr.reconstruct(hologram, "diffpr", t_corrupt=60, steps=2, device="cpu", cache=cache)
    assert first.metadata["stage1_cached"] is False and second.metadata["stage1_cached"] is True
    assert not np.array_equal(first.phase, second.phase)


def test_cancel_through_the_progress_callback(tiny_weights, hologram):
    seen = []

    def stop_after_two(event):
        seen.append(event)
        return len(seen) < 2

    with pytest.raises(Cancelled):
        napari_diffpr.reconstruct(hologram, "diffpr", t_corrupt=500, steps=50, device="cpu",
                                  progress=stop_after_two)
    assert len(seen) == 2


def test_stack_runs_frame_by_frame(tiny_weights, hologram):
    stack = np.stack([hologram, hologram[::-1].copy()])
    res = napari_diffpr.reconstruct(stack, "diffpr", t_corrupt=20, steps=2, device="cpu")
    assert res.phase.shape == stack.shape


# --- the shipped weights ------------------------------------------------------------------------
def _shipped() -> list[str]:
    pytest.importorskip("torch")
    from napari_diffpr.models.weights import available_models

    return available_models()


def test_diffpr_with_shipped_weights_end_to_end():
    shipped = _shipped()
    needed = {"reduced-unet-hologram"}
    if not needed <= set(shipped) or not ({"prior", "prior-hologram"} & set(shipped)):
        pytest.skip(f"the trained weights are not shipped yet (found: {', '.join(shipped) or 'none'}); "
                    "engineer 'training' adds them under src/napari_diffpr/weights/")
    from napari_diffpr.optics.simulate import sample

    s = sample("hologram", size=64, seed=123)
    res = napari_diffpr.reconstruct(s["measurement"], "diffpr", background=s["background"],
                                    t_corrupt=100, sampler="dpm++", steps=5, device="cpu")
    assert res.phase.shape == s["phase"].shape and np.isfinite(res.phase).all()
    # radians, not network units: the phantom's span and the result's agree within a factor 2
    span_true = float(np.ptp(s["phase"]))
    span_res = float(np.percentile(res.phase, 99.5) - np.percentile(res.phase, 0.5))
    assert 0.5 * span_true < span_res < 2 * span_true


def test_shipped_prior_denoises_simulated_phase_maps_with_every_sampler():
    """The samplers' timestep and unit conventions match the trained prior's: from a phantom
    noised to t = 100, every sampler returns a map far closer to the truth than the noisy one
    (the first shipped prior gains 17 dB with dpm++/ddim and 13 dB with pc at 20 steps from
    8.6 dB; 5 dB is the floor for "conventions agree")."""
    shipped = _shipped()
    if not {"prior", "prior-hologram"} & set(shipped):
        pytest.skip(f"no trained prior shipped yet (found: {', '.join(shipped) or 'none'})")
    import torch

    from napari_diffpr.models.inputs import network_to_phase, phase_to_network
    from napari_diffpr.models.samplers import get_sampler
    from napari_diffpr.models.schedule import VPSchedule
    from napari_diffpr.models.weights import load_model, prior_name
    from napari_diffpr.optics.simulate import phantom

    prior, cfg = load_model(prior_name("hologram"), "cpu")
    sched = VPSchedule(**cfg.get("schedule", {}))
    truth = np.stack([phantom((64, 64), "mixed", seed=4000 + i) for i in range(2)])
    x0 = phase_to_network(torch.from_numpy(truth)[:, None].float(), cfg)
    t = 100
    x_t = sched.add_noise(x0, torch.tensor([float(t)]), torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))

    def psnr(x):
        rad = network_to_phase(x, cfg)[:, 0].numpy()
        return float(np.mean([napari_diffpr.compare(rad[i], truth[i])["psnr"] for i in range(len(truth))]))

    noisy = psnr(x_t / sched.coefficients(t)[0])
    for name, steps in (("dpm++", 10), ("ddim", 10), ("pc", 20)):
        walk = get_sampler(name)(prior, sched, x_t, t, steps, generator=torch.Generator().manual_seed(1))
        while True:
            try:
                next(walk)
            except StopIteration as stop:
                out = stop.value
                break
        assert psnr(out) > noisy + 5, name


def test_shipped_diffpr_beats_fourier_on_a_small_low_light_hologram():
    """Issue 7: 80 photons/px at fringe visibility 0.35, 128², with its background hologram, a
    test-seed phantom of the training families. Measured (2 Dec, session-4 defaults): Fourier
    filtering 24.27 dB, reduced U-Net 26.40 dB, DiffPR with default settings 26.83 dB (+2.6 dB
    over Fourier; +1.8 to +3.9 dB on the next three test seeds). The margin asked here is 1 dB.
    samples=4 adds the uncertainty map."""
    if not {"reduced-unet-hologram", "prior"} <= set(_shipped()):
        pytest.skip("DiffPR weights not shipped")
    from napari_diffpr.models.weights import load_model
    from napari_diffpr.optics import simulate
    from napari_diffpr.training.data import batch_generator

    if load_model("reduced-unet-hologram")[1].get("model_kwargs", {}).get("in_channels") != 4:
        pytest.skip("the shipped reduced U-Net predates the physics-anchored input")
    g = batch_generator("test", 500)
    phase = simulate.phantom_batch(1, 128, kinds=["bcell", "wbc", "hela", "3t3"], generator=g)
    holo, bg = simulate.hologram_batch(phase, generator=g, randomize=False, carrier=(0.12, -0.16),
                                       visibility=0.35, photons=80.0)
    h, b, ref = holo[0, 0].numpy(), bg[0, 0].numpy(), phase[0, 0].numpy()
    fourier = napari_diffpr.compare(napari_diffpr.reconstruct(h, "fourier", background=b), ref)["psnr"]
    res = napari_diffpr.reconstruct(h, "diffpr", background=b, device="cpu")
    diffpr = napari_diffpr.compare(res, ref)["psnr"]
    assert diffpr > fourier + 1.0, (diffpr, fourier)
    assert res.uncertainty is None   # one sample by default: no spread to report
    res = napari_diffpr.reconstruct(h, "diffpr", background=b, device="cpu", samples=4)
    assert napari_diffpr.compare(res, ref)["psnr"] > fourier + 1.0
    assert res.uncertainty is not None and res.uncertainty.shape == h.shape and np.isfinite(res.uncertainty).all()
    assert res.residual is not None and res.residual.shape == h.shape
