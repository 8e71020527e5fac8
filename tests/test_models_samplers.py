"""VP schedule and reverse-diffusion samplers against closed-form oracles (no training).

For Gaussian data x0 ~ N(mu, s^2) per pixel the marginal at level t is N(alpha mu, alpha^2 s^2 +
sigma^2) and the optimal noise prediction is eps*(x, t) = sigma (x - alpha mu) / (alpha^2 s^2 +
sigma^2). A correct sampler fed eps* and started from that marginal returns N(mu, s^2).
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from napari_diffpr.models.samplers import (SAMPLERS, get_sampler, network_evaluations,  # noqa: E402
                                           sample_ddim, sample_dpmpp_2m, sample_pc, time_grid)
from napari_diffpr.models.schedule import VPSchedule  # noqa: E402
from conftest import drain  # noqa: E402

MU, S = 0.4, 0.25          # data mean and std in network units
SIDE = 128                 # n = 16,384 i.i.d. pixels per run
N = SIDE * SIDE
SE_MEAN = S / math.sqrt(N)             # standard error of a sample mean (~0.002)
SE_STD_REL = 1 / math.sqrt(2 * N)      # relative standard error of a sample std (~0.55 %)

# Steps and the discretisation bias each sampler is allowed: measured once with this oracle on
# 512 x 512 pixels (worst case over t_start in {50, 300, 999}, relative error of the std; the
# mean was within 0.001 everywhere): ddim at 200 steps -2.6 % (first order), dpm++ at 20
# steps +1.3 %, pc at 100 steps +3.0 % (the paper's setting; the Langevin corrector at snr 0.16
# over-disperses slightly). The start samples have exactly the marginal's mean and std (see
# marginal_sample), so ddim and dpm++, affine maps here, add no sampling error; pc draws fresh
# noise, so it also gets 5 standard errors.
CASES = {"ddim": (200, 0.03), "dpm++": (20, 0.015), "pc": (100, 0.035)}


@pytest.fixture(scope="module")
def sched():
    return VPSchedule()


def oracle(sched, mu=MU, s=S):
    def eps_fn(x, t):
        a = sched.alpha(t.double()).to(x.dtype).view(-1, 1, 1, 1)
        sg = sched.sigma(t.double()).to(x.dtype).view(-1, 1, 1, 1)
        return sg * (x - a * mu) / (a * a * s * s + sg * sg)
    return eps_fn


def marginal_sample(sched, t, seed, side=SIDE):
    """x_t from the true marginal N(alpha mu, alpha^2 s^2 + sigma^2), its standard-normal draws
    standardised so the sample has exactly the marginal's mean and std."""
    z = torch.randn(1, 1, side, side, generator=torch.Generator().manual_seed(seed))
    z = (z - z.mean()) / z.std()
    a, s, _ = sched.coefficients(t)
    return a * MU + math.sqrt(a * a * S * S + s * s) * z


# --- schedule -----------------------------------------------------------------------------
def test_schedule_matches_discrete_ddpm_at_integer_steps(sched):
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    acp = torch.cumprod(1 - betas, 0)
    t = torch.tensor([0, 1, 10, 250, 500, 999], dtype=torch.float64)
    idx = t.long()
    assert torch.allclose(sched.alpha(t), acp[idx].sqrt(), rtol=1e-12)
    assert torch.allclose(sched.sigma(t), (1 - acp[idx]).sqrt(), rtol=1e-10)
    assert torch.allclose(sched.log_snr(t), torch.log(acp[idx] / (1 - acp[idx])), rtol=1e-9)


def test_schedule_is_continuous_monotone_and_variance_preserving(sched):
    t = torch.linspace(0, 999, 9991, dtype=torch.float64)
    a, s = sched.alpha(t), sched.sigma(t)
    assert torch.allclose(a * a + s * s, torch.ones_like(a), atol=1e-12)
    lam = sched.log_snr(t)
    assert (lam[1:] < lam[:-1]).all()
    # between integer steps the value lies between its neighbours (no jumps)
    mid = sched.alpha(torch.tensor([300.5], dtype=torch.float64))
    lo, hi = sched.alpha(torch.tensor([301.0, 300.0], dtype=torch.float64))
    assert lo < mid < hi


