"""DiffPR pipeline (Algorithm 1) with tiny randomly initialised networks: shapes, radians,
stage-1 cache, t_corrupt = 0, seeds, cancel. No trained weights needed."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from napari_diffpr.errors import ParameterError  # noqa: E402
from napari_diffpr.models import inputs  # noqa: E402
from napari_diffpr.models.pipeline import CACHE_KEY, DiffPRPipeline, upsample  # noqa: E402
from napari_diffpr.models.prior import DiffusionUNet  # noqa: E402
from napari_diffpr.models.schedule import VPSchedule  # noqa: E402
from napari_diffpr.models.unet import ReducedUNet, VanillaUNet  # noqa: E402
from conftest import drain  # noqa: E402

H, W = 40, 52   # not multiples of 16: exercises padding and cropping
PRED_CFG = {"phase_scale_rad": 3.0, "phase_offset_rad": 0.0}
PRIOR_CFG = {"phase_scale_rad": 2.0, "phase_offset_rad": 0.5}   # a different mapping on purpose


def rgb_frame(seed=0):
    rng = np.random.default_rng(seed)
    return (1.0 + 0.05 * rng.standard_normal((H, W, 3))).astype(np.float32)


def hologram_frame(seed=0):
    y, x = np.mgrid[:H, :W]
    rng = np.random.default_rng(seed)
    phase = 1.5 * np.exp(-((y - 20) ** 2 + (x - 26) ** 2) / 60.0)
    holo = 1 + 0.8 * np.cos(2 * np.pi * (0.22 * x + 0.13 * y) + phase) + 0.01 * rng.standard_normal((H, W))
    return holo.astype(np.float32)


class Counting(torch.nn.Module):
    """Wraps a module and counts its calls."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, *args):
        self.calls += 1
        return self.inner(*args)

    @property
    def size_multiple(self):
        return getattr(self.inner, "size_multiple", 1)


class GaussianPrior(torch.nn.Module):
    """The optimal eps for data = ``target`` + N(0, s^2) noise per pixel (network units)."""

    def __init__(self, target, s=1e-3, schedule=None):
        super().__init__()
        self.target, self.s = target, s
        self.schedule = schedule or VPSchedule()
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        a = self.schedule.alpha(t.double()).to(x.dtype).view(-1, 1, 1, 1)
        sg = self.schedule.sigma(t.double()).to(x.dtype).view(-1, 1, 1, 1)
        return sg * (x - a * self.target) / (a * a * self.s ** 2 + sg * sg)


