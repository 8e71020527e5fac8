"""DiffPR inference (seed 000, Algorithm 1), as a generator of progress events.

    stage 1   phi_LR = f_theta(I)                         predictor (reduced U-Net: 1/4 scale)
    Up        Up(phi_LR): bicubic x4 (torch, align_corners=False) of the radian map
    corrupt   x_t = alpha(t_corrupt) Up(phi_LR) + sigma(t_corrupt) eps   (prior's network units)
    refine    reverse diffusion from t_corrupt to clean data with "pc", "ddim" or "dpm++"
    radians   network_to_phase(x_0) with the prior's stored phase mapping, cropped to H x W

t_corrupt = 0 means no refinement: the result is Up(phi_LR) itself, or, for a hologram with
guidance > 0, Up(phi_LR) fused with the measured band and limited to it (the guide's Wiener step
at sigma = 0). The same pipeline without a prior serves the "unet" / "reduced-unet" methods.

The stage-1 result is kept in the caller's ``cache`` dict (keyed by the predictor, the device
and a fingerprint of the input), so a re-run that only changes t_corrupt / sampler / steps /
seed skips stage 1.

Randomness: the corruption noise and the pc sampler's noise come from one CPU
``torch.Generator`` seeded with ``seed`` (noise drawn on the CPU, then moved), so a seed gives
the same noise on every device.

Importing this module imports torch; the registry imports it lazily.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Generator

import numpy as np
import torch
import torch.nn.functional as F

from .. import caching
from ..errors import ParameterError
from ..result import Progress
from ..torchfft import ifft2
from . import inputs
from .chunking import chunked
from .samplers import SAMPLERS, get_sampler, network_evaluations, shell_error_variance, wiener_guide
from .schedule import VPSchedule

CACHE_KEY = "diffpr.stage1"
SCALE_FIT_RANGE = (0.8, 1.25)   # a least-squares scale outside this is not trusted (wraps, no signal)
SAMPLE_PIXELS = 4 * 512 * 512   # the most pixels (samples x H x W) one sampler batch holds
UPSAMPLING = "bicubic x4 (torch.nn.functional.interpolate, align_corners=False)"


@dataclass
class Stage1:
    """A stage-1 prediction: ``phase_rad`` (1, 1, h, w) radians at 1/``scale`` of the padded
    input, ``upsampled_rad`` (1, 1, H', W') at full padded size, ``crop`` the crop info."""

    phase_rad: torch.Tensor
    upsampled_rad: torch.Tensor
    crop: dict
    scale: int
    seconds: float
    key: tuple = field(default=())
    measurement: dict | None = None   # holograms: hologram_measurement's entries (unpadded, CPU)


def fingerprint(frame: np.ndarray, background: np.ndarray | None) -> str:
    """A hash of the input (and background): the cache is reused only for the same data."""
    return caching.fingerprint(frame, background)


def upsample(phase_rad: torch.Tensor, scale: int) -> torch.Tensor:
    """The pipeline's Up operator: bicubic interpolation by an integer ``scale``."""
    if scale == 1:
        return phase_rad
    return F.interpolate(phase_rad, scale_factor=scale, mode="bicubic", align_corners=False)


def _to_numpy(x_rad: torch.Tensor, crop: dict) -> np.ndarray:
    out = inputs.crop_output(x_rad, crop, scale=1)[0, 0]
    return out.detach().to("cpu", torch.float32).numpy().copy()


def _inference_tile(config: dict) -> int | None:
    """The physics-anchored (residual) U-Nets run on tiles of their training pool's size: their
    GroupNorm statistics over a whole 512² or 1024² frame (mostly empty background) differ from
    the training crops', which biased the whole frame by -0.3 rad at 512² (stage 1 at 16.9 dB;
    tiled: 28.2 dB against Fourier filtering's 32.5 dB).
    Measured with the shipped weights (one hologram each): the reduced U-Net alone gains
    (512²: 16.9 -> 27.0 dB; 1024²: 15.7 -> 20.9 dB), but the vanilla U-Net loses (512²: 32.4 ->
    30.4 dB) and DiffPR at 1024² loses too (1 sample: 29.5 -> 25.7 dB), so it is off unless a
    weight config sets ``inference_tile``; the real fix is training on whole frames of every size."""
    if (config.get("model_kwargs") or {}).get("residual_channel") is None:
        return None
    tile = config.get("inference_tile")
    return None if tile is None else int(tile)


