"""io.read / write: round trips with physical metadata, the shared measured files, bad files."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_diffpr import io
from napari_diffpr.errors import InputError
from napari_diffpr.result import Result

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _img(shape=(40, 48), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_phase_tiff_round_trip_keeps_data_pixel_size_and_record(tmp_path):
    phase = _img() * 6 - 1
    before = phase.copy()
    meta = {"pixel_size_um": 0.3, "wavelength_um": 0.532, "method": "fourier",
            "parameters": {"filter_size": 0.5, "sideband": (12, -7)}, "seconds": np.float64(0.25)}
    path = io.write_phase_tiff(tmp_path / "phase.tif", phase, meta)
    np.testing.assert_array_equal(phase, before)
    (item,) = io.read(path)
    assert item.kind == "phase" and item.name == "phase"
    assert item.data.dtype == np.float32
    np.testing.assert_array_equal(item.data, phase)
    assert item.metadata["pixel_size_um"] == 0.3
    assert item.metadata["wavelength_um"] == 0.532
    assert item.metadata["parameters"] == {"filter_size": 0.5, "sideband": [12, -7]}
    assert item.metadata["seconds"] == 0.25
    # Other readers see the physical scale in the standard tags, not only in our JSON.
    with tifffile.TiffFile(path) as tif:
        assert tif.imagej_metadata["unit"] == "um"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.3, rel=1e-6)
        assert json.loads(tif.imagej_metadata["Info"])["metadata"]["method"] == "fourier"


def test_result_and_stack_written_as_float32_with_pixel_size_from_parameters(tmp_path):
    stack = np.stack([_img(seed=i) for i in range(3)]).astype(np.float64)
    res = Result(phase=stack, metadata={"method": "tie", "parameters": {"pixel_size": 0.25}})
    (item,) = io.read(io.write_phase_tiff(tmp_path / "stack.tif", res))
    assert item.data.shape == (3, 40, 48) and item.data.dtype == np.float32
    assert item.metadata["axes"] == "TYX"
    assert item.metadata["pixel_size_um"] == 0.25
    assert item.metadata["method"] == "tie"


def test_measurement_tiffs_keep_kind_and_integer_type(tmp_path):
    holo = (_img() * 4000).astype(np.uint16)
    (item,) = io.read(io.write_tiff(tmp_path / "h.tif", holo, {"pixel_size_um": 0.1}, kind="background"))
    assert item.kind == "background" and item.data.dtype == np.uint16
    np.testing.assert_array_equal(item.data, holo)
    rgb = _img((40, 48, 3))
    (item,) = io.read(io.write_tiff(tmp_path / "rgb.tif", rgb, {"pixel_size_um": 0.5}, kind="rgb"))
    assert item.kind == "rgb" and item.data.shape == (40, 48, 3)
    np.testing.assert_array_equal(item.data, rgb)
    assert item.metadata["pixel_size_um"] == pytest.approx(0.5)


def test_foreign_tiff_pixel_sizes(tmp_path):
    data = (_img() * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "ome.ome.tif", data, ome=True,
                     metadata={"PhysicalSizeX": 110, "PhysicalSizeXUnit": "nm"})
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
                     metadata={"unit": "micron"})
    tifffile.imwrite(tmp_path / "cm.tif", data, resolution=(1e4 / 2.0, 1e4 / 2.0), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "none.tif", data)
    tifffile.imwrite(tmp_path / "rgbc.tif", np.moveaxis(_img((40, 48, 3)), -1, 0), imagej=True,
                     metadata={"axes": "CYX"})
    (ome,) = io.read(tmp_path / "ome.ome.tif")
    assert ome.name == "ome" and ome.kind == "hologram" and ome.metadata["format"] == "ome-tiff"
    assert ome.metadata["pixel_size_um"] == pytest.approx(0.11)
    assert io.read(tmp_path / "ij.tif")[0].metadata["pixel_size_um"] == pytest.approx(0.65, rel=1e-5)
    assert io.read(tmp_path / "cm.tif")[0].metadata["pixel_size_um"] == pytest.approx(2.0)
    assert io.read(tmp_path / "none.tif")[0].metadata["pixel_size_um"] is None
    rgbc = io.read(tmp_path / "rgbc.tif")[0]
    assert rgbc.kind == "rgb" and rgbc.data.shape == (40, 48, 3)


def test_npy_and_npz(tmp_path):
    holo, bg, gt = _img(seed=1), _img(seed=2), _img(seed=3)
    np.save(tmp_path / "h.npy", holo)
    (item,) = io.read(tmp_path / "h.npy")
    assert item.kind == "hologram" and item.metadata["pixel_size_um"] is None
    np.testing.assert_array_equal(item.data, holo)
    np.save(tmp_path / "rgb.npy", _img((40, 48, 3)))
    assert io.read(tmp_path / "rgb.npy")[0].kind == "rgb"
    np.save(tmp_path / "rgba.npy", _img((40, 48, 4)))  # rgb, so validation can ask to drop alpha
    assert io.read(tmp_path / "rgba.npy")[0].kind == "rgb"

    path = io.write_npz(tmp_path / "s.npz", holo, background=bg, phase=gt,
                        metadata={"pixel_size_um": 0.2, "wavelength_um": 0.633})
    items = io.read(path)
    assert [(i.name, i.kind) for i in items] == [("s", "hologram"), ("s background", "background"),
                                                ("s ground truth", "phase")]
    for i, arr in zip(items, (holo, bg, gt)):
        np.testing.assert_array_equal(i.data, arr)
        assert i.metadata["pixel_size_um"] == 0.2 and i.metadata["wavelength_um"] == 0.633

    np.savez(tmp_path / "single.npz", whatever=holo)
    assert io.read(tmp_path / "single.npz")[0].kind == "hologram"


def test_write_dispatches_by_suffix(tmp_path):
    phase = _img()
    assert io.read(io.write(tmp_path / "a.tif", Result(phase=phase, metadata={"method": "m"})))[0].metadata["method"] == "m"
    np.testing.assert_array_equal(io.read(io.write(tmp_path / "a.npy", phase))[0].data, phase)
    np.testing.assert_array_equal(io.read(io.write(tmp_path / "a.npz", phase, kind="hologram"))[0].data, phase)
    with pytest.raises(InputError, match=r"\.png"):
        io.write(tmp_path / "a.png", phase)


@pytest.mark.skipif(not (SHARED / "hl60_hologram.npz").exists(), reason="../shared/data not present")
def test_shared_hl60_npz_gives_hologram_and_background():
    holo, bg = io.read(SHARED / "hl60_hologram.npz")
    assert holo.kind == "hologram" and bg.kind == "background"
    assert holo.data.shape == bg.data.shape == (200, 210)
    assert holo.data.dtype == np.uint8


@pytest.mark.skipif(not (SHARED / "cell_hologram_oah.h5").exists(), reason="../shared/data not present")
def test_shared_qpformat_hdf5_with_physical_metadata():
    pytest.importorskip("h5py")
    (item,) = io.read(SHARED / "cell_hologram_oah.h5")
    assert item.kind == "hologram" and item.data.shape == (294, 280)
    assert item.metadata["pixel_size_um"] == pytest.approx(0.08475, rel=1e-3)
    assert item.metadata["wavelength_um"] == pytest.approx(0.532)
    assert item.metadata["medium_index"] == pytest.approx(1.333)


def test_hdf5_series_and_wrong_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "series.h5", "w") as h5:
        h5.attrs["file_format"] = "qpformat"
        h5.attrs["imaging_modality"] = "off-axis holography"
        for i in range(2):
            ds = h5.create_dataset(str(i), data=(_img(seed=i) * 255).astype(np.uint8))
            ds.attrs["pixel size"] = 1e-7
            ds.attrs["wavelength"] = 6.33e-7
    (item,) = io.read(tmp_path / "series.h5")
    assert item.data.shape == (2, 40, 48) and item.metadata["axes"] == "TYX"
    assert item.metadata["pixel_size_um"] == pytest.approx(0.1)
    assert item.metadata["wavelength_um"] == pytest.approx(0.633)
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5.create_dataset("images", data=_img())
    with pytest.raises(InputError, match="qpformat"):
        io.read(tmp_path / "other.h5")


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.read(tmp_path / "missing.tif")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unsupported file type '.txt'"):
        io.read(tmp_path / "notes.txt")
    for name in ("broken.tif", "broken.npy", "broken.npz", "broken.h5"):
        (tmp_path / name).write_bytes(b"\x00\x01garbage" * 10)
        with pytest.raises(InputError, match="cannot read broken"):
            io.read(tmp_path / name)
    np.savez(tmp_path / "keys.npz", a=_img(), b=_img())
    with pytest.raises(InputError, match="expected a key 'data'"):
        io.read(tmp_path / "keys.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="Python objects"):
        io.read(tmp_path / "obj.npy")
    np.save(tmp_path / "vec.npy", np.arange(5.0))
    with pytest.raises(InputError, match="expected a numeric image"):
        io.read(tmp_path / "vec.npy")
    with pytest.raises(InputError, match="H x W"):
        io.write_phase_tiff(tmp_path / "p.tif", np.zeros(5))
    with pytest.raises(InputError, match=r"\.tif"):
        io.write_phase_tiff(tmp_path / "p.png", _img())


def test_import_io_does_not_import_torch_or_napari():
    code = ("import sys, napari_diffpr.io, napari_diffpr.metrics; "
            "bad = [m for m in ('torch', 'napari', 'qtpy', 'PyQt6') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