class ConstantPredictor(torch.nn.Module):
    """Outputs ``value`` (network units) at 1/``scale`` of its input."""

    def __init__(self, value, scale=4):
        super().__init__()
        self.value, self.scale = value, scale

    def forward(self, x):
        return torch.full((1, 1, x.shape[-2] // self.scale, x.shape[-1] // self.scale), self.value)


def tiny_prior(seed=0):
    torch.manual_seed(seed)
    prior = DiffusionUNet(channels=1, base_channels=8, channel_mults=(1, 2))
    torch.nn.init.normal_(prior.out_conv.weight, std=0.05)  # zero-initialised otherwise
    return prior.eval()


def tiny_reduced(seed=0):
    torch.manual_seed(seed)
    return ReducedUNet(3, 1, base_channels=4).eval()


@pytest.fixture()
def pipe():
    return DiffPRPipeline(Counting(tiny_reduced()), PRED_CFG, modality="rgb",
                          prior=Counting(tiny_prior()), prior_config=PRIOR_CFG, names=("tiny-reduced", "tiny-prior"))


def test_stage1_is_quarter_scale_and_the_result_full_size_radians(pipe):
    frame = rgb_frame()
    s1, cached = pipe.stage1(frame)
    assert not cached and s1.scale == 4
    padded = (math.ceil(H / 16) * 16, math.ceil(W / 16) * 16)
    assert tuple(s1.phase_rad.shape) == (1, 1, padded[0] // 4, padded[1] // 4)
    assert tuple(s1.upsampled_rad.shape) == (1, 1) + padded
    (phase, meta), events = drain(pipe.run(frame, t_corrupt=50, sampler="dpm++", steps=3, seed=1))
    assert phase.shape == (H, W) and phase.dtype == np.float32 and np.isfinite(phase).all()
    assert [e.stage.split(":")[0] for e in events] == ["stage 1"] + ["refinement"] * 3
    assert all(e.preview.shape == (H, W) and e.preview.dtype == np.float32 for e in events)
    assert meta["stage1_scale"] == 4 and meta["t_corrupt"] == 50 and meta["network_evaluations"] == 3
    assert "bicubic" in meta["upsampling"]


def test_vanilla_unet_stage1_is_full_scale():
    torch.manual_seed(0)
    p = DiffPRPipeline(VanillaUNet(3, 1, base_channels=4).eval(), PRED_CFG, modality="rgb")
    (phase, meta), events = drain(p.run(rgb_frame(), t_corrupt=0))
    assert meta["stage1_scale"] == 1 and phase.shape == (H, W) and len(events) == 1


def test_outputs_are_radians_through_both_phase_mappings():
    """Stage 1 in the predictor's units -> radians -> the prior's units -> radians."""
    value = 0.7                                      # predictor units
    rad = value * PRED_CFG["phase_scale_rad"]        # 2.1 rad
    target = (rad - PRIOR_CFG["phase_offset_rad"]) / PRIOR_CFG["phase_scale_rad"]   # prior units
    prior = GaussianPrior(target)
    p = DiffPRPipeline(ConstantPredictor(value), PRED_CFG, modality="rgb", prior=prior, prior_config=PRIOR_CFG)
    (phase0, _), _ = drain(p.run(rgb_frame(), t_corrupt=0))
    np.testing.assert_allclose(phase0, rad, atol=1e-5)
    for sampler, steps in (("ddim", 10), ("dpm++", 10), ("pc", 30)):
        (phase, _), _ = drain(p.run(rgb_frame(), t_corrupt=400, sampler=sampler, steps=steps, seed=3))
        # the prior's data is rad +- 1e-3 units; a unit or offset mix-up would be off by >= 0.5 rad
        np.testing.assert_allclose(phase, rad, atol=0.02)


def test_t_corrupt_zero_returns_the_upsampled_stage1_and_skips_the_prior(pipe):
    frame = rgb_frame()
    (phase, meta), events = drain(pipe.run(frame, t_corrupt=0, sampler="pc", steps=50))
    s1, _ = pipe.stage1(frame)
    expected = torch.nn.functional.interpolate(s1.phase_rad, scale_factor=4, mode="bicubic",
                                               align_corners=False)[0, 0, :H, :W].numpy()
    np.testing.assert_allclose(phase, expected, rtol=1e-6, atol=1e-6)
    assert pipe.prior.calls == 0 and len(events) == 1 and meta["refinement"].startswith("none")


def test_refine_only_rerun_reuses_stage1_from_the_cache(pipe):
    frame = rgb_frame()
    cache: dict = {}
    (first, m1), _ = drain(pipe.run(frame, t_corrupt=30, steps=2, seed=0, cache=cache))
    assert pipe.predictor.calls == 1 and CACHE_KEY in cache and m1["stage1_cached"] is False
    for kwargs in ({"t_corrupt": 200}, {"sampler": "pc"}, {"steps": 4}, {"seed": 9}, {"t_corrupt": 0}):
        (_, meta), events = drain(pipe.run(frame, cache=cache, **{"t_corrupt": 30, "steps": 2, **kwargs}))
        assert meta["stage1_cached"] is True and "cached" in events[0].stage
    assert pipe.predictor.calls == 1
    # a different input (or background) invalidates the cache
    drain(pipe.run(rgb_frame(seed=1), t_corrupt=30, steps=2, cache=cache))
    assert pipe.predictor.calls == 2


def test_hologram_with_background_runs_and_keys_the_cache_on_the_background():
    p = DiffPRPipeline(Counting(tiny_reduced()), PRED_CFG, modality="hologram",
                       prior=tiny_prior(), prior_config=PRIOR_CFG)
    holo, bg = hologram_frame(0), hologram_frame(1)
    keep = holo.copy(), bg.copy()
    cache: dict = {}
    (phase, _), _ = drain(p.run(holo, bg, t_corrupt=20, steps=2, cache=cache))
    assert phase.shape == (H, W) and np.isfinite(phase).all()
    np.testing.assert_array_equal(holo, keep[0])
    np.testing.assert_array_equal(bg, keep[1])
    drain(p.run(holo, None, t_corrupt=20, steps=2, cache=cache))
    assert p.predictor.calls == 2


@pytest.mark.parametrize("sampler", ["pc", "ddim", "dpm++"])
def test_same_seed_same_result_different_seed_different(pipe, sampler):
    frame = rgb_frame()
    keep = frame.copy()

    def run(seed):
        return drain(pipe.run(frame, t_corrupt=300, sampler=sampler, steps=3, seed=seed))[0][0]

    a, b, c = run(4), run(4), run(5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)  # the corruption noise differs for every sampler
    np.testing.assert_array_equal(frame, keep)


def test_closing_mid_refinement_stops_the_prior(pipe):
    gen = pipe.run(rgb_frame(), t_corrupt=500, sampler="ddim", steps=20)
    next(gen)            # stage 1
    next(gen)            # refinement step 1
    next(gen)            # refinement step 2
    calls = pipe.prior.calls
    gen.close()
    assert calls == 2 and pipe.prior.calls == calls


def test_preview_is_the_x0_estimate_in_radians():
    value, rad = 0.5, 1.5
    target = (rad - PRIOR_CFG["phase_offset_rad"]) / PRIOR_CFG["phase_scale_rad"]
    p = DiffPRPipeline(ConstantPredictor(value), PRED_CFG, modality="rgb", prior=GaussianPrior(target),
                       prior_config=PRIOR_CFG)
    _, events = drain(p.run(rgb_frame(), t_corrupt=300, sampler="dpm++", steps=5))
    # with the exact prior every x0 estimate is already close to the data (in radians)
    for e in events:
        assert abs(float(np.median(e.preview)) - rad) < 0.05


def test_parameter_errors(pipe):
    with pytest.raises(ParameterError, match="sampler"):
        next(pipe.run(rgb_frame(), t_corrupt=10, sampler="euler"))
    with pytest.raises(ParameterError, match="t_corrupt"):
        next(pipe.run(rgb_frame(), t_corrupt=1000))
    with pytest.raises(ParameterError, match="steps"):
        next(pipe.run(rgb_frame(), t_corrupt=10, steps=0))
    no_prior = DiffPRPipeline(tiny_reduced(), PRED_CFG, modality="rgb")
    with pytest.raises(ParameterError, match="prior"):
        next(no_prior.run(rgb_frame(), t_corrupt=10))


def test_upsample_is_bicubic_x4():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    up = upsample(x, 4)
    assert up.shape == (1, 1, 16, 16)
    assert torch.allclose(up, torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic",
                                                              align_corners=False))
    assert upsample(x, 1) is x


def test_prepare_input_contract_used_by_the_pipeline():
    x, crop = inputs.prepare_input(rgb_frame(), "rgb", None, PRED_CFG)
    assert x.shape[-2] % 16 == 0 and x.shape[-1] % 16 == 0
    assert inputs.crop_output(x, crop).shape[-2:] == (H, W)


def test_pc_snr_reaches_the_corrector(pipe):
    frame = rgb_frame()
    cache: dict = {}
    (_, meta), _ = drain(pipe.run(frame, t_corrupt=100, sampler="pc", steps=3, pc_snr=0.0, cache=cache))
    assert pipe.prior.calls == 3 and meta["pc_snr"] == 0.0       # predictor only
    assert meta["network_evaluations"] == 3
    drain(pipe.run(frame, t_corrupt=100, sampler="pc", steps=3, cache=cache))
    assert pipe.prior.calls == 3 + 6                             # corrector + predictor per step


def test_metadata_warns_above_the_priors_training_range():
    cfg = dict(PRIOR_CFG, t_max_train=300)
    p = DiffPRPipeline(tiny_reduced(), PRED_CFG, modality="rgb", prior=tiny_prior(), prior_config=cfg)
    (_, low), _ = drain(p.run(rgb_frame(), t_corrupt=200, steps=1))
    (_, high), _ = drain(p.run(rgb_frame(), t_corrupt=400, steps=1))
    assert "warning" not in low and "t < 300" in high["warning"]


# --- physics-anchored stage 1, guidance, samples (issue 7) ------------------------------------
ANCHORED_CFG = {"phase_scale_rad": 3.0, "phase_offset_rad": 0.0, "input": inputs.HOLOGRAM_INPUT_UNWRAPPED}


def noisy_hologram(noise, seed=0, peak=1.5):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:H, :W]
    phase = peak * np.exp(-((y - 20) ** 2 + (x - 26) ** 2) / 60.0)
    holo = 1 + 0.8 * np.cos(2 * np.pi * (0.22 * x + 0.13 * y) + phase) + noise * rng.standard_normal((H, W))
    return holo.astype(np.float32), phase


def anchored_pipe(prior=None):
    torch.manual_seed(0)
    pred = ReducedUNet(4, 1, base_channels=4, residual_channel=3).eval()
    return DiffPRPipeline(pred, ANCHORED_CFG, modality="hologram", prior=prior or tiny_prior(),
                          prior_config=PRIOR_CFG, names=("anchored", "tiny-prior"))


def test_untrained_anchored_stage1_is_the_pooled_unwrapped_fourier_phase():
    holo, phase = noisy_hologram(0.01)
    s1, _ = anchored_pipe().stage1(holo)
    m = s1.measurement
    assert set(m) >= {"field", "unwrapped", "radius", "phase_noise"} and m["unwrapped"].shape == (1, H, W)
    x, _ = inputs.prepare_input(holo, "hologram", None, ANCHORED_CFG)
    torch.testing.assert_close(s1.phase_rad, inputs.network_to_phase(F.avg_pool2d(x[:, 3:4], 4), ANCHORED_CFG))
    # and that phase is right in radians: the bump's peak within 10 %
    assert abs(float(m["unwrapped"][0, 20, 26]) - 1.5) < 0.15


def test_input_representation_mismatch_is_a_clear_error():
    holo, _ = noisy_hologram(0.01)
    old = DiffPRPipeline(ReducedUNet(3, 1, base_channels=4).eval(),
                         {**ANCHORED_CFG, "model_kwargs": {"in_channels": 3}}, modality="hologram")
    with pytest.raises(Exception, match="mismatch"):
        old.stage1(holo)
    with pytest.raises(Exception, match="does not know"):
        inputs.prepare_input(holo, "hologram", None, {"input": "raw fringes"})


def test_guidance_zero_is_the_unguided_algorithm_and_seeds_are_reproducible():
    holo, _ = noisy_hologram(0.05)
    pipe = anchored_pipe()
    base = drain(pipe.run(holo, t_corrupt=50, steps=3, seed=4))[0][0]
    zero = drain(pipe.run(holo, t_corrupt=50, steps=3, seed=4, guidance=0.0))[0][0]
    np.testing.assert_array_equal(base, zero)
    a = drain(pipe.run(holo, t_corrupt=50, steps=3, seed=4, guidance=2.0, samples=3))[0]
    b = drain(pipe.run(holo, t_corrupt=50, steps=3, seed=4, guidance=2.0, samples=3))[0]
    c = drain(pipe.run(holo, t_corrupt=50, steps=3, seed=5, guidance=2.0, samples=3))[0]
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[0], base)
    assert a[1]["guidance"] == 2.0 and a[1]["samples"] == 3 and a[1]["network_evaluations"] == 9