def test_t_from_log_snr_inverts_log_snr(sched):
    t = torch.linspace(0, 999, 5000, dtype=torch.float64)
    assert torch.allclose(sched.t_from_log_snr(sched.log_snr(t)), t, atol=1e-8)
    # outside the schedule's range it clamps to the ends
    assert sched.t_from_log_snr(torch.tensor([50.0, -50.0])).tolist() == [0.0, 999.0]


def test_add_noise_uses_per_item_levels_and_keeps_dtype(sched):
    x0 = torch.full((2, 1, 3, 3), 2.0)
    noise = torch.ones_like(x0)
    out = sched.add_noise(x0, torch.tensor([0, 999]), noise)
    assert out.dtype == torch.float32 and out.shape == x0.shape
    for i, t in enumerate((0, 999)):
        a, s, _ = sched.coefficients(t)
        assert torch.allclose(out[i], torch.full_like(out[i], 2 * a + s))
    assert (x0 == 2.0).all()  # input untouched


def test_add_noise_broadcasts_a_single_timestep_and_rejects_mismatched_batches(sched):
    x0 = torch.zeros(3, 1, 2, 2)
    out = sched.add_noise(x0, torch.tensor([500]), torch.ones_like(x0))
    assert torch.allclose(out, sched.sigma(torch.tensor(500.0)).float().expand_as(out))
    with pytest.raises(ValueError, match="timesteps for a batch"):
        sched.add_noise(x0, torch.tensor([1, 2]), torch.ones_like(x0))


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_timesteps"):
        VPSchedule(num_timesteps=1)
    with pytest.raises(ValueError, match="beta"):
        VPSchedule(beta_start=0.1, beta_end=0.01)


# --- samplers against the oracle --------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("t_start", [50, 300, 999])
def test_sampler_recovers_gaussian_data_distribution(sched, name, t_start):
    steps, bias = CASES[name]
    x_t = marginal_sample(sched, t_start, seed=t_start)
    gen = torch.Generator().manual_seed(1)
    out, events = drain(get_sampler(name)(oracle(sched), sched, x_t, t_start, steps, generator=gen))
    assert out.shape == x_t.shape and torch.isfinite(out).all()
    assert len(events) == steps and [e[0] for e in events] == list(range(1, steps + 1))
    stochastic = name == "pc"
    assert abs(out.mean().item() - MU) < (5 * SE_MEAN if stochastic else 0) + 0.002
    assert abs(out.std().item() / S - 1) < (5 * SE_STD_REL if stochastic else 0) + bias
    # x_t itself is far off at these levels, so passing is not trivial
    assert abs(x_t.std().item() / S - 1) > 0.1 or abs(x_t.mean().item() - MU) > 0.01


@pytest.mark.parametrize("t_start", [300, 999])
def test_pc_predictor_alone_converges_to_the_data_distribution(sched, t_start):
    """The reverse-diffusion predictor without the corrector (snr=0), which otherwise masks
    predictor errors: at 400 steps its own bias is +0.5 % (t=300) and +1.4 % (t=999) in std
    (measured on 512 x 512 pixels), so 1.5 % plus 5 standard errors of 36,864 pixels."""
    x_t = marginal_sample(sched, t_start, seed=11, side=192)
    gen = torch.Generator().manual_seed(5)
    out, _ = drain(sample_pc(oracle(sched), sched, x_t, t_start, 400, generator=gen, snr=0.0))
    n = x_t.numel()
    assert abs(out.mean().item() - MU) < 5 * S / math.sqrt(n) + 0.002
    assert abs(out.std().item() / S - 1) < 5 / math.sqrt(2 * n) + 0.015


