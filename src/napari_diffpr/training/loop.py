"""Training loops for the stage-1 U-Nets and the diffusion prior: Adam, cosine learning-rate
decay, an exponential moving average (EMA) of the weights, checkpoints and exact resume.

A run is reproducible step by step: batch ``i`` comes from the seeded simulator
(training.data), the diffusion timesteps and noise of step ``i`` from their own seeded
generator, and the checkpoint holds the model, EMA, optimiser and loss history, so a resumed
run continues exactly as an uninterrupted one would.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..models.inputs import DEFAULT_CONFIG, HOLOGRAM_INPUT, HOLOGRAM_INPUT_UNWRAPPED, RGB_INPUT
from ..models.rgb_inputs import CHANNELS as RGB_PHYSICS_CHANNELS
from ..models.rgb_inputs import RGB_PHYSICS_INPUT
from .data import batch_generator, load_pool, make_batch

# name -> (task, architecture, default model kwargs, default training crop size)
MODEL_SPECS: dict[str, tuple[str, str, dict, int]] = {
    "prior": ("prior", "DiffusionUNet",
              {"channels": 1, "base_channels": 16, "channel_mults": [1, 2, 4, 4], "num_res_blocks": 1}, 48),
    # holograms: physics-anchored (issue 7): the unwrapped Fourier phase is input channel 3 and
    # the network learns a correction on top of it (residual_channel), on the "wide" data
    "unet-hologram": ("hologram", "VanillaUNet", {"in_channels": 4, "out_channels": 1, "base_channels": 16, "depth": 4,
                                                  "residual_channel": 3}, 64),
    "reduced-unet-hologram": ("hologram", "ReducedUNet", {"in_channels": 4, "out_channels": 1, "base_channels": 16,
                                                          "residual_channel": 3}, 64),
    # RGB: physics-aware (issue 8): input = features computed with each sample's own random
    # microscope (models.rgb_inputs); the network learns a correction on top of the TIE phase
    # (channel 0), on training.rgb_data's pools
    "unet-rgb": ("rgb", "VanillaUNet", {"in_channels": RGB_PHYSICS_CHANNELS, "out_channels": 1, "base_channels": 16,
                                        "depth": 4, "residual_channel": 0}, 64),
    "reduced-unet-rgb": ("rgb", "ReducedUNet", {"in_channels": RGB_PHYSICS_CHANNELS, "out_channels": 1,
                                                "base_channels": 16, "residual_channel": 0}, 64),
    # Zero-Mean Diffusion (seed 001): mean U-Net + conditional residual diffusion, trained jointly
    "zmd-rgb": ("zmd", "ZMD", {"in_channels": RGB_PHYSICS_CHANNELS, "base_channels": 16, "depth": 4,
                               "residual_channel": 0, "diffusion_base_channels": 16,
                               "diffusion_channel_mults": [1, 2, 4, 4]}, 64),
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in its checkpoint and weight file)."""

    model: str
    steps: int = 1000
    batch_size: int = 16
    size: int | None = None              # training crop, pixels (default per model)
    lr: float = 1e-3
    lr_min: float = 1e-5
    ema_decay: float = 0.999
    seed: int = 0                        # salt for the diffusion noise stream (data is seeded by step)
    model_kwargs: dict = field(default_factory=dict)
    t_max_train: int = 600               # prior: most timesteps drawn below this (refinement starts there)
    p_full_range: float = 0.1            # prior: fraction of timesteps drawn from the whole [0, T)
    pool_size: int = 1024                # simulated phantoms per training pool (see training.data)
    pool_image: int = 128                # pixels of each pool image (crops are cut from it)
    validation_size: int = 32
    cache_dir: str | None = "runs/cache"
    checkpoint_every: int = 50
    validate_every: int = 100
    max_minutes: float | None = None     # stop (checkpointed) after this much wall time in this process
    device: str = "cpu"
    threads: int = 2
    init_from: str | None = None         # weight file the run started from (fine-tuning), or None
    init_sha256: str | None = None       # that file's SHA-256: its path may later hold other weights
    camera_windows: bool = False         # RGB pools: images cut from twice-wider fields (rgb_data)
    source_sum: bool = False             # RGB pools: partial coherence summed over condenser directions

    def resolved(self) -> "TrainConfig":
        if self.model not in MODEL_SPECS:
            raise ValueError(f"unknown model {self.model!r}; choose from {', '.join(MODEL_SPECS)}")
        c = copy.deepcopy(self)
        task, _, kwargs, size = MODEL_SPECS[c.model]
        c.model_kwargs = {**kwargs, **(c.model_kwargs or {})}
        c.size = c.size or size
        if c.size % 16:
            raise ValueError(f"the training crop size must be a multiple of 16; got {c.size}")
        if c.size > c.pool_image:
            raise ValueError(f"the crop ({c.size}) cannot exceed the pool images ({c.pool_image})")
        return c


