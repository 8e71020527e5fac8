"""Weights: a per-user folder (never site-packages) with an environment override, a weight file
chosen on the command line, and clear errors when a file does not fit the method's network
(architecture, task, input representation, tensor shapes) or is not a weight file at all."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import load_file, save_file  # noqa: E402

from napari_diffpr.errors import RetrievalError  # noqa: E402
from napari_diffpr.models import weights  # noqa: E402

from conftest import fringe_hologram  # noqa: E402


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    d = tmp_path / "user-weights"
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(d))
    weights.clear_cache()
    yield d
    for name in list(weights._OVERRIDES):
        weights.use_weights_file(None, name)
    weights.clear_cache()


def _shipped(name: str) -> Path:
    return weights.weights_dir() / f"{name}.safetensors"


def _rewrite(src: Path, dst: Path, **config_changes) -> Path:
    config = weights.read_config(src)
    config.update(config_changes)
    save_file(load_file(str(src)), str(dst), metadata={"config": json.dumps(config)})
    return dst


def test_user_folder_comes_from_the_environment_or_platformdirs(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    assert weights.user_weights_dir() == tmp_path / "w"
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV)
    d = weights.user_weights_dir()
    assert d == Path(platformdirs.user_cache_dir("napari-diffpr", appauthor=False)) / "weights"
    assert "site-packages" not in str(d)


def test_user_folder_weights_are_preferred_to_the_shipped_ones(user_dir):
    name = "reduced-unet-hologram"
    assert weights.weight_path(name) == _shipped(name)
    user_dir.mkdir()
    mine = shutil.copy(_shipped(name), user_dir / f"{name}.safetensors")
    assert weights.weight_path(name) == Path(mine)
    model, config = weights.load_model(name)
    assert config["architecture"] == "ReducedUNet"


@pytest.mark.parametrize("wrong, match", [
    ("unet-hologram", "'VanillaUNet' network, but 'reduced-unet-hologram' needs a 'ReducedUNet'"),
    ("reduced-unet-rgb", "trained for 'rgb' input"),
    ("prior", "'DiffusionUNet' network"),
])
def test_a_weight_file_for_another_network_is_refused_with_what_is_wrong(user_dir, wrong, match):
    with pytest.raises(RetrievalError, match=match):
        weights.use_weights_file(_shipped(wrong), "reduced-unet-hologram")


def test_unknown_input_representation_and_bad_tensors_are_clear_errors(user_dir, tmp_path):
    src = _shipped("reduced-unet-hologram")
    odd = _rewrite(src, tmp_path / "odd.safetensors", input="phase gradients")
    with pytest.raises(RetrievalError, match="input representation 'phase gradients'"):
        weights.use_weights_file(odd, "reduced-unet-hologram")
    wide = _rewrite(src, tmp_path / "wide.safetensors",
                    model_kwargs={**weights.read_config(src)["model_kwargs"], "base_channels": 32})
    weights.use_weights_file(wide, "reduced-unet-hologram")  # the config fits the role ...
    with pytest.raises(RetrievalError, match="do not fit the 'ReducedUNet' network"):
        weights.load_model("reduced-unet-hologram")  # ... the tensors do not
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(RetrievalError, match="not a readable .safetensors"):
        weights.use_weights_file(tmp_path / "junk.safetensors", "reduced-unet-hologram")
    with pytest.raises(RetrievalError, match="not found"):
        weights.use_weights_file(tmp_path / "missing.safetensors", "reduced-unet-hologram")


def test_cli_weights_option(user_dir, tmp_path, capsys):
    from napari_diffpr.cli import main

    np.save(tmp_path / "h.npy", fringe_hologram(64))
    out = tmp_path / "p.tif"
    code = main(["reconstruct", str(tmp_path / "h.npy"), "-o", str(out), "-m", "reduced-unet", "-q",
                 "--weights", str(_shipped("unet-hologram"))])
    err = capsys.readouterr().err
    assert code == 1 and "needs a 'ReducedUNet'" in err and not out.exists()
    code = main(["reconstruct", str(tmp_path / "h.npy"), "-o", str(out), "-m", "fourier", "-q",
                 "--weights", str(_shipped("unet-hologram"))])
    assert code == 2 and "network methods" in capsys.readouterr().err
    mine = shutil.copy(_shipped("reduced-unet-hologram"), tmp_path / "mine.safetensors")
    code = main(["reconstruct", str(tmp_path / "h.npy"), "-o", str(out), "-m", "reduced-unet", "-q",
                 "--weights", str(mine)])
    assert code == 0, capsys.readouterr().err
    assert weights.weight_path("reduced-unet-hologram") == Path(mine)


def test_training_checkpoints_are_not_pickles_we_load_blindly():
    """Shipped and user weights are safetensors (no pickle). Any torch.load in the package must
    say weights_only=True."""
    import ast

    src = Path(weights.__file__).resolve().parents[1]
    offenders = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" \
                    and getattr(node.func, "value", None) is not None \
                    and getattr(node.func.value, "id", None) == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    offenders.append(f"{path.relative_to(src)}:{node.lineno}")
    assert not offenders, f"torch.load without weights_only=True in {offenders}"