@pytest.mark.parametrize("sampler", [sample_ddim, sample_dpmpp_2m])
def test_ode_samplers_follow_the_exact_flow(sched, sampler):
    """For Gaussian data the probability-flow ODE keeps z = (x - alpha mu) / sqrt(alpha^2 s^2 +
    sigma^2) fixed, so each sample has an exact destination; dpm++ (2nd order) needs far fewer
    steps than ddim (1st order) to get there."""
    t0 = 300
    x_t = marginal_sample(sched, t0, seed=7, side=64).double()
    a, s, _ = sched.coefficients(t0)
    exact = MU + S * (x_t - a * MU) / math.sqrt(a * a * S * S + s * s)
    errors = {}
    for steps in (10, 40):
        out, _ = drain(sampler(oracle(sched), sched, x_t, t0, steps))
        errors[steps] = (out - exact).abs().max().item()
    if sampler is sample_dpmpp_2m:
        assert errors[10] < 0.02 and errors[40] < 0.002
    else:
        assert errors[40] < errors[10] / 3 and errors[40] < 0.05


def test_no_clamping_to_unit_range(sched):
    # data far outside [-1, 1] (a 6-radian cell at 3 rad per unit is 2 units)
    mu = 2.0
    x0 = torch.full((1, 1, 8, 8), mu)
    x_t = sched.add_noise(x0, torch.tensor([100]), torch.zeros_like(x0))
    for name in SAMPLERS:
        out, events = drain(get_sampler(name)(oracle(sched, mu=mu, s=0.01), sched, x_t, 100, 5,
                                              generator=torch.Generator().manual_seed(0)))
        assert out.mean().item() == pytest.approx(mu, abs=0.05)
        assert max(e[2].max().item() for e in events) > 1.5