def weight_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config stored with the weights: architecture, input and phase mapping."""
    task, arch, _, _ = MODEL_SPECS[cfg.model]
    out = dict(DEFAULT_CONFIG)
    out.update({"name": cfg.model, "task": task, "architecture": arch, "model_kwargs": cfg.model_kwargs})
    if task == "hologram":
        out["input"] = HOLOGRAM_INPUT_UNWRAPPED if cfg.model_kwargs.get("in_channels") == 4 else HOLOGRAM_INPUT
    elif task == "rgb":
        out["input"] = RGB_PHYSICS_INPUT if cfg.model_kwargs.get("in_channels") == RGB_PHYSICS_CHANNELS else RGB_INPUT
    elif task == "zmd":
        from ..models.schedule import VPSchedule
        from ..models.zmd import RESIDUAL_SCALE_RAD
        out["task"] = "rgb"
        out["input"] = RGB_PHYSICS_INPUT
        out["schedule"] = VPSchedule().config()
        out["residual_scale_rad"] = RESIDUAL_SCALE_RAD
    else:
        from ..models.schedule import VPSchedule
        out["schedule"] = VPSchedule().config()
        out["t_max_train"] = cfg.t_max_train
        out["p_full_range"] = cfg.p_full_range
    if arch == "ReducedUNet":
        out["output_scale"] = 4
        out["down_operator"] = "4x4 average pooling"
    return out


def build(cfg: TrainConfig):
    from ..models.weights import build_model
    return build_model({"architecture": MODEL_SPECS[cfg.model][1], "model_kwargs": cfg.model_kwargs})


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Cosine decay from lr to lr_min over cfg.steps, after a 20-step linear warm-up."""
    warm = min(1.0, (step + 1) / 20)
    frac = min(1.0, step / max(1, cfg.steps))
    return warm * (cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac)))


def sample_timesteps(cfg: TrainConfig, n: int, g: torch.Generator, device) -> torch.Tensor:
    """Integer timesteps: mostly uniform on [0, t_max_train), a fraction on the whole [0, T)."""
    low = torch.randint(0, cfg.t_max_train, (n,), generator=g, device=device)
    full = torch.randint(0, 1000, (n,), generator=g, device=device)
    pick = torch.rand(n, generator=g, device=device) < cfg.p_full_range
    return torch.where(pick, full, low).float()


def loss_for(cfg: TrainConfig, model, batch: dict, step_gen: torch.Generator, schedule=None) -> torch.Tensor:
    task, arch, _, _ = MODEL_SPECS[cfg.model]
    if task == "prior":
        x0 = batch["target"]
        t = sample_timesteps(cfg, x0.shape[0], step_gen, x0.device)
        noise = torch.randn(x0.shape, generator=step_gen, device=x0.device)
        xt = schedule.add_noise(x0, t, noise)
        return F.mse_loss(model(xt, t), noise)
    if task == "zmd":
        from ..models.zmd import zmd_loss
        return zmd_loss(model, batch["input"], batch["target"], schedule, step_gen, weight_config(cfg))[0]
    pred = model(batch["input"])
    target = batch["target_lr"] if arch == "ReducedUNet" else batch["target"]
    return F.mse_loss(pred, target)


