"""Registers the learned methods: "unet", "reduced-unet", "diffpr" for off-axis holograms and
"unet-rgb", "reduced-unet-rgb", "diffpr-rgb" and "zmd" (Zero-Mean Diffusion, seed 001) for
chromatic RGB brightfield images. Every RGB method takes the microscope's optics (the same
parameters as "tie", plus the illumination and detection NA): physics-normalised weights compute
their input with them (models.rgb_inputs); older raw-RGB weights ignore them (recorded in the
metadata).

Imports no torch: each run function imports the pipeline (and so torch and the weights) when
it is called.
"""
from __future__ import annotations

from typing import Any, Generator

from ..device import DEVICE_CHOICES
from ..methods import Method, Param, register
from ..result import Progress, Result

SAMPLER_CHOICES = ("pc", "ddim", "dpm++")  # models.samplers.SAMPLERS, without importing torch

DEVICE = Param("device", "str", "auto", choices=DEVICE_CHOICES,
               help="Where the networks run: 'auto' picks CUDA, then Apple MPS, then the CPU.")

DIFFPR_PARAMS = (
    # Default 25: the best of the levels measured in docs/benchmarks.md with the shipped prior
    # (dpm++ 10 steps: t=25 beat 50, 100, 200 and 400 on both modalities).
    Param("t_corrupt", "int", 25, minimum=0, maximum=999, widget="slider", refine_only=True,
          help="Noise level (timestep of the prior's 1000-step schedule) the upsampled low-resolution "
               "estimate is corrupted to before the diffusion prior denoises it. Low values stay "
               "close to the estimate; high values let the prior restore (or invent) more fine "
               "detail. 0 turns refinement off: the result is the upsampled reduced U-Net output "
               "(for holograms with guidance > 0, made consistent with the measured band)."),
    Param("sampler", "str", "dpm++", choices=SAMPLER_CHOICES, refine_only=True,
          help="Reverse-diffusion solver. 'dpm++' (DPM-Solver++ 2M) is accurate in ~10 steps; "
               "'ddim' is deterministic first order; 'pc' is the paper's predictor–corrector "
               "sampler (stochastic, 2 network calls per step, the paper used 100 steps)."),
    Param("steps", "int", 10, minimum=1, maximum=1000, refine_only=True,
          help="Sampler steps from t_corrupt down to clean data (network calls: steps, or "
               "2 x steps for 'pc')."),
    Param("pc_snr", "float", 0.16, minimum=0.0, maximum=1.0, refine_only=True,
          help="pc only: signal-to-noise ratio of the Langevin corrector (score SDE's default "
               "0.16); 0 runs the predictor alone. Larger values add noise the low frequencies "
               "never lose again (see docs/samplers.md)."),
    Param("seed", "int", 0, minimum=0, maximum=2**63 - 1, refine_only=True,
          help="Seed of the corruption noise (and of the pc sampler's noise): the same seed "
               "gives the same result."),
    DEVICE,
)

# Holograms (issue 7): defaults = the best mean PSNR for one network evaluation on validation
# seeds, with the guided result limited to the measured band and the guide's r² floored by stage
# 1's measured error (docs/samplers.md, `bench_models.py --sweep-defaults --sweep-t 10 25
# --sweep-g 1 3 10 --sweep-steps 1 2 --sweep-samples 1 --sweep-out benchmarks/results_sweep_floor.json`):
# t_corrupt 10, guidance 1 (the noise as estimated), 1 step, 1 sample: +3.27 dB over Fourier
# filtering on average, worst condition +0.10 dB, 3.0x one U-Net pass at 512². 2 steps gain
# 0.01 dB at 4.5x; more samples gained <= 0.02 dB in the band-limited sweep before.
GUIDANCE_DEFAULT = 1.0
SAMPLES_DEFAULT = 1
HOLOGRAM_STEPS_DEFAULT = 1
HOLOGRAM_T_DEFAULT = 10


def _with_default(param: Param, default) -> Param:
    from dataclasses import replace
    return replace(param, default=default)


