"""``napari-diffpr measure``: the per-cell CSV from a result TIFF, from a raw hologram (--method),
with user labels; errors exit with status 2."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

import napari_diffpr as dp
from napari_diffpr.cli import main
from napari_diffpr.measure import measure

from cell_scenes import CELLS, PX_UM, WL_UM, match, scene

OPTS = ["--wavelength", str(WL_UM), "--pixel-size", str(PX_UM)]


@pytest.fixture(scope="module")
def hologram_npz(tmp_path_factory):
    phase, _ = scene()
    s = dp.simulate.hologram(phase, seed=5, wavelength_um=WL_UM, pixel_size_um=PX_UM)
    path = tmp_path_factory.mktemp("holo") / "cells.npz"
    np.savez(path, data=s.hologram, bg_data=s.background)  # no optics in the file
    return path


def test_measure_a_raw_hologram_with_method(hologram_npz, tmp_path, capsys):
    out = tmp_path / "cells.csv"
    assert main(["measure", str(hologram_npz), "--method", "fourier", *OPTS, "-o", str(out), "-q"]) == 0
    assert "5 cell(s) of the fourier reconstruction" in capsys.readouterr().out
    table = pd.read_csv(out)
    _, truth = scene()
    assert len(table) == len(CELLS)
    for (row, _), (_, _, mass) in zip(match(table, truth), truth):
        assert table.loc[row, "dry_mass_pg"] == pytest.approx(mass, rel=0.02)


def test_measure_a_result_tiff_matches_the_api_and_accepts_labels(hologram_npz, tmp_path):
    tif = tmp_path / "phase.tif"
    assert main(["reconstruct", str(hologram_npz), "-o", str(tif), *OPTS, "-q"]) == 0
    out = tmp_path / "cells.csv"
    labels_tif = tmp_path / "labels.tif"
    # the optics come from the TIFF's record: no flags needed
    assert main(["measure", str(tif), "-o", str(out), "--labels-out", str(labels_tif)]) == 0
    table = pd.read_csv(out)
    phase = dp.read(tif)[0].data
    api = measure(phase, wavelength_um=WL_UM, pixel_size_um=PX_UM)
    assert np.allclose(table["dry_mass_pg"], api["dry_mass_pg"], rtol=1e-6)
    labels = tifffile.imread(labels_tif)
    assert labels.max() == len(table)
    # corrected labels: drop one cell
    labels[labels == 1] = 0
    fixed = tmp_path / "fixed.tif"
    tifffile.imwrite(fixed, labels)
    out2 = tmp_path / "cells2.csv"
    assert main(["measure", str(tif), "--labels", str(fixed), "-o", str(out2)]) == 0
    table2 = pd.read_csv(out2)
    assert len(table2) == len(table) - 1
    # (the erased cell's pixels now count towards the background median: a tiny offset change)
    assert np.allclose(table2["dry_mass_pg"], table["dry_mass_pg"][1:], rtol=1e-3)


def test_measure_errors_exit_2(hologram_npz, tmp_path, capsys):
    holo_tif = tmp_path / "holo.tif"
    tifffile.imwrite(holo_tif, np.load(hologram_npz)["data"])
    assert main(["measure", str(holo_tif), "-o", str(tmp_path / "a.csv"), *OPTS]) == 2
    assert "--method" in capsys.readouterr().err
    assert main(["measure", str(hologram_npz), "--method", "fourier", "-o", str(tmp_path / "a.txt"), *OPTS]) == 2
    assert ".csv" in capsys.readouterr().err
    assert main(["measure", str(hologram_npz), "--method", "fourier", "-o", str(tmp_path / "b.csv")]) == 2
    assert "wavelength" in capsys.readouterr().err


def test_reconstruct_accepts_refocus_auto_on_the_command_line(hologram_npz, tmp_path):
    tif = tmp_path / "p.tif"
    assert main(["reconstruct", str(hologram_npz), "-o", str(tif), *OPTS, "--refocus", "auto", "-q"]) == 0
    record = dp.read(tif)[0].metadata
    assert record["parameters"]["refocus"] == "auto" and "focus_search" in record
    assert abs(record["refocus_um"]) < 0.5  # recorded in focus