class Trainer:
    """Holds the model, EMA, optimiser and history; ``run()`` trains until cfg.steps (or
    max_minutes), writing ``checkpoint.pt`` into ``out_dir`` every checkpoint_every steps."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, log: Callable[[str], None] | None = None):
        self.cfg = cfg.resolved()
        self.out_dir = Path(out_dir)
        self.device = torch.device(self.cfg.device)
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        with torch.random.fork_rng(devices=[]):   # seeded initial weights, global RNG untouched
            torch.manual_seed(self.cfg.seed)
            self.model = build(self.cfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, betas=(0.9, 0.999))
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict] = []
        self._pools: dict[str, dict] = {}
        self.schedule = None
        if MODEL_SPECS[self.cfg.model][0] in ("prior", "zmd"):
            from ..models.schedule import VPSchedule
            self.schedule = VPSchedule()

    def init_from(self, path: str | Path) -> None:
        """Start from the weights of an exported file (``napari-diffpr train --init-from``):
        fine-tuning, e.g. on larger frames. The file must hold this run's architecture with the
        same model_kwargs; the optimiser starts fresh at step 0 and the EMA from the same weights."""
        from safetensors.torch import load_file

        from ..models.weights import read_config

        saved = read_config(path)
        arch = MODEL_SPECS[self.cfg.model][1]
        if saved.get("architecture") != arch or saved.get("model_kwargs") != self.cfg.model_kwargs:
            raise ValueError(f"{path} holds a {saved.get('architecture')!r} with {saved.get('model_kwargs')}; "
                             f"this run trains a {arch!r} with {self.cfg.model_kwargs}")
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
        self.model.load_state_dict(state)
        self.ema.load_state_dict(state)
        self.cfg.init_from = str(path)
        self.cfg.init_sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()

    # ---------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "step": self.step, "elapsed": self.elapsed,
                "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "opt": self.opt.state_dict(), "history": self.history}

    def save_checkpoint(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, self.checkpoint_path)   # atomic: a kill mid-write keeps the old one
        return self.checkpoint_path

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        state = torch.load(path or self.checkpoint_path, map_location=self.device, weights_only=True)
        saved = state["config"]
        for key in ("model", "batch_size", "size", "model_kwargs", "seed", "t_max_train", "p_full_range",
                    "camera_windows", "source_sum"):
            # older checkpoints: whole frames, disk blur
            was = saved.get(key, False if key in ("camera_windows", "source_sum") else None)
            if was != getattr(self.cfg, key):
                raise ValueError(f"checkpoint was trained with {key}={was!r}, this run asks for "
                                 f"{getattr(self.cfg, key)!r}; use the same settings to resume")
        # a resumed fine-tune still started from the weights it was first given
        self.cfg.init_from = self.cfg.init_from or saved.get("init_from")
        self.cfg.init_sha256 = self.cfg.init_sha256 or saved.get("init_sha256")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.elapsed, self.history = state["step"], state["elapsed"], state["history"]

    @property
    def data_variant(self) -> str:
        """"wide" (training.data.WIDE) for the physics-anchored hologram models, "rgb-physics"
        (training.rgb_data) for the physics-aware RGB models, else "default"."""
        rep = weight_config(self.cfg).get("input")
        if rep == RGB_PHYSICS_INPUT:
            return "rgb-physics"
        return "wide" if rep == HOLOGRAM_INPUT_UNWRAPPED else "default"

    # ---------------------------------------------------------------- training
    def pool(self, split: str) -> dict:
        """The simulated phantom (and RGB) pool of ``split``, simulated or read from the cache."""
        if split not in self._pools:
            cfg = self.cfg
            n = cfg.pool_size if split == "train" else cfg.validation_size
            task = MODEL_SPECS[cfg.model][0]
            if self.data_variant == "rgb-physics":
                from .rgb_data import load_rgb_pool
                self._pools[split] = load_rgb_pool(split, n, cfg.pool_image, cfg.cache_dir, self.device,
                                                   config=weight_config(cfg), window=cfg.camera_windows,
                                                   illumination="sources" if cfg.source_sum else "blur")
                return self._pools[split]
            self._pools[split] = load_pool(split, n, cfg.pool_image, task, cfg.cache_dir, self.device,
                                           config=weight_config(cfg), variant=self.data_variant)
        return self._pools[split]

    def train_step(self) -> float:
        cfg = self.cfg
        task = MODEL_SPECS[cfg.model][0]
        batch = make_batch("rgb" if task == "zmd" else task, self.pool("train"), self.step, cfg.batch_size, cfg.size)
        step_gen = batch_generator("train", self.step, self.device, salt=1 + cfg.seed)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(cfg, self.step)
        self.model.train()
        loss = loss_for(cfg, self.model, batch, step_gen, self.schedule)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        # EMA warm-up: early on follow the model closely, so short runs are not dominated by init
        decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                pe.lerp_(pm, 1 - decay)
            for be, bm in zip(self.ema.buffers(), self.model.buffers()):
                be.copy_(bm)
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self, model=None) -> float:
        model = model or self.ema
        cfg = self.cfg
        task = MODEL_SPECS[cfg.model][0]
        losses = []
        for i in range(max(1, cfg.validation_size // cfg.batch_size)):
            batch = make_batch("rgb" if task == "zmd" else task, self.pool("validation"), i, cfg.batch_size,
                               cfg.size, split="validation")
            losses.append(float(loss_for(cfg, model, batch, batch_generator("validation", i, self.device, salt=1),
                                         self.schedule)))
        return sum(losses) / len(losses)

    def run(self, progress: bool = True) -> dict:
        cfg = self.cfg
        torch.set_num_threads(cfg.threads)
        start = time.perf_counter()
        base_elapsed = self.elapsed
        bar = None
        if progress:
            try:
                from tqdm import tqdm
            except ImportError:   # tqdm comes with napari; without it, the log lines remain
                tqdm = None
        if progress and tqdm is not None:
            bar = tqdm(total=cfg.steps, initial=self.step, desc=cfg.model, mininterval=20,
                       file=sys.stderr, dynamic_ncols=False, ncols=100)
        running = None
        while self.step < cfg.steps:
            loss = self.train_step()
            running = loss if running is None else 0.98 * running + 0.02 * loss
            self.elapsed = base_elapsed + time.perf_counter() - start
            record = {"step": self.step, "loss": loss, "lr": lr_at(cfg, self.step - 1), "seconds": self.elapsed}
            if self.step % cfg.validate_every == 0 or self.step == cfg.steps:
                record["validation_loss"] = self.validate()
                self.log(f"[{cfg.model}] step {self.step}/{cfg.steps} loss {running:.5f} "
                         f"val {record['validation_loss']:.5f} {self.elapsed / 60:.1f} min")
            self.history.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
            if cfg.max_minutes is not None and (time.perf_counter() - start) / 60 >= cfg.max_minutes:
                self.log(f"[{cfg.model}] stopping at step {self.step}: max_minutes={cfg.max_minutes} reached")
                self.save_checkpoint()
                break
        if bar is not None:
            bar.close()
        return self.summary()

    def summary(self) -> dict:
        vals = [h["validation_loss"] for h in self.history if "validation_loss" in h]
        return {"model": self.cfg.model, "steps_done": self.step, "steps_planned": self.cfg.steps,
                "wall_seconds": round(self.elapsed, 1), "final_validation_loss": vals[-1] if vals else None,
                "final_train_loss": self.history[-1]["loss"] if self.history else None}

    def data_description(self) -> str:
        cfg = self.cfg
        task = MODEL_SPECS[cfg.model][0]
        what = {"prior": "phase maps only",
                "hologram": "each with one randomised hologram, half demodulated with their background",
                "rgb": "each with one randomised RGB rendering",
                "zmd": "each with one randomised RGB rendering"}[task]
        if self.data_variant == "rgb-physics":
            from ..optics.rgb_random import HELD_OUT_KIND, RGB_WIDE
            what += (f" from its own random microscope {json.dumps(RGB_WIDE)} (optics.rgb_random), cells of a physical "
                     f"size (radii fractions of a 25.6 µm design field), input = physics-normalised features (models.rgb_inputs); held out of training: {HELD_OUT_KIND!r}")
            if cfg.camera_windows:
                what += "; each image the centre of a field twice as wide (a camera window)"
            if cfg.source_sum:
                from ..optics.rgb_random import SOURCE_POINTS, SOURCE_TOLERANCE
                what += (f"; partial coherence summed over condenser directions (not the disk blur): at least "
                         f"{SOURCE_POINTS}, enough for {SOURCE_TOLERANCE:.0%} of the continuum per microscope")
        if self.data_variant == "wide":
            from .data import HELD_OUT, WIDE
            what += (f"; wide randomisation {json.dumps(WIDE)}; held out of training: {json.dumps(HELD_OUT)}")
        return (f"napari_diffpr.optics.simulate: pool of {cfg.pool_size} phantoms of {cfg.pool_image}^2 "
                f"(train seeds), {what}; random {cfg.size}^2 crops and flips/rotations")

    def export_zmd_mean(self, path: str | Path, command: str = "") -> Path:
        """Write the EMA of a zmd-rgb run's mean network as unet-rgb weights (a VanillaUNet on the
        physics-normalised RGB input, trained by its own MSE; the diffusion's conditioning on it
        is detached, so the joint training does not change what it learns)."""
        from ..models.weights import save_weights

        config = weight_config(self.cfg)
        mean = self.ema.mean
        config.update({"name": "unet-rgb", "task": "rgb", "architecture": "VanillaUNet",
                       "model_kwargs": dict(mean.init_kwargs)})
        for key in ("schedule", "residual_scale_rad"):
            config.pop(key, None)
        config["training"] = {**self.summary(), "batch_size": self.cfg.batch_size, "crop_size": self.cfg.size,
                              "lr": self.cfg.lr, "ema_decay": self.cfg.ema_decay, "device": str(self.device),
                              "torch_threads": self.cfg.threads, "command": command,
                              "note": "the mean network of zmd-rgb (trained jointly, own MSE loss)",
                              "data": self.data_description(), **self._initialisation()}
        path = save_weights(mean, path, config)
        (Path(path).with_suffix(".json")).write_text(json.dumps(config, indent=2))
        return path

    def _initialisation(self) -> dict:
        """The weight file a fine-tune started from, by path and by content."""
        return {"initialised_from": self.cfg.init_from, "initialised_from_sha256": self.cfg.init_sha256}

    def export(self, path: str | Path, command: str = "") -> Path:
        """Write the EMA weights and their config (with the training record) as safetensors."""
        from ..models.weights import save_weights

        config = weight_config(self.cfg)
        config["training"] = {**self.summary(), "batch_size": self.cfg.batch_size, "crop_size": self.cfg.size,
                              "lr": self.cfg.lr, "lr_min": self.cfg.lr_min, "ema_decay": self.cfg.ema_decay,
                              "optimizer": "Adam(0.9, 0.999)", "device": str(self.device),
                              "torch_threads": self.cfg.threads, "command": command,
                              "data": self.data_description(), **self._initialisation()}
        path = save_weights(self.ema, path, config)
        (Path(path).with_suffix(".json")).write_text(json.dumps(config, indent=2))
        return path