_HOLOGRAM_DEFAULTS = {"steps": HOLOGRAM_STEPS_DEFAULT, "t_corrupt": HOLOGRAM_T_DEFAULT}
HOLOGRAM_DIFFPR_PARAMS = tuple(_with_default(p, _HOLOGRAM_DEFAULTS[p.name]) if p.name in _HOLOGRAM_DEFAULTS else p
                               for p in DIFFPR_PARAMS[:-1]) + (
    Param("guidance", "float", GUIDANCE_DEFAULT, minimum=0.0, maximum=1000.0, refine_only=True,
          help="Measurement consistency: at every reverse step the estimate's spectrum inside the "
               "demodulation band is pulled toward the measured phase, by a Wiener weight from the "
               "estimated noise of the hologram (x guidance), and the result keeps only the spatial "
               "frequencies the measurement passed (beyond them the prior can only guess). 0 = the "
               "paper's unguided DiffPR; larger values trust the measurement more. See docs/samplers.md."),
    Param("samples", "int", SAMPLES_DEFAULT, minimum=1, maximum=64, refine_only=True,
          help="Posterior samples (different corruption noise), averaged: the mean is more accurate "
               "than one sample, and for more than 1 their per-pixel standard deviation is returned as "
               "the uncertainty map. Costs N times the refinement; with the band-limited result more "
               "samples gain little accuracy (+0.01 dB for 4 on the validation sweep)."),
    DEVICE,
)


# Hologram U-Nets (issue 7): the networks alone were off in phase scale by up to 25 % (0.68-1.22
# on the quick stress cells); fused with the measured band they were within 3 % in 31 of 32
# image x network pairs and gained 0.4 dB in median PSNR (docs/models.md), so it is on by default.
NETWORK_GUIDANCE = Param("guidance", "float", GUIDANCE_DEFAULT, minimum=0.0, maximum=1000.0, refine_only=True,
                         help="Measurement consistency: inside the demodulation band the network's phase "
                              "spectrum is combined with the measured one, weighted by the network's measured "
                              "error against the hologram's noise (x guidance), and the result keeps only the "
                              "spatial frequencies the measurement passed. This makes the phase scale right. "
                              "0 = the network's output alone.")

# The microscope, for every learned RGB method: names, defaults and units as "tie"'s.
RGB_OPTICS_PARAMS = (
    Param("wavelengths", "floats", (0.63, 0.55, 0.45), length=3, unit="µm", minimum=0.2, maximum=2.0,
          help="Centre wavelength of the camera's red, green and blue channels (the phase is reported "
               "at the green one)."),
    Param("defocus", "floats", (-1.5, 0.0, 1.5), length=3, unit="µm", minimum=-100.0, maximum=100.0,
          help="Where each colour (R, G, B) is focused relative to the sample (chromatic focal shift); "
               "positive = beyond the sample along the light. Either order works."),
    Param("pixel_size", "float", 0.2, unit="µm", minimum=1e-3, maximum=100.0,
          help="Camera pixel size in the sample plane (camera pixel / magnification)."),
    Param("medium_index", "float", 1.33, minimum=1.0, maximum=2.0,
          help="Refractive index of the medium (1.33 water or culture medium, 1.0 air)."),
    Param("na_illumination", "float", 0.3, minimum=0.0, maximum=1.7,
          help="Numerical aperture of the condenser (Köhler illumination)."),
    Param("na_detection", "float", 0.55, minimum=0.05, maximum=1.7,
          help="Numerical aperture of the objective."),
    Param("focal_shift", "str", "per channel", choices=("per channel", "at centre wavelengths"),
          help="What the defocus values are (as for 'tie'): the focus each colour channel shows, or the "
               "focus of each channel's centre wavelength (then averaged over the channel's response)."),
    Param("channel_bandwidth", "float", 0.05, unit="µm", minimum=0.001, maximum=0.3,
          help="Std of each channel's Gaussian spectral response; only with focal_shift='at centre "
               "wavelengths'."),
)
# Default 1: on base-microscope test images it lifted diffpr-rgb from 26.5 to 28.9 dB (3 images,
# step-2100 weights; docs/benchmarks.md has the full matrix), at ~+25 % time.
RGB_GUIDANCE = Param("guidance", "float", 1.0, minimum=0.0, maximum=10.0, refine_only=True,
                     help="Forward-model consistency: at every reverse step the estimate takes this fraction "
                          "of a gradient step (its linearised optimum) toward reproducing the measured RGB "
                          "image through the chromatic brightfield model with the given optics. 0 = unguided. "
                          "See docs/models.md.")
