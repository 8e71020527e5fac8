"""Registers the learned methods: "unet", "reduced-unet", "diffpr" for off-axis holograms and
"unet-rgb", "reduced-unet-rgb", "diffpr-rgb" for chromatic RGB brightfield images.

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
               "detail. 0 turns refinement off (the result is the upsampled reduced U-Net output)."),
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

GUIDANCE_DEFAULT = 1.0
HOLOGRAM_DIFFPR_PARAMS = DIFFPR_PARAMS[:-1] + (
    Param("guidance", "float", GUIDANCE_DEFAULT, minimum=0.0, maximum=1000.0, refine_only=True,
          help="Measurement consistency: at every reverse step the estimate's spectrum inside the "
               "demodulation band is pulled toward the measured phase, by a Wiener weight from the "
               "estimated noise of the hologram (x guidance). 0 = the paper's unguided DiffPR; "
               "larger values trust the measurement more. See docs/samplers.md."),
    Param("samples", "int", 1, minimum=1, maximum=64, refine_only=True,
          help="Posterior samples drawn in one batch (different corruption noise); the result is "
               "their mean and, for more than 1, the per-pixel standard deviation is returned as "
               "the uncertainty map. Costs N times the refinement."),
    DEVICE,
)


def _make_run(modality: str, predictor: str, refine: bool):
    def run(data, *, background=None, cache=None, device: str = "auto",
            **params: Any) -> Generator[Progress, None, Result]:
        from .pipeline import load_pipeline

        t_corrupt = int(params.get("t_corrupt", 0)) if refine else 0
        pipe = load_pipeline(modality, predictor, device, with_prior=t_corrupt > 0)
        kwargs = {k: params[k] for k in ("sampler", "steps", "seed", "pc_snr", "guidance", "samples")
                  if k in params}
        extras: dict = {}
        phase, meta = yield from pipe.run(data, background if modality == "hologram" else None,
                                          t_corrupt=t_corrupt, cache=cache, extras=extras, **kwargs)
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
                        "in one forward pass (DiffPR paper's baseline).",
            params=(DEVICE,), run=_make_run(modality, "unet", False),
            uses_background=bg, uses_torch=True, tags=("deep learning",)), replace=True)
        register(Method(
            name=f"reduced-unet{suffix}", modality=modality, title="Reduced U-Net",
            description=f"Asymmetric U-Net without the high-resolution skips (DiffPR stage 1): a "
                        f"1/4-scale phase map from {what}, upsampled bicubically to full size.",
            params=(DEVICE,), run=_make_run(modality, "reduced-unet", False),
            uses_background=bg, uses_torch=True, tags=("deep learning",)), replace=True)
        register(Method(
            name=f"diffpr{suffix}", modality=modality, title="DiffPR",
            description=f"DiffPR: the reduced U-Net's 1/4-scale phase from {what}, upsampled, "
                        "noised to t_corrupt and refined by an unconditional diffusion prior that "
                        "restores fine detail. Changing only t_corrupt, sampler, steps or seed "
                        "reuses the stage-1 prediction.",
            params=HOLOGRAM_DIFFPR_PARAMS if bg else DIFFPR_PARAMS, run=_make_run(modality, "reduced-unet", True),
            uses_background=bg, uses_torch=True, tags=("deep learning", "diffusion")), replace=True)


_register_all()