def test_samples_std_is_finite_and_shrinks_where_the_measurement_is_strong():
    """Exact Gaussian prior (i.i.d. pixels, std 0.3 network units): the samples' spread inside
    the demodulation band shrinks when the measurement is clean and guided and stays where the
    measurement is noisy; outside the band (where only the prior speaks) a guided result keeps
    nothing, so the spread there vanishes too."""
    pipe = anchored_pipe(prior=GaussianPrior(0.0, s=0.3))

    def spread(noise, guidance):
        holo, _ = noisy_hologram(noise)
        bg, _ = noisy_hologram(noise, seed=1, peak=0.0)   # with a background: the whole band is guided
        extras = {}
        phase, meta = drain(pipe.run(holo, bg, t_corrupt=300, steps=5, seed=1, samples=6, guidance=guidance,
                                     extras=extras))[0]
        u = extras["uncertainty"]
        assert u.shape == phase.shape == (H, W) and u.dtype == np.float32 and np.isfinite(u).all() and u.mean() > 0
        assert extras["residual"].shape == (H, W) and np.isfinite(extras["residual"]).all()
        dev = torch.from_numpy(extras["samples"] - phase[None])
        band = inputs.band_filter((H, W), meta["guidance_band_cycles_per_px"]) > 0.5 if guidance else \
            inputs.band_filter((H, W), float(pipe.stage1(holo, bg)[0].measurement["radius"][0])) > 0.5
        power = torch.fft.fft2(dev).abs().pow(2).mean(dim=0)
        return float(power[band].mean()), float(power[~band].mean()), float(u.mean())

    free_in, free_out, free_std = spread(0.01, 0.0)
    strong_in, strong_out, strong_std = spread(0.01, 10.0)
    weak_in, _, _ = spread(1.0, 10.0)
    assert strong_in < 0.1 * free_in                   # a clean measurement pins the in-band content
    assert strong_in < 0.25 * weak_in                  # a noisy one pins it far less
    assert strong_out < 0.05 * free_out                # guided: nothing kept beyond the band
    assert strong_std < free_std                       # so the per-pixel std shrinks overall