# ZMD's default is 0 (session 10): on camera windows rendered with the exact partial coherence
# (two validation sets, 11 microscopes each), unguided ZMD with the consistency steps had the higher
# median PSNR (27.88 against 27.76 dB) and SSIM (0.632 / 0.584) and the lower |dry mass| (6.8 / 7.4 %),
# 30 % faster; the test rows did not confirm it (27.39 against 28.11 dB). DiffPR-rgb keeps guidance 1:
# unguided it lost 1.1 dB median there (0.1-3.7 dB per row). docs/benchmarks.md has both.
ZMD_GUIDANCE = Param("guidance", "float", 0.0, minimum=0.0, maximum=10.0, refine_only=True,
                     help="Forward-model guidance inside the residual sampler: at every reverse step the "
                          "estimate takes this fraction of a gradient step toward reproducing the measured RGB "
                          "image. 0 (default) leaves the fit to the measurement to the consistency steps, "
                          "which measured better for ZMD. See docs/models.md.")
# 32 since session 12: the first 16 always run (the earlier default), the rest only while the misfit
# is above the image noise, and noisy images keep the earlier schedule. A stop at the noise from the
# first step lost dry mass on the test rows in low light and at ±0.5 µm (it came before the weakly
# seen broad shape had converged). docs/benchmarks.md, "Condenser directions, and more steps stopped
# at the noise".
RGB_CONSISTENCY = Param("consistency", "int", 32, minimum=0, maximum=64, refine_only=True,
                        help="Measurement consistency after sampling: at most this many steps that bring the "
                             "cells' broad shape (and so their dry mass) into agreement with the measured RGB "
                             "image through the chromatic brightfield model and the given optics; the "
                             "background is left as it is. The second half runs only while the image misfit "
                             "is above the image's noise. Fewer steps on very noisy images (5 at ~100 "
                             "photons/px, none at ~30). Each step costs about one guided network evaluation "
                             "(~0.1 s at 128², ~1.7 s at 512² on one CPU core with the disk blur; about 2.3x "
                             "that with the default coherence_model 'source sum'). 0 = off. See docs/models.md.")
# The consistency steps' model of the condenser's partial coherence (session 11): "source sum", the
# exact sum over condenser directions as a defect correction of the disk blur refreshed every 4 steps
# (models.rgb_consistency), or the "disk blur" alone. On camera windows rendered with the exact partial
# coherence (validation seeds, 11 microscopes) the source sum lifted unguided ZMD's median from 28.99 to
# 29.97 dB (SSIM 0.631 -> 0.701) and cut its median |dry-mass error| from 6.7 to 4.0 % (condenser NA 0.5:
# 32 -> 12 %, defocus ±0.5 µm: 37 -> 4 %; 4 images per row), at 5.0 instead of 2.4 s per 128² image for the
# steps. For DiffPR-rgb it is a tie (8 images per row: 27.49 against 27.45 dB, |dry mass| 4.5 against
# 5.4 %, higher PSNR on 7 of 11 rows); the exact model is the default for both. docs/benchmarks.md, "The
# consistency steps with the exact partial coherence".
# coherence_model -> the steps' forward model (models.rgb_consistency.consistent's illumination)
COHERENCE_MODELS = {"source sum": dict(illumination="blur + sources defect", refresh_every=4),
                    "disk blur": dict(illumination="blur")}
RGB_COHERENCE = Param("coherence_model", "str", "source sum", choices=tuple(COHERENCE_MODELS),
                      refine_only=True,
                      help="How the consistency steps model the condenser's partial coherence: 'source sum' "
                           "(exact: the image summed over illumination directions, applied as a correction "
                           "to the disk blur every 4 steps; about twice the steps' time with 19 directions, "
                           "which suffice up to condenser NA 0.3 at detection NA 0.55; an open condenser "
                           "takes more, 156 at NA 0.5, and several times longer) or 'disk blur' (the "
                           "approximation the networks were trained with; it errs most with an open "
                           "condenser). See docs/models.md.")
RGB_SAMPLES = Param("samples", "int", 1, minimum=1, maximum=64, refine_only=True,
                    help="Posterior samples drawn in one batch; the result is their mean and, for more "
                         "than 1, their per-pixel standard deviation is the uncertainty map. Costs N times "
                         "the refinement.")


