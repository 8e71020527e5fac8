"""The real DiffPR method (tiny stand-in networks instead of shipped weights) driven through the
Reconstruct dock: previews, the device choice, and a slider move that reuses stage 1."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def tiny_diffpr(monkeypatch):
    torch = pytest.importorskip("torch")
    from napari_diffpr.models import pipeline
    from napari_diffpr.models.prior import DiffusionUNet
    from napari_diffpr.models.unet import ReducedUNet

    cfg = {"phase_scale_rad": 3.0, "phase_offset_rad": 0.0}
    pipes, loads = {}, []

    def fake_load(modality, predictor, device="auto", with_prior=True):
        loads.append(device)
        if modality not in pipes:
            torch.manual_seed(0)
            net = ReducedUNet(3, 1, base_channels=4).eval()
            prior = DiffusionUNet(channels=1, base_channels=8, channel_mults=(1, 2)).eval()
            pipes[modality] = pipeline.DiffPRPipeline(net, cfg, modality=modality, prior=prior,
                                                      prior_config=cfg, device="cpu",
                                                      names=(f"{predictor}-{modality}", "prior"))
        return pipes[modality]

    monkeypatch.setattr(pipeline, "load_pipeline", fake_load)
    return loads


def test_diffpr_in_the_dock_refines_from_the_cached_stage1(qtbot, make_napari_viewer, hologram,
                                                           tiny_diffpr):
    from napari_diffpr._napari.reconstruct_widget import ReconstructWidget

    viewer = make_napari_viewer()
    viewer.add_image(hologram, name="holo", scale=(0.2, 0.2))
    widget = ReconstructWidget(viewer)
    widget.set_method("diffpr")
    widget.set_device("cpu")
    widget.set_params(t_corrupt=200, steps=3, sampler="ddim")
    previews = []
    worker = widget.run(start=False)
    worker.yielded.connect(lambda ev: previews.append(ev.preview is not None))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        worker.start()
    layer = viewer.layers["holo [diffpr]"]
    assert layer.data.shape == hologram.shape
    np.testing.assert_allclose(layer.scale, (0.2, 0.2))
    assert layer.metadata["parameters"]["device"] == "cpu" and tiny_diffpr[-1] == "cpu"
    assert layer.metadata["stage1_cached"] is False
    assert any(previews)
    first = layer.data.copy()

    widget.form["t_corrupt"].value = 400
    qtbot.waitUntil(lambda: viewer.layers["holo [diffpr]"].metadata["parameters"]["t_corrupt"] == 400
                    and widget.worker is None, timeout=60_000)
    layer = viewer.layers["holo [diffpr]"]
    assert layer.metadata["stage1_cached"] is True
    assert not np.array_equal(layer.data, first)
    assert not any(lay.name.endswith("preview") for lay in viewer.layers)