def test_guided_result_keeps_only_the_measured_band():
    """Beyond the demodulation band the measurement says nothing: the guided result has (almost)
    no power there, the unguided one (the paper's Algorithm 1) keeps what the prior made up."""
    pipe = anchored_pipe(prior=GaussianPrior(0.0, s=0.3))
    holo, _ = noisy_hologram(0.05)

    def outside(guidance):
        phase, meta = drain(pipe.run(holo, t_corrupt=300, steps=4, seed=2, guidance=guidance))[0]
        radius = float(pipe.stage1(holo)[0].measurement["radius"][0])
        win = torch.hann_window(H, periodic=False)[:, None] * torch.hann_window(W, periodic=False)[None, :]
        spec = torch.fft.fft2(torch.from_numpy(phase - phase.mean()) * win).abs().pow(2)   # no edge leakage
        return float(spec[inputs.band_filter((H, W), radius) == 0].sum() / spec.sum()), meta

    free, free_meta = outside(0.0)
    guided, meta = outside(3.0)
    assert free > 0.3 and guided < 0.02 * free
    assert meta["band_limit_cycles_per_px"] > 0 and "band_limit_cycles_per_px" not in free_meta


def test_band_limit_passes_the_band_with_less_edge_ringing_than_a_plain_fft():
    y, x = np.mgrid[:40, :56]
    # a ramp (not periodic: a plain FFT low-pass rings at the top and bottom edges) and a cell
    slow = torch.from_numpy((0.5 * y / 40 + np.exp(-((y - 20) ** 2 + (x - 30) ** 2) / 50.0)).astype(np.float32))
    fast = torch.from_numpy((0.2 * np.cos(2 * np.pi * 0.4 * x + 1.0)).astype(np.float32))
    out = inputs.band_limit((slow + fast)[None, None], 0.2)[0, 0]
    plain = torch.fft.ifft2(torch.fft.fft2(slow + fast) * inputs.band_filter((40, 56), 0.2)).real
    # measured: max error 0.062 (mirrored) vs 0.202 (plain); inside 5 px of the edges 0.009 vs 0.030
    assert float((out - slow).abs().max()) < 0.5 * float((plain - slow).abs().max())
    assert float((out - slow)[5:-5, 5:-5].abs().max()) < 0.02