def rgb_optics(params: dict) -> dict:
    """The optics dict of models.rgb_inputs from a method's parameters."""
    wavelengths = tuple(params.get("wavelengths", (0.63, 0.55, 0.45)))
    given = defocus = tuple(params.get("defocus", (-1.5, 0.0, 1.5)))
    bandwidth = float(params.get("channel_bandwidth", 0.05))
    at_centres = params.get("focal_shift", "per channel") == "at centre wavelengths"
    if at_centres:
        from ..retrieval.tie import effective_defocus
        defocus = effective_defocus(wavelengths, defocus, bandwidth)
    return {"wavelengths_um": wavelengths,
            "defocus_um": defocus,
            # for the forward model of the measurement-consistency step (models.rgb_consistency)
            "defocus_given_um": given,
            "focal_shift_model": "wavelength" if at_centres else "channel",
            "channel_bandwidth_um": bandwidth,
            "pixel_size_um": float(params.get("pixel_size", 0.2)),
            "medium_index": float(params.get("medium_index", 1.33)),
            "na_illumination": float(params.get("na_illumination", 0.3)),
            "na_detection": float(params.get("na_detection", 0.55))}


def _make_run(modality: str, predictor: str, refine: bool):
    def run(data, *, background=None, cache=None, device: str = "auto",
            **params: Any) -> Generator[Progress, None, Result]:
        from .pipeline import load_pipeline

        t_corrupt = int(params.get("t_corrupt", 0)) if refine else 0
        pipe = load_pipeline(modality, predictor, device, with_prior=t_corrupt > 0)
        kwargs = {k: params[k] for k in ("sampler", "steps", "seed", "pc_snr", "guidance", "samples")
                  if k in params}
        extras: dict = {}
        if modality == "rgb":
            kwargs["optics"] = rgb_optics(params)
        phase, meta = yield from pipe.run(data, background if modality == "hologram" else None,
                                          t_corrupt=t_corrupt, cache=cache, extras=extras, **kwargs)
        if modality == "rgb":
            meta["optics"] = kwargs["optics"]
            if refine:
                phase = yield from _measurement_consistent(phase, data, kwargs["optics"],
                                                           params.get("consistency", RGB_CONSISTENCY.default),
                                                           meta, extras,
                                                           params.get("coherence_model", RGB_COHERENCE.default))
        meta["units"] = "rad"
        return Result(phase=phase, metadata=meta, uncertainty=extras.get("uncertainty"),
                      residual=extras.get("residual"))

    run.__name__ = f"run_{predictor.replace('-', '_')}{'_diffpr' if refine else ''}_{modality}"
    return run


_TEXT = {
    "hologram": "an off-axis hologram (demodulated by an FFT step, then the network)",
    "rgb": "a chromatic single-exposure RGB brightfield image",
}


def _register_all() -> None:
    for modality, suffix in (("hologram", ""), ("rgb", "-rgb")):
        bg = modality == "hologram"
        what = _TEXT[modality]
        register(Method(
            name=f"unet{suffix}", modality=modality, title="U-Net",
            description=f"Vanilla U-Net with full skip connections: phase in radians from {what} "
                        "in one forward pass (DiffPR paper's baseline)."
                        + (" Its result is made consistent with the measured band (guidance)." if bg else ""),
            params=RGB_OPTICS_PARAMS + (DEVICE,) if not bg else (NETWORK_GUIDANCE, DEVICE),
            run=_make_run(modality, "unet", False),
            uses_background=bg, uses_torch=True, tags=("deep learning",)), replace=True)
        register(Method(
            name=f"reduced-unet{suffix}", modality=modality, title="Reduced U-Net",
            description=f"Asymmetric U-Net without the high-resolution skips (DiffPR stage 1): a "
                        f"1/4-scale phase map from {what}, upsampled bicubically to full size."
                        + (" Its result is made consistent with the measured band (guidance)." if bg else ""),
            params=RGB_OPTICS_PARAMS + (DEVICE,) if not bg else (NETWORK_GUIDANCE, DEVICE),
            run=_make_run(modality, "reduced-unet", False),
            uses_background=bg, uses_torch=True, tags=("deep learning",)), replace=True)
        register(Method(
            name=f"diffpr{suffix}", modality=modality, title="DiffPR",
            description=f"DiffPR: the reduced U-Net's 1/4-scale phase from {what}, upsampled, "
                        "noised to t_corrupt and refined by an unconditional diffusion prior that "
                        "restores fine detail. Changing only t_corrupt, sampler, steps or seed "
                        "reuses the stage-1 prediction.",
            params=HOLOGRAM_DIFFPR_PARAMS if bg else RGB_OPTICS_PARAMS + DIFFPR_PARAMS[:-1] + (RGB_GUIDANCE, RGB_CONSISTENCY,
                                                                                          RGB_COHERENCE, RGB_SAMPLES,
                                                                                          DEVICE),
            run=_make_run(modality, "reduced-unet", True),
            uses_background=bg, uses_torch=True, tags=("deep learning", "diffusion")), replace=True)

    register(Method(
        name="zmd", modality="rgb", title="Zero-Mean Diffusion",
        description="Zero-Mean Diffusion (seed 001): a mean network predicts the expected phase from "
                    "physics-normalised features of the RGB image (computed with the given optics), a "
                    "conditional diffusion model generates the residual phase around it (<= 10 network "
                    "evaluations); samples > 1 averages N residuals and returns their per-pixel std.",
        params=RGB_OPTICS_PARAMS + ZMD_PARAMS, run=run_zmd, uses_torch=True,
        tags=("deep learning", "diffusion")), replace=True)