# --- t_start semantics ---------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("t_start, steps", [(300, 10), (37, 4), (999, 3), (5, 20)])
def test_first_evaluation_is_exactly_at_t_start_and_grid_ends_at_zero(sched, name, t_start, steps):
    calls = []

    def eps_fn(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    x = torch.randn(2, 1, 8, 8)
    drain(get_sampler(name)(eps_fn, sched, x, t_start, steps, generator=torch.Generator().manual_seed(0)))
    assert calls[0] == float(t_start)
    assert calls[-1] == 0.0
    assert len(calls) == network_evaluations(name, steps)
    assert all(b <= a for a, b in zip(calls, calls[1:]))


@pytest.mark.parametrize("t_start", [10, 500, 999])
def test_one_step_is_tweedie_denoising_at_exactly_alpha_sigma_of_t_start(sched, t_start):
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eps_fn = oracle(sched)
    a, s, _ = sched.coefficients(t_start)
    expected = (x - s * eps_fn(x, torch.tensor([float(t_start)]))) / a
    for sampler in (sample_ddim, sample_dpmpp_2m):
        out, events = drain(sampler(eps_fn, sched, x, t_start, 1))
        assert torch.allclose(out, expected, atol=1e-10)
        assert torch.allclose(events[0][2], expected, atol=1e-10)


def test_steps_do_not_change_the_starting_level(sched):
    """The diffusers `strength` trap: the level must not depend on how many steps follow."""
    firsts = set()
    for steps in (1, 2, 7, 50):
        seen = []
        drain(sample_dpmpp_2m(lambda x, t: (seen.append(float(t[0])), torch.zeros_like(x))[1],
                              sched, torch.zeros(1, 1, 4, 4), 420, steps))
        firsts.add(seen[0])
    assert firsts == {420.0}


def test_time_grids(sched):
    g = time_grid(sched, 999, 10, "logsnr")
    assert g[0] == 999.0 and g[-1] == 0.0 and len(g) == 10
    lam = sched.log_snr(torch.tensor(g, dtype=torch.float64))
    gaps = lam[1:] - lam[:-1]
    assert torch.allclose(gaps, gaps.mean().expand_as(gaps), rtol=1e-6)
    assert time_grid(sched, 300, 4, "time") == [300.0, 200.0, 100.0, 0.0]
    assert time_grid(sched, 300, 1, "time") == [300.0]


# --- determinism, input safety, cancel, errors --------------------------------------------------
@pytest.mark.parametrize("name", SAMPLERS)
def test_same_seed_same_output_different_seed_different(sched, name):
    x = marginal_sample(sched, 200, seed=0, side=16)
    keep = x.clone()

    def run(seed):
        return drain(get_sampler(name)(oracle(sched), sched, x, 200, 6,
                                       generator=torch.Generator().manual_seed(seed)))[0]

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert torch.equal(x, keep)  # x_start not modified
    if name == "pc":
        assert not torch.allclose(a, c)
    else:  # deterministic ODE samplers ignore the generator
        assert torch.equal(a, c)


@pytest.mark.parametrize("name", SAMPLERS)
def test_closing_the_generator_stops_within_one_step(sched, name):
    calls = []

    def eps_fn(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    gen = get_sampler(name)(eps_fn, sched, torch.randn(1, 1, 8, 8), 999, 50,
                            generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        next(gen)
    n = len(calls)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)
    assert len(calls) == n == 3 * network_evaluations(name, 1)


def test_sampler_arguments_are_checked(sched):
    x = torch.zeros(1, 1, 4, 4)
    eps = oracle(sched)
    with pytest.raises(ValueError, match="t_start"):
        next(sample_ddim(eps, sched, x, 1000, 5))
    with pytest.raises(ValueError, match="t_start"):
        next(sample_ddim(eps, sched, x, 0.5, 5))
    with pytest.raises(ValueError, match="steps"):
        next(sample_pc(eps, sched, x, 10, 0))
    with pytest.raises(TypeError, match="x_start"):
        next(sample_dpmpp_2m(eps, sched, torch.zeros(1, 1, 4, 4, dtype=torch.int64), 10, 5))
    with pytest.raises(ValueError, match="sampler must be one of"):
        get_sampler("euler")


def test_t_start_zero_is_a_single_denoising_step(sched):
    x = torch.randn(1, 1, 8, 8)
    for name in SAMPLERS:
        out, events = drain(get_sampler(name)(oracle(sched), sched, x, 0, 25,
                                              generator=torch.Generator().manual_seed(0)))
        assert len(events) == 1 and torch.isfinite(out).all()


# --- a multi-scale Gaussian prior (Gaussian random field, exact eps per Fourier mode) -------------
def _grf(side=64, seed=0):
    ky = torch.fft.fftfreq(side, dtype=torch.float64)[:, None]
    kx = torch.fft.fftfreq(side, dtype=torch.float64)[None, :]
    p = (0.02 ** 2 + ky ** 2 + kx ** 2) ** -2.0       # mode variances spanning ~6 decades
    p = p * (0.25 * side * side / p.sum())

    def eps_fn(x, t, sched=VPSchedule()):
        a = sched.alpha(t.double()).view(-1, 1, 1, 1)
        s = sched.sigma(t.double()).view(-1, 1, 1, 1)
        return torch.fft.ifft2(s * torch.fft.fft2(x, norm="ortho") / (a * a * p + s * s), norm="ortho").real
    return p, eps_fn


@pytest.mark.parametrize("t_start", [50, 400])
def test_dpmpp_reaches_the_exact_flow_of_a_multiscale_prior_in_10_steps(sched, t_start):
    """Phase maps are multi-scale; per mode the ODE keeps x / sqrt(alpha^2 P + sigma^2), so the
    exact end point is known. dpm++ at 10 steps lands within 1 % (RMS) of it."""
    p, eps_fn = _grf()
    a, s, _ = sched.coefficients(t_start)
    white = torch.randn(4, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xk = torch.fft.fft2(white, norm="ortho")
    x_t = torch.fft.ifft2(xk * (a * a * p + s * s).sqrt(), norm="ortho").real
    exact = torch.fft.ifft2(xk * p.sqrt(), norm="ortho").real
    out, _ = drain(sample_dpmpp_2m(eps_fn, sched, x_t, t_start, 10))
    rel = ((out - exact).pow(2).mean() / exact.pow(2).mean()).sqrt().item()
    assert rel < 0.01


def test_pc_predictor_samples_the_exact_posterior_of_a_multiscale_prior(sched):
    """Without the corrector, pc at 100 steps from t=50 draws from p(x0 | x_t): the spread
    around the posterior mean matches the posterior variance. The modes' posterior variances
    differ, so 2 fields of 128^2 carry ~9,000 effective degrees of freedom: relative standard
    error 1.5 %, tolerance 4 standard errors (6 %). The score-SDE corrector at snr 0.16
    inflates the ratio ~3x here (the cost measured in benchmarks/bench_samplers.py)."""
    p, eps_fn = _grf(side=128)
    t = 50
    a, s, _ = sched.coefficients(t)
    white = torch.randn(2, 1, 128, 128, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_t = torch.fft.ifft2(torch.fft.fft2(white, norm="ortho") * (a * a * p + s * s).sqrt(), norm="ortho").real
    mean = torch.fft.ifft2(torch.fft.fft2(x_t, norm="ortho") * (a * p / (a * a * p + s * s)), norm="ortho").real
    post_var = (p * s * s / (a * a * p + s * s)).mean().item()
    out, _ = drain(sample_pc(eps_fn, sched, x_t, t, 100, generator=torch.Generator().manual_seed(2), snr=0.0))
    ratio = (out - mean).pow(2).mean().item() / post_var
    assert abs(ratio - 1) < 0.06


# --- measurement guidance ------------------------------------------------------------------
def _band(side, radius=0.15):
    fy = torch.fft.fftfreq(side)[:, None]
    fx = torch.fft.fftfreq(side)[None, :]
    return ((fy ** 2 + fx ** 2).sqrt() <= radius).to(torch.float32)


@pytest.mark.parametrize("name", ["ddim", "dpm++"])
def test_guidance_pulls_the_in_band_spectrum_onto_the_measurement(sched, name):
    """Exact Gaussian oracle (i.i.d. pixels: every Fourier mode evolves on its own). The
    measurement is the truth plus white noise; the guide moves only in-band modes, toward it,
    more with more guidance, and leaves every out-of-band mode exactly where the unguided
    sampler puts it."""
    from napari_diffpr.models.samplers import wiener_guide

    side, t_start, steps = 64, 300, 10
    g = torch.Generator().manual_seed(7)
    truth = MU + S * torch.randn(1, 1, side, side, generator=g)
    noise_var = 0.01 ** 2
    y = truth + 0.01 * torch.randn(truth.shape, generator=g)
    band = _band(side)
    x_start = marginal_sample(sched, t_start, seed=3, side=side)

    def run(guide):
        return drain(get_sampler(name)(oracle(sched), sched, x_start.clone(), t_start, steps, guide=guide))[0]

    free = run(None)
    torch.testing.assert_close(free, drain(get_sampler(name)(oracle(sched), sched, x_start.clone(), t_start, steps))[0],
                               rtol=0, atol=0)   # guide=None is the unguided sampler itself
    y_hat = torch.fft.fft2(y)
    errs = []
    for guidance in (0.01, 1.0, 100.0):
        out = run(wiener_guide(y, band, noise_var, guidance))
        spec, spec_free = torch.fft.fft2(out), torch.fft.fft2(free)
        inside = band > 0
        errs.append(float((spec - y_hat)[..., inside].abs().pow(2).mean().sqrt()))
        # out of band: untouched (to float32 round-off of the FFT pairs)
        assert torch.allclose(spec[..., ~inside], spec_free[..., ~inside], atol=1e-3 * float(spec_free.abs().max()))
    err_free = float((torch.fft.fft2(free) - y_hat)[..., band > 0].abs().pow(2).mean().sqrt())
    noise_rms = 0.01 * side   # |FFT| of white noise of std 0.01 on side^2 pixels
    assert errs[0] < err_free and errs[1] < errs[0] and errs[2] < errs[1]
    assert errs[2] < 1.5 * noise_rms < 0.2 * err_free   # strong guidance: onto the measurement, to its noise


def test_guidance_with_a_noiseless_measurement_in_every_mode_returns_it(sched):
    from napari_diffpr.models.samplers import wiener_guide

    side = 32
    y = MU + S * torch.randn(1, 1, side, side, generator=torch.Generator().manual_seed(1))
    out = drain(sample_dpmpp_2m(oracle(sched), sched, marginal_sample(sched, 200, 0, side), 200, 10,
                                guide=wiener_guide(y, torch.ones(side, side), 1e-12, 1.0)))[0]
    torch.testing.assert_close(out, y, atol=1e-4, rtol=0)


def test_guide_rejects_zero_guidance():
    from napari_diffpr.models.samplers import wiener_guide

    with pytest.raises(ValueError, match="guidance"):
        wiener_guide(torch.zeros(1, 1, 8, 8), torch.ones(8, 8), 1.0, 0.0)


def test_shell_error_variance_measures_the_estimates_error_per_frequency():
    """A smooth estimate (error only at low frequencies) against a noisy measurement: the
    floor is the estimate's error power where it errs, ~0 where it only differs by the noise."""
    from napari_diffpr.models.samplers import shell_error_variance

    side, g = 64, torch.Generator().manual_seed(3)
    truth = torch.randn(1, 1, side, side, generator=g)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    error = 0.5 * torch.cos(2 * torch.pi * 2 * xx / side)          # 2 cycles per frame
    noise_var = 0.2 ** 2
    y = truth + 0.2 * torch.randn(truth.shape, generator=g)
    band = torch.ones(side, side)
    ev = shell_error_variance(y, truth + error, band, noise_var, shells=16)
    k = (torch.fft.fftfreq(side)[:, None] ** 2 + torch.fft.fftfreq(side)[None, :] ** 2).sqrt()
    low, high = ev[(k > 0) & (k < 0.04)], ev[k > 0.2]
    assert float(low.mean()) > 20 * noise_var and float(high.mean()) < 0.3 * noise_var
    assert float(ev.min()) >= 0 and shell_error_variance(y, truth, torch.zeros(side, side), noise_var).abs().sum() == 0


def test_error_floor_trusts_the_measurement_where_the_warm_start_errs(sched):
    """A warm start with a large error at one frequency: the floored guide pulls that
    frequency onto the (noisy) measurement, the plain ΠGDM weight (r² ~ 0 at a low noise
    level) leaves the error in."""
    from napari_diffpr.models.samplers import shell_error_variance, wiener_guide

    side, t_start = 32, 10
    g = torch.Generator().manual_seed(5)
    truth = MU + S * torch.randn(1, 1, side, side, generator=g)
    xx = torch.arange(side)[None, :].expand(side, side)
    start = truth + 0.5 * torch.cos(2 * torch.pi * 3 * xx / side)
    y = truth + 0.05 * torch.randn(truth.shape, generator=g)
    band = torch.ones(side, side)
    x_t = sched.add_noise(start, torch.tensor([float(t_start)]), torch.randn(start.shape, generator=g))

    def err(guide):
        out = drain(sample_dpmpp_2m(oracle(sched), sched, x_t.clone(), t_start, 1, guide=guide))[0]
        return float((out - truth).pow(2).mean().sqrt())

    floor = shell_error_variance(y, start, band, 0.05 ** 2)
    plain, floored = err(wiener_guide(y, band, 0.05 ** 2, 1.0)), err(wiener_guide(y, band, 0.05 ** 2, 1.0, error_var=floor))
    assert floored < 0.5 * plain