def test_rgb_pipeline_ignores_guidance_with_a_note(pipe):
    phase, meta = drain(pipe.run(rgb_frame(), t_corrupt=20, steps=2, guidance=1.0))[0]
    assert "guidance_note" in meta and phase.shape == (H, W)


def test_samples_in_chunks_give_the_same_result(monkeypatch):
    import napari_diffpr.models.pipeline as P

    holo, _ = noisy_hologram(0.05)
    pipe = anchored_pipe()
    run = lambda: drain(pipe.run(holo, t_corrupt=50, steps=2, seed=3, guidance=3.0, samples=3,  # noqa: E731
                                 sampler="ddim", extras={}))
    (whole, _), _ = run()
    monkeypatch.setattr(P, "SAMPLE_PIXELS", 1)       # one sample per sampler batch
    (chunked, _), events = run()
    np.testing.assert_allclose(chunked, whole, atol=1e-5, rtol=0)
    assert events[-1].step == events[-1].total == 6 and "samples 3-3 of 3" in events[-1].stage


class Scaled(torch.nn.Module):
    """A miscalibrated stage 1: ``inner``'s output times ``k`` (network units, offset 0)."""

    def __init__(self, inner, k):
        super().__init__()
        self.inner, self.k = inner, k

    def forward(self, x):
        return self.inner(x) * self.k