ZMD_PARAMS = (
    Param("samples", "int", 1, minimum=1, maximum=64, refine_only=True,
          help="Residual samples drawn in one batch; the result is the mean network's phase plus their "
               "mean, and for N > 1 their per-pixel standard deviation is the uncertainty map."),
    Param("sampler", "str", "dpm++", choices=("dpm++", "ddim"), refine_only=True,
          help="Reverse-diffusion solver for the residual (both deterministic given the seed)."),
    Param("steps", "int", 10, minimum=1, maximum=1000, refine_only=True,
          help="Sampler steps from t_start to the residual (network evaluations per sample)."),
    Param("t_start", "int", 400, minimum=1, maximum=999, widget="slider", refine_only=True,
          help="Noise level the residual diffusion starts from (sigma(t_start) x noise; the residual "
               "is zero-mean). 400 measured best with the shipped weights; 999 = pure noise."),
    Param("seed", "int", 0, minimum=0, maximum=2**63 - 1, refine_only=True,
          help="Seed of the starting noise: the same seed gives the same result."),
    ZMD_GUIDANCE,
    RGB_CONSISTENCY,
    RGB_COHERENCE,
    DEVICE,
)


def run_zmd(data, *, background=None, cache=None, device: str = "auto", samples: int = 1,
            sampler: str = "dpm++", steps: int = 10, seed: int = 0, guidance: float = ZMD_GUIDANCE.default,
            t_start: int = 400,
            consistency: int = RGB_CONSISTENCY.default, coherence_model: str = RGB_COHERENCE.default,
            **params: Any) -> Generator[Progress, None, Result]:
    from .zmd import load_zmd

    pipe = load_zmd(device)
    extras: dict = {}
    optics = rgb_optics(params)
    phase, meta = yield from pipe.run(data, optics=optics, sampler=sampler, steps=steps,
                                      samples=samples, seed=seed, guidance=guidance, t_start=t_start,
                                      extras=extras)
    phase = yield from _measurement_consistent(phase, data, optics, consistency, meta, extras, coherence_model)
    meta["units"] = "rad"
    return Result(phase=phase, metadata=meta, uncertainty=extras.get("uncertainty"))


def _measurement_consistent(phase, data, optics: dict, max_steps, meta: dict, extras: dict,
                            coherence_model: str = RGB_COHERENCE.default):
    """The refined RGB phase after models.rgb_consistency's steps; the correction is added to
    every sample too, so the samples still average to the result (their std is unchanged).
    ``max_steps`` and ``coherence_model`` were checked against RGB_CONSISTENCY / RGB_COHERENCE by
    the registry before any compute."""
    if max_steps == 0:
        meta["consistency"] = {"steps": 0, "max_steps": 0}
        return phase
    import numpy as np

    from .rgb_consistency import consistent

    stats: dict = {}
    # the first half of the steps always runs; the rest only while the misfit is above the image noise
    out = yield from consistent(phase, np.asarray(data), optics, int(max_steps), stats,
                                **COHERENCE_MODELS[coherence_model], discrepancy=1.0, min_steps=int(max_steps) // 2)
    stats["coherence_model"] = coherence_model
    meta["consistency"] = stats
    if extras.get("samples") is not None:
        extras["samples"] = extras["samples"] + (out - phase)[None]
    return out


_register_all()