def tiled_predict(net, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """``net`` on overlapping ``tile``² windows of ``x`` (1, C, H, W), blended with linear ramps
    over the overlap (no seams); the output may be at 1/s of the input for an integer s."""
    h, w = x.shape[-2:]

    def starts(n):
        if n <= tile:
            return [0]
        step = tile - overlap
        out = list(range(0, n - tile, step)) + [n - tile]
        return sorted(set(out))

    acc = norm = None
    for i in starts(h):
        for j in starts(w):
            t = min(tile, h), min(tile, w)
            y = net(x[..., i:i + t[0], j:j + t[1]])
            s = t[1] // y.shape[-1]
            if acc is None:
                acc = torch.zeros(y.shape[:2] + (h // s, w // s), device=y.device, dtype=y.dtype)
                norm = torch.zeros_like(acc[:, :1])
            ramp = max(1, overlap // s)
            wy = torch.clamp((torch.arange(y.shape[-2], device=y.device) + 0.5) / ramp, max=1.0)
            wy = torch.minimum(wy, wy.flip(0))
            wx = torch.clamp((torch.arange(y.shape[-1], device=y.device) + 0.5) / ramp, max=1.0)
            wx = torch.minimum(wx, wx.flip(0))
            wgt = (wy[:, None] * wx[None, :]).to(y.dtype)
            acc[..., i // s:i // s + y.shape[-2], j // s:j // s + y.shape[-1]] += y * wgt
            norm[..., i // s:i // s + y.shape[-2], j // s:j // s + y.shape[-1]] += wgt
    return acc / norm


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (bottom/right) so H and W are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class DiffPRPipeline:
    """Stage-1 predictor (+ optional diffusion prior) on one device.

    predictor: maps the prepared input (1, C, H', W') to a phase map in its network units,
        (1, 1, H'/s, W'/s) for an integer s (4 for the reduced U-Net, 1 for the vanilla U-Net).
    predictor_config: its weight config (input representation and phase mapping).
    prior: eps-prediction network prior(x, t) with t a float tensor (batch,) of timesteps, or
        None (then only t_corrupt = 0 is possible).
    prior_config: its weight config (phase mapping; optional ``schedule`` dict for VPSchedule).
    modality: "hologram" or "rgb".
    names: (predictor name, prior name) recorded in the metadata and the cache key.
    """

    def __init__(self, predictor: torch.nn.Module, predictor_config: dict, *, modality: str,
                 prior: torch.nn.Module | None = None, prior_config: dict | None = None,
                 device: torch.device | str = "cpu", names: tuple[str, str | None] = ("predictor", None),
                 schedule: VPSchedule | None = None):
        self.predictor = predictor
        self.predictor_config = dict(predictor_config)
        self.prior = prior
        self.prior_config = dict(prior_config or {})
        self.modality = modality
        self.device = torch.device(device)
        self.names = names
        if schedule is None:
            schedule = VPSchedule(**self.prior_config.get("schedule", {}))
        self.schedule = schedule

    # --- stage 1 -----------------------------------------------------------------------------
    def stage1(self, frame: np.ndarray, background: np.ndarray | None = None,
               cache: dict | None = None, optics: dict | None = None) -> tuple[Stage1, bool]:
        """The (cached) stage-1 prediction and whether it came from the cache. ``optics``: the
        RGB microscope for physics-normalised weights (models.rgb_inputs), part of the cache key."""
        key = (self.names[0], str(self.device), self.modality, fingerprint(frame, background),
               repr(sorted((optics or {}).items())))
        if cache is not None:
            hit = cache.get(CACHE_KEY)
            if isinstance(hit, Stage1) and hit.key == key:
                return hit, True
        t0 = time.perf_counter()
        meas: dict | None = {} if self.modality == "hologram" else None
        x, crop = inputs.prepare_input(frame, self.modality, background, self.predictor_config, measurement=meas,
                                       optics=optics)
        with torch.inference_mode():
            tile = _inference_tile(self.predictor_config)
            if tile and max(x.shape[-2:]) > tile:   # off unless the weight config asks (see there)
                pred = tiled_predict(self.predictor, x.to(self.device), tile, tile // 4)
            else:
                pred = self.predictor(x.to(self.device))
            if pred.ndim != 4 or pred.shape[:2] != (1, 1):
                raise RuntimeError(f"the predictor returned shape {tuple(pred.shape)}; expected (1, 1, h, w)")
            scale = x.shape[-1] // pred.shape[-1]
            if scale < 1 or pred.shape[-1] * scale != x.shape[-1] or pred.shape[-2] * scale != x.shape[-2]:
                raise RuntimeError(f"the predictor output {tuple(pred.shape[-2:])} is not an integer "
                                   f"fraction of its input {tuple(x.shape[-2:])}")
            phase = inputs.network_to_phase(pred.float(), self.predictor_config)
            up = upsample(phase, scale)
        result = Stage1(phase_rad=phase, upsampled_rad=up, crop=crop, scale=scale,
                        seconds=time.perf_counter() - t0, key=key, measurement=meas or None)
        if cache is not None:
            cache[CACHE_KEY] = result
        return result, False

    # --- the whole algorithm ------------------------------------------------------------------
    def run(self, frame: np.ndarray, background: np.ndarray | None = None, *, t_corrupt: int = 0,
            sampler: str = "dpm++", steps: int = 10, seed: int = 0, cache: dict | None = None,
            pc_snr: float = 0.16, guidance: float = 0.0, samples: int = 1, extras: dict | None = None,
            optics: dict | None = None) -> Generator[Progress, None, tuple[np.ndarray, dict[str, Any]]]:
        """Yield Progress events (each with a radian preview of the full H x W); return
        (phase in radians, float32 H x W; a metadata dict). ``pc_snr`` is the pc sampler's
        Langevin corrector signal-to-noise ratio (ignored by the other samplers).

        ``guidance`` (holograms, >= 0): weight of the measurement-consistency step applied to
        every x0 estimate (samplers.wiener_guide); 0 is the paper's unguided Algorithm 1.
        ``samples``: N posterior samples in one batch (independent corruption noise); the
        result is their mean. ``extras`` (a dict) receives ``uncertainty`` (the per-pixel std of
        the samples, H x W radians, and ``samples`` N x H x W, when samples > 1) and, for holograms, ``residual``
        (H x W radians: measured band phase minus the band re-synthesised from the result)."""
        if sampler not in SAMPLERS:
            raise ParameterError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
        if int(t_corrupt) != t_corrupt or not 0 <= t_corrupt <= self.schedule.t_max:
            raise ParameterError(f"t_corrupt must be an integer noise level in 0..{self.schedule.t_max}; "
                                 f"got {t_corrupt!r}")
        if t_corrupt > 0 and self.prior is None:
            raise ParameterError("t_corrupt > 0 needs a diffusion prior; this pipeline has none")
        if int(steps) != steps or steps < 1:
            raise ParameterError(f"steps must be a whole number >= 1; got {steps!r}")
        if isinstance(samples, bool) or int(samples) != samples or not 1 <= samples <= 64:
            raise ParameterError(f"samples must be a whole number 1..64; got {samples!r}")
        if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
            raise ParameterError(f"guidance must be a number >= 0; got {guidance!r}")
        t_corrupt, steps, samples, guidance = int(t_corrupt), int(steps), int(samples), float(guidance)

        s1, cached = self.stage1(frame, background, cache, optics)
        scale_fit = aberration = None
        if guidance > 0 and s1.measurement is not None:
            if s1.measurement.get("with_background"):
                s1, scale_fit = self._scaled_to_measurement(s1)
            else:
                s1, aberration = self._aberration_removed(s1)
        stage1_preview = _to_numpy(s1.upsampled_rad, s1.crop)
        yield Progress(stage=f"stage 1: {self.names[0]}" + (" (cached)" if cached else ""),
                       step=1, total=1, preview=stage1_preview,
                       message=f"1/{s1.scale}-scale prediction, upsampled {UPSAMPLING.split(' (')[0]}"
                       if s1.scale > 1 else "full-scale prediction")
        meta: dict[str, Any] = {
            "predictor": self.names[0],
            "stage1_scale": s1.scale,
            "stage1_cached": cached,
            "stage1_seconds": 0.0 if cached else s1.seconds,
            "device": str(self.device),
        }
        if self.modality == "rgb":
            from .rgb_inputs import RGB_PHYSICS_INPUT
            physics = self.predictor_config.get("input") == RGB_PHYSICS_INPUT
            meta["input"] = self.predictor_config.get("input")
            meta["optics_used"] = bool(physics)
        if s1.scale > 1:
            meta["upsampling"] = UPSAMPLING
        if s1.measurement is not None:
            meta["phase_noise_rad2"] = float(s1.measurement["phase_noise"][0])
        if scale_fit is not None:
            meta["stage1_scale_fit"] = scale_fit
        if aberration is not None:
            meta["measurement_aberration_fit"] = aberration
        # No background hologram: with guidance the measurement's aberration was fitted and
        # divided out above; the result (and stage 1 alone, guidance 0) still loses a 2nd-order
        # surface fitted to its background (retrieval's fit), as in Fourier filtering
        fit_surface = s1.measurement is not None and not s1.measurement.get("with_background", True)
        if fit_surface:
            meta["background_fit"] = "poly2 through the background (no background hologram)"
        if t_corrupt == 0:
            meta["refinement"] = "none (t_corrupt = 0)"
            if guidance > 0 and s1.measurement is not None:
                out = self._measurement_fused(s1, guidance, meta)
            else:
                out = stage1_preview.copy()   # the preview went out already; don't share it
            if fit_surface:
                out = out - self._aberration_surface(out)
            if extras is not None and s1.measurement is not None:
                extras["residual"] = band_residual(out, s1.measurement)
            return out, meta

        t0 = time.perf_counter()
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        x0 = inputs.phase_to_network(s1.upsampled_rad, self.prior_config)
        x0, (h, w) = _pad_to(x0, getattr(self.prior, "size_multiple", 1))
        if samples > 1:
            x0 = x0.expand(samples, *x0.shape[1:]).contiguous()
        noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype).to(self.device)
        x_t = self.schedule.add_noise(x0, torch.tensor([float(t_corrupt)], device=self.device), noise)

        def to_rad(x: torch.Tensor) -> torch.Tensor:
            return inputs.network_to_phase(x[..., :h, :w], self.prior_config)

        options = {"snr": float(pc_snr)} if sampler == "pc" else {}
        guide = None
        if guidance > 0 and s1.measurement is not None:
            guide, gmeta = self._guide(s1, x0.shape[-2:], guidance)
            meta.update(gmeta)
            options["guide"] = guide
        elif guidance > 0 and self.modality == "rgb" and optics is not None:
            # issue 8: the chromatic brightfield forward model with the user's optics
            from .rgb_guidance import rgb_forward_guide
            gstats: dict = {}
            options["guide"] = rgb_forward_guide(frame, optics, lambda x: to_rad(x), guidance, self.device, gstats)
            meta["guidance_measurement"] = "RGB image through the chromatic brightfield forward model"
            meta["guidance_stats"] = gstats
        elif guidance > 0:
            meta["guidance_note"] = "no measurement to guide by (RGB input without optics): unguided"
        stage = f"refinement: {sampler}, t_corrupt={t_corrupt}"
        # Samples run in chunks of at most SAMPLE_PIXELS pixels in all (memory stays bounded at
        # any size); the noise was drawn for all of them above, and every sample is processed
        # on its own by the prior, so the chunking does not change the result (pc draws its
        # own noise per chunk from the same generator, in order).
        per = max(1, min(samples, SAMPLE_PIXELS // max(1, x_t.shape[-2] * x_t.shape[-1])))
        chunks = [(i, min(samples, i + per)) for i in range(0, samples, per)]
        finals = []
        # large frames: the prior runs on overlapping windows (models.chunking), the rest whole
        eps_fn = chunked(self.prior, multiple=getattr(self.prior, "size_multiple", 1))
        for ci, (a, b) in enumerate(chunks):
            walk = get_sampler(sampler)(eps_fn, self.schedule, x_t[a:b], t_corrupt, steps, generator=gen, **options)
            try:
                while True:
                    try:
                        step, total, x0_hat = next(walk)
                    except StopIteration as stop:
                        finals.append(stop.value)
                        break
                    yield Progress(stage=stage + (f", samples {a + 1}-{b} of {samples}" if len(chunks) > 1 else ""),
                                   step=ci * total + step, total=len(chunks) * total,
                                   preview=_to_numpy(to_rad(x0_hat.mean(dim=0, keepdim=True)), s1.crop))
            finally:
                walk.close()  # a cancelled run stops the sampler at once
        x_final = finals[0] if len(finals) == 1 else torch.cat(finals)
        final_rad = to_rad(x_final)
        if guide is not None and s1.measurement is not None:
            # The measurement says nothing beyond the demodulation band (the objective's pupil
            # lies inside it), so what the prior puts there is a guess; on band-limited truth
            # those guesses cost 5-7 dB at normal light (docs/models.md), so the result keeps
            # only the band. guidance = 0 leaves the paper's Algorithm 1 untouched.
            H, W = s1.crop["height"], s1.crop["width"]
            radius = float(s1.measurement["radius"][0])
            final_rad = inputs.band_limit(final_rad[..., :H, :W], radius)
            meta["band_limit_cycles_per_px"] = radius
        phase = _to_numpy(final_rad.mean(dim=0, keepdim=True), s1.crop)
        surface = self._aberration_surface(phase) if fit_surface else None
        if surface is not None:
            phase = phase - surface
        if extras is not None:
            if samples > 1:
                extras["uncertainty"] = _to_numpy(final_rad.std(dim=0, keepdim=True), s1.crop)
                extras["samples"] = np.stack([_to_numpy(final_rad[i:i + 1], s1.crop) for i in range(samples)])
                if surface is not None:
                    extras["samples"] -= surface[None]
            if s1.measurement is not None:
                extras["residual"] = band_residual(phase, s1.measurement)
        alpha, sigma, _ = self.schedule.coefficients(t_corrupt)
        meta.update({
            "prior": self.names[1],
            "refinement": "reverse diffusion from Up(stage 1) noised to t_corrupt",
            "t_corrupt": t_corrupt,
            "alpha_t_corrupt": alpha,
            "sigma_t_corrupt": sigma,
            "sampler": sampler,
            **({"pc_snr": float(pc_snr)} if sampler == "pc" else {}),
            "steps": steps,
            "guidance": guidance,
            "samples": samples,
            "network_evaluations": samples * network_evaluations(sampler, steps, snr=float(pc_snr)),
            "seed": int(seed),
            "refine_seconds": time.perf_counter() - t0,
            "schedule": self.schedule.config(),
        })
        trained_to = self.prior_config.get("t_max_train")
        if trained_to is not None and t_corrupt > trained_to:
            meta["warning"] = (f"t_corrupt={t_corrupt} lies above the levels the prior was mostly trained on "
                               f"(t < {trained_to}); expect less reliable detail")
        return phase, meta


    @staticmethod
    def _aberration_surface(phase: np.ndarray) -> np.ndarray:
        from ..retrieval.background import fit_background

        surface, _ = fit_background(phase, 2, "auto")
        return surface.astype(np.float32)

    def _measurement_fused(self, s1: Stage1, guidance: float, meta: dict) -> np.ndarray:
        """Stage 1 made consistent with the measurement (no prior): inside the demodulation band
        its spectrum is Wiener-combined with the measured phase's (stage 1's measured error per
        frequency shell against the hologram's noise / guidance), and only that band is kept.
        The networks alone were off in phase scale by up to 25 % (docs/models.md); the
        measurement is exact in scale, so this calibrates them. H x W radians."""
        up, _ = _pad_to(s1.upsampled_rad.to("cpu", torch.float32), getattr(self.prior, "size_multiple", 1))
        guide, gmeta = self._guide(s1, up.shape[-2:], guidance)
        x0 = inputs.phase_to_network(up, self._refine_config()).to(self.device)
        fused = inputs.network_to_phase(guide(x0, 1.0, 0.0), self._refine_config())
        H, W = s1.crop["height"], s1.crop["width"]
        radius = float(s1.measurement["radius"][0])
        meta.update(gmeta)
        meta.update({"refinement": "none (t_corrupt = 0); stage 1 fused with the measured band (guidance "
                                   f"{guidance:g}) and limited to it",
                     "guidance": guidance, "band_limit_cycles_per_px": radius})
        return _to_numpy(inputs.band_limit(fused[..., :H, :W], radius), s1.crop)

    def _scaled_to_measurement(self, s1: Stage1) -> tuple[Stage1, dict]:
        """Stage 1 times the one scale factor that best explains the measured band (least
        squares of the measured phase, unwrapped against stage 1, on stage 1 limited to the
        band; both about their medians). The per-frequency Wiener step cannot fix a scale error:
        at a few photons/px each coefficient's noise outweighs its share of the error, so stage
        1 is trusted there, although the error is the same factor everywhere and the whole band
        pins it down (80 photons/px: vanilla U-Net 1.083 -> 1.022, docs/models.md). Only with a
        background hologram: without one the measured phase holds the setup's aberration, which
        biased the fit. Returns the scaled Stage1 and a record for the metadata."""
        from dataclasses import replace

        m = s1.measurement
        h, w = s1.crop["height"], s1.crop["width"]
        up = s1.upsampled_rad.to("cpu", torch.float32)
        x = up[..., :h, :w]
        wrapped = torch.angle(m["field"])[None].float()
        y = self._unwrapped_near(wrapped, x)
        xb = inputs.band_limit(x, float(m["radius"][0]))
        xc, yc = xb - xb.median(), y - y.median()
        denom = float((xc * xc).sum())
        scale = float((xc * yc).sum()) / denom if denom > 0 else float("nan")
        lo, hi = SCALE_FIT_RANGE
        if not lo <= scale <= hi:
            return s1, {"scale": scale, "applied": False, "why": f"outside {lo}..{hi}"}
        centre = x.median()
        scaled = ((up - centre) * scale + centre).to(s1.upsampled_rad)
        return replace(s1, upsampled_rad=scaled), {"scale": scale, "applied": True}

    def _aberration_removed(self, s1: Stage1) -> tuple[Stage1, dict]:
        """Without a background hologram the measured phase still holds the setup's aberration
        (tilt, defocus, astigmatism), while stage 1 was trained to give the phase without it. The
        guide then fused two different things: the aberration where the measurement is trusted,
        none where stage 1 is, a mixture the final poly2 fit cannot remove (DiffPR 31.25 dB at
        normal light against 32.42 for Fourier filtering with a poly2 background fit;
        docs/models.md, session 9). So the aberration is fitted first, as Fourier filtering's
        poly2 option does: retrieval's robust poly2 background fit of the measured phase
        (unwrapped against stage 1; the cells are its outliers), divided out of the measured
        field that the guide, the band limit and the residual map use. (Fitting the measured
        phase minus stage 1 instead let the vanilla U-Net's own low-frequency errors into the
        surface: 0.1-0.6 dB worse for it, dry mass 0.965 against 0.975 in one cell.)"""
        from dataclasses import replace

        from ..retrieval.background import fit_background

        m = s1.measurement
        h, w = s1.crop["height"], s1.crop["width"]
        x = s1.upsampled_rad.to("cpu", torch.float32)[..., :h, :w]
        y = self._unwrapped_near(torch.angle(m["field"])[None].float(), x)
        surface, _ = fit_background(y[0, 0].numpy(), 2, "auto")
        field = m["field"] * torch.exp(-1j * torch.from_numpy(surface).to(torch.float32))[None]
        return replace(s1, measurement=dict(m, field=field.to(m["field"].dtype))), {
            "surface": "poly2 through the measured phase's background (robust)",
            "peak_to_valley_rad": float(surface.max() - surface.min())}

    @staticmethod
    def _unwrapped_near(wrapped: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The measured wrapped phase moved by whole turns to lie within pi of ``reference``
        (stage 1), so the networks' unwrapping carries over to the measurement."""
        return wrapped + 2 * math.pi * torch.round((reference - wrapped) / (2 * math.pi))

    def _refine_config(self) -> dict:
        """The phase mapping of the network units the refinement works in: the prior's, or the
        predictor's where there is no prior (the U-Net methods)."""
        return self.prior_config if self.prior is not None else self.predictor_config

    def _guide(self, s1: Stage1, shape, guidance: float):
        """The measurement-consistency step for this hologram on the prior's padded grid: the
        measured wrapped phase, unwrapped against the stage-1 estimate (so the networks'
        unwrapping repairs carry over), in the prior's units; the demodulation's band; the
        estimated white phase-noise variance."""
        m = s1.measurement
        wrapped = torch.angle(m["field"])[None].float()                        # (1, 1, H, W)
        wrapped, _ = inputs.pad_to_multiple(wrapped, inputs._cfg(self.predictor_config, "size_multiple"))
        wrapped, _ = _pad_to(wrapped, getattr(self.prior, "size_multiple", 1))
        up = s1.upsampled_rad.to("cpu", torch.float32)
        up, _ = _pad_to(up, getattr(self.prior, "size_multiple", 1))
        y_rad = self._unwrapped_near(wrapped, up)
        y = inputs.phase_to_network(y_rad, self._refine_config()).to(self.device)
        radius = float(m["radius"][0])
        band = inputs.band_filter(tuple(shape), radius, self.device)
        # Without a background hologram the setup's aberration was divided out of the measured
        # field before (_aberration_removed); what a poly2 cannot describe stays in its lowest
        # frequencies, where the error floor weighs it against stage 1's own error, and the poly2
        # fit at the end removes the rest. (A high-pass that left those frequencies to stage 1
        # lost up to 14 dB once the floor was in: docs/samplers.md, "The guide's error floor".)
        scale = inputs._cfg(self._refine_config(), "phase_scale_rad")
        noise = float(m["phase_noise"][0])
        # r² floored by stage 1's measured error per frequency shell: the warm start is not
        # trusted beyond its error (samplers.shell_error_variance)
        x1 = inputs.phase_to_network(up, self._refine_config()).to(self.device)
        error_var = shell_error_variance(y, x1, band, noise / scale ** 2)
        guide = wiener_guide(y, band, noise / scale ** 2, guidance, error_var=error_var)
        return guide, {"guidance_band_cycles_per_px": radius, "guidance_measurement": "wrapped Fourier phase "
                       "unwrapped against the stage-1 estimate",
                       "guidance_error_floor": "stage 1's error per frequency shell"}


def band_residual(phase: np.ndarray, measurement: dict) -> np.ndarray:
    """Measured band minus the band re-synthesised from ``phase`` (H x W radians): the phase of
    field x conj(band-limited exp(i phase)), wrapped to (-pi, pi]. Near 0 where the result
    explains the measurement; the noise level where it only differs by noise."""
    u = measurement["field"][0].to("cpu")
    ph = torch.from_numpy(np.asarray(phase, dtype=np.float32))
    band = inputs.band_filter(tuple(ph.shape), float(measurement["radius"][0]))
    synth = ifft2(torch.fft.fft2(inputs._phasor(ph)) * band)
    return torch.angle(u * synth.conj()).numpy().astype(np.float32)


def load_pipeline(modality: str, predictor: str, device: str = "auto", with_prior: bool = True
                  ) -> DiffPRPipeline:
    """A pipeline from the shipped weights: ``predictor`` is "unet" or "reduced-unet";
    the prior is chosen per modality by models.weights.prior_name."""
    from ..device import resolve_device
    from .weights import load_model, prior_name

    dev = resolve_device(device)
    pred_name = f"{predictor}-{modality}"
    pred, pred_cfg = load_model(pred_name, dev)
    prior = prior_cfg = pname = None
    if with_prior:
        pname = prior_name(modality)
        prior, prior_cfg = load_model(pname, dev)
    return DiffPRPipeline(pred, pred_cfg, modality=modality, prior=prior, prior_config=prior_cfg,
                          device=dev, names=(pred_name, pname))