def test_network_alone_is_calibrated_by_the_measured_band():
    """The U-Net methods (no prior, t_corrupt 0): with guidance the result takes its in-band
    scale from the measurement, so a stage 1 that is 30 % low comes out with the measured scale;
    guidance 0 is the network alone."""
    holo, phase = noisy_hologram(0.02)
    torch.manual_seed(0)
    pred = Scaled(ReducedUNet(4, 1, base_channels=4, residual_channel=3).eval(), 0.7)
    pipe = DiffPRPipeline(pred, ANCHORED_CFG, modality="hologram", names=("scaled", None))
    inner = (slice(12, 28), slice(18, 34))   # the bump, away from the borders

    def slope(guidance):
        out, meta = drain(pipe.run(holo, t_corrupt=0, guidance=guidance))[0]
        est = out - np.median(out)
        return float((est[inner] * phase[inner]).sum() / (phase[inner] ** 2).sum()), meta

    raw, raw_meta = slope(0.0)
    fused, meta = slope(1.0)
    measured, _ = slope(1e3)          # trust the measurement alone: Fourier filtering's scale
    assert raw < 0.75 * measured and abs(fused / measured - 1) < 0.02
    assert "fused with the measured band" in meta["refinement"] and meta["band_limit_cycles_per_px"] > 0
    assert "band_limit_cycles_per_px" not in raw_meta


def test_with_a_background_one_scale_fit_matches_fourier_filtering_at_high_noise(monkeypatch):
    """At high noise the per-frequency Wiener step keeps most of a stage 1 that is 15 % low; the
    scale fit over the whole band (background hologram given) brings it to Fourier filtering's
    scale, and the metadata says what it applied."""
    import napari_diffpr as nd
    import napari_diffpr.models.pipeline as P

    holo, phase = noisy_hologram(0.1)
    y, x = np.mgrid[:H, :W]
    bg = (1 + 0.8 * np.cos(2 * np.pi * (0.22 * x + 0.13 * y))
          + 0.1 * np.random.default_rng(5).standard_normal((H, W))).astype(np.float32)
    inner = (slice(12, 28), slice(18, 34))

    def slope(out):
        est = out - np.median(out)
        return float((est[inner] * phase[inner]).sum() / (phase[inner] ** 2).sum())

    fourier = slope(nd.reconstruct(holo, "fourier", background=bg).phase)
    torch.manual_seed(0)
    pred = Scaled(ReducedUNet(4, 1, base_channels=4, residual_channel=3).eval(), 0.85)
    pipe = DiffPRPipeline(pred, ANCHORED_CFG, modality="hologram", names=("scaled", None))
    (fitted, meta), _ = drain(pipe.run(holo, bg, t_corrupt=0, guidance=1.0))
    assert abs(slope(fitted) / fourier - 1) < 0.02
    assert meta["stage1_scale_fit"]["applied"] and 1.1 < meta["stage1_scale_fit"]["scale"] < 1.25
    monkeypatch.setattr(P, "SCALE_FIT_RANGE", (1.0, 1.0))   # no fit: the Wiener step alone
    (wiener_only, meta), _ = drain(pipe.run(holo, bg, t_corrupt=0, guidance=1.0))
    assert slope(wiener_only) / fourier < 0.95 and not meta["stage1_scale_fit"]["applied"]


