"""Every python block of docs/napari.md runs, in order, in one viewer (as in napari's console)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui
DOC = Path(__file__).resolve().parents[1] / "docs" / "napari.md"


def test_console_examples_in_docs_run(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    viewer = make_napari_viewer()
    namespace = {"viewer": viewer}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    recon = namespace["recon"]
    qtbot.waitUntil(lambda: recon.worker is None, timeout=60_000)
    layer = viewer.layers["hologram [fourier]"]
    assert layer.metadata["parameters"]["unwrap"] == "lsq"  # the dock's run replaced the first
    assert namespace["scores"]["psnr"] > 20
    assert (tmp_path / "profile.csv").stat().st_size > 0 and (tmp_path / "phase.tif").exists()
    assert "hologram [fourier] abs. error" in viewer.layers