def test_large_frames_run_the_prior_on_windows_with_the_same_result(monkeypatch):
    import napari_diffpr.models.chunking as C

    holo, _ = noisy_hologram(0.05)
    prior = GaussianPrior(torch.tensor(0.0), s=1.0)   # pixel by pixel: windows change nothing
    pipe = anchored_pipe(prior)
    run = lambda: drain(pipe.run(holo, t_corrupt=50, steps=2, seed=3, guidance=1.0, sampler="ddim"))  # noqa: E731
    (whole, _), _ = run()
    assert prior.calls == 2
    monkeypatch.setattr(C, "CHUNK_PIXELS", 16 * 16)    # the padded 48 x 64 frame on 16² windows
    (windowed, _), _ = run()
    windows = len(C.window_plan(48, 16, 4, 1)) * len(C.window_plan(64, 16, 4, 1))
    assert windows == 20 and prior.calls == 2 + 2 * windows
    np.testing.assert_allclose(windowed, whole, atol=1e-5, rtol=0)


def test_tiled_prediction_blends_without_seams():
    from napari_diffpr.models.pipeline import tiled_predict

    torch.manual_seed(0)
    pointwise = torch.nn.Sequential(torch.nn.Conv2d(4, 1, 1), torch.nn.AvgPool2d(4))   # no context: exact
    x = torch.randn(1, 4, 80, 112)
    torch.testing.assert_close(tiled_predict(pointwise, x, 32, 8), pointwise(x), atol=1e-5, rtol=0)


class Oracle(torch.nn.Module):
    """A perfect stage 1: the given aberration-free phase (radians -> ANCHORED_CFG units), full scale."""

    def __init__(self, phase):
        super().__init__()
        self.phase = torch.from_numpy((phase / ANCHORED_CFG["phase_scale_rad"]).astype(np.float32))[None, None]

    def forward(self, x):
        return self.phase


def test_without_a_background_the_measurements_aberration_is_removed_before_the_fusion():
    """Without a background hologram the measured phase holds the setup's aberration, stage 1 does
    not; fused as they were, the result held a mixture that the final poly2 fit could not remove.
    With the aberration fitted and divided out of the measured field first, a perfect stage 1
    stays perfect; the metadata records the fitted surface."""
    n = 96
    y, x = np.mgrid[:n, :n] / n - 0.5
    phase = 1.5 * np.exp(-(y ** 2 + x ** 2) / 0.01)
    aberration = 3.0 * (x ** 2 + y ** 2) + 2.0 * x * y + 1.0 * x      # defocus, astigmatism, tilt
    yy, xx = np.mgrid[:n, :n]
    holo = (1 + 0.8 * np.cos(2 * np.pi * (0.22 * xx + 0.13 * yy) + phase + aberration)
            + 0.05 * np.random.default_rng(0).standard_normal((n, n))).astype(np.float32)
    pipe = DiffPRPipeline(Oracle(phase), ANCHORED_CFG, modality="hologram", names=("oracle", None))

    def rms_error(out):
        e = out - phase
        return float(np.sqrt(np.mean((e - np.median(e)) ** 2)))

    (out, meta), _ = drain(pipe.run(holo, t_corrupt=0, guidance=1.0))
    fit = meta["measurement_aberration_fit"]
    assert 2.0 < fit["peak_to_valley_rad"] < 2.6          # the aberration's 2.5 rad (tilt partly demodulated)
    pipe._aberration_removed = lambda s1: (s1, None)      # the fusion as it was
    (mixed, _), _ = drain(pipe.run(holo, t_corrupt=0, guidance=1.0))
    assert rms_error(out) < 0.02 and rms_error(out) < 0.25 * rms_error(mixed), (rms_error(out), rms_error(mixed))
