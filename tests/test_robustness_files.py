"""The malformed-file zoo, made here: every reader (io.read, the napari reader, the CLI) answers
a damaged, truncated, odd or hostile file with one of the project's documented errors, never a
raw IndexError/KeyError/EOFError, and never changes the file. Plus a bounded hypothesis fuzz of
every reader with truncated and corrupted copies of valid files."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_diffpr import io
from napari_diffpr._napari.reader import napari_get_reader, read_layers
from napari_diffpr.errors import DiffPRError, InputError

from conftest import fringe_hologram

DOCUMENTED = (DiffPRError, FileNotFoundError)
h5py = pytest.importorskip("h5py")


def _img(shape=(40, 48), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32) + 0.5


def _qpformat(path, frames, attrs=None, key="0"):
    with h5py.File(path, "w") as h5:
        h5.attrs["file_format"] = "qpformat"
        h5.attrs["imaging_modality"] = "off-axis holography"
        for i, f in enumerate(frames):
            ds = h5.create_dataset(key if i == 0 else str(i), data=f)
            for k, v in (attrs or {}).items():
                ds.attrs[k] = v
    return path


def _ome_xml(physical_size_x: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
            '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="float" SizeX="48" SizeY="40" '
            f'SizeC="1" SizeZ="1" SizeT="1" PhysicalSizeX="{physical_size_x}" PhysicalSizeY="0.2">'
            '<Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData/></Pixels></Image></OME>')


def make_zoo(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, a regex the InputError/FileNotFoundError message must match)."""
    zoo: dict[str, tuple[Path, str]] = {}

    def add(name, path, match):
        zoo[name] = (path, match)

    rng = np.random.default_rng(0)
    (d / "random.tif").write_bytes(rng.bytes(4096))
    add("random bytes .tif", d / "random.tif", "not a TIFF|damaged")
    (d / "tiff_header_only.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    add("TIFF header without IFD", d / "tiff_header_only.tif", "damaged|no image|truncated")
    for suffix in (".tif", ".npy", ".npz", ".h5"):
        (d / f"empty{suffix}").write_bytes(b"")
        add(f"zero-byte {suffix}", d / f"empty{suffix}", "empty")
    np.save(d / "full.npy", _img())
    full = (d / "full.npy").read_bytes()
    (d / "trunc.npy").write_bytes(full[: len(full) // 2])
    add("truncated .npy", d / "trunc.npy", "truncated")
    (d / "header_only.npy").write_bytes(full[:10])
    add("npy cut inside its header", d / "header_only.npy", "header is damaged|not an NPY")
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object))
    add("object .npy", d / "objects.npy", "Python objects")
    np.save(d / "complex.npy", _img().astype(np.complex64))
    add("complex .npy", d / "complex.npy", "complex")
    np.save(d / "vector.npy", np.arange(5.0))
    add("1-D .npy", d / "vector.npy", "numeric image")
    np.save(d / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    add("text .npy", d / "strings.npy", "numeric image")
    tifffile.imwrite(d / "complex.tif", _img().astype(np.complex64))
    add("complex TIFF", d / "complex.tif", "complex")
    io.write_phase_tiff(d / "good.tif", _img(), {"pixel_size_um": 0.2})
    good = (d / "good.tif").read_bytes()
    (d / "trunc.tif").write_bytes(good[: len(good) // 2])
    add("truncated TIFF", d / "trunc.tif", "truncated|damaged")
    np.savez(d / "zero_size.npz", data=np.zeros((0, 5), np.float32))
    add("NPZ with a zero-size array", d / "zero_size.npz", "empty axis")
    np.savez(d / "obj.npz", data=np.array([[{"a": 1}]], dtype=object))
    add("object NPZ", d / "obj.npz", "Python objects")
    np.savez(d / "complex.npz", data=_img().astype(np.complex128))
    add("complex NPZ", d / "complex.npz", "complex")
    np.savez(d / "no_images.npz", a=np.arange(3), b=np.arange(4))
    add("NPZ without images", d / "no_images.npz", "expected a key 'data'")
    io.write_npz(d / "good.npz", _img())
    goodz = (d / "good.npz").read_bytes()
    (d / "trunc.npz").write_bytes(goodz[: len(goodz) // 2])
    add("truncated NPZ", d / "trunc.npz", "damaged|truncated")
    (d / "random.npz").write_bytes(rng.bytes(2000))
    add("random bytes .npz", d / "random.npz", "damaged|not an NPZ")
    (d / "random.h5").write_bytes(rng.bytes(2000))
    add("random bytes .h5", d / "random.h5", "damaged|not HDF5")
    with h5py.File(d / "other.h5", "w") as h5:
        h5.create_dataset("image", data=_img())
    add("HDF5 not qpformat", d / "other.h5", "qpformat")
    with h5py.File(d / "group0.h5", "w") as h5:
        h5.attrs["file_format"] = "qpformat"
        h5.attrs["imaging_modality"] = "off-axis holography"
        h5.create_group("0")
    add("HDF5 with a group named 0", d / "group0.h5", "not a hologram dataset")
    with h5py.File(d / "extlink.h5", "w") as h5:
        h5.attrs["file_format"] = "qpformat"
        h5.attrs["imaging_modality"] = "off-axis holography"
        h5["0"] = h5py.ExternalLink("elsewhere.h5", "/data")
    add("HDF5 with an external link", d / "extlink.h5", "link to another file")
    _qpformat(d / "ragged.h5", [_img(), _img((30, 30))])
    add("HDF5 frames of different shapes", d / "ragged.h5", "different shapes")
    _qpformat(d / "complex.h5", [_img().astype(np.complex64)])
    add("complex HDF5", d / "complex.h5", "complex")
    (d / "folder.tif").mkdir()
    add("a folder named .tif", d / "folder.tif", "is a folder")
    os.symlink(d / "loop.tif", d / "loop.tif")
    add("symlink loop", d / "loop.tif", "symlink loop")
    add("missing file", d / "missing.tif", "no such file")
    (d / "unknown.png").write_bytes(b"\x89PNG")
    add("unsupported suffix", d / "unknown.png", "unsupported file type")
    return zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("zoo"))


def test_every_malformed_file_gives_a_documented_error_and_stays_unchanged(zoo):
    for name, (path, match) in zoo.items():
        before = path.read_bytes() if path.is_file() else None
        with pytest.raises(DOCUMENTED, match=match) as info:
            io.read(path)
        assert isinstance(info.value, (InputError, FileNotFoundError)), (name, info.value)
        with pytest.raises(DOCUMENTED):
            read_layers(str(path))
        reader = napari_get_reader(str(path))  # claims only files in our layouts (here: damaged)
        assert reader is None or name.startswith(("truncated", "NPZ", "object NPZ", "complex NPZ", "HDF5 ",
                                                  "complex HDF5")), name
        if reader is not None:
            with pytest.raises(InputError):
                reader(str(path))
        if before is not None:
            assert path.read_bytes() == before, name


def test_cli_reports_every_malformed_input_without_a_traceback(zoo, tmp_path, capsys):
    from napari_diffpr.cli import main

    for name, (path, _) in zoo.items():
        code = main(["reconstruct", str(path), "-o", str(tmp_path / "out.tif"), "-q"])
        out, err = capsys.readouterr()
        assert code == 2, (name, err)
        assert err.startswith("napari-diffpr: error:") and "Traceback" not in err, (name, err)
    assert not (tmp_path / "out.tif").exists()


def test_odd_metadata_is_ignored_not_fatal(tmp_path):
    """Records and attributes of the wrong type: the image still reads, the values become None
    and the raw text is kept under ignored_metadata."""
    # TIFF record that is a list / a string / has a list as metadata
    for i, info in enumerate(([1, 2, 3], "napari_diffpr", {"napari_diffpr": "0", "kind": 5, "metadata": [1]})):
        tifffile.imwrite(tmp_path / f"r{i}.tif", _img(), imagej=True, metadata={"Info": json.dumps(info)})
        (item,) = io.read(tmp_path / f"r{i}.tif")
        assert item.kind == "hologram" and item.data.shape == (40, 48)
    # NPZ metadata_json that is a list, a string, a number array
    for i, record in enumerate(([1, 2], "text", None)):
        arrays = {"data": _img()}
        arrays["metadata_json"] = np.arange(3) if record is None else np.array(json.dumps(record))
        np.savez(tmp_path / f"m{i}.npz", **arrays)
        assert io.read(tmp_path / f"m{i}.npz")[0].data.shape == (40, 48)
    # pixel sizes that make no sense, in our own record
    for bad in ("abc", -0.3, 0, float("inf"), [0.1, 0.2]):
        path = io.write_npz(tmp_path / "px.npz", _img(), metadata={"pixel_size_um": bad})
        (item,) = io.read(path)
        assert item.metadata["pixel_size_um"] is None
        assert "pixel_size_um" in item.metadata["ignored_metadata"]
        (_, kwargs, _), = read_layers(str(path))
        assert "scale" not in kwargs  # never a negative or text scale in napari
    # qpformat attributes given as text or arrays
    _qpformat(tmp_path / "a.h5", [_img()], {"pixel size": "3.45e-7", "wavelength": np.array([6.33e-7]),
                                            "medium index": np.array([1.0, 2.0])})
    (item,) = io.read(tmp_path / "a.h5")
    assert item.metadata["pixel_size_um"] == pytest.approx(0.345)
    assert item.metadata["wavelength_um"] == pytest.approx(0.633)
    assert item.metadata["medium_index"] is None and "medium_index" in item.metadata["ignored_metadata"]
    _qpformat(tmp_path / "b.h5", [_img()], {"pixel size": "abc"})
    assert io.read(tmp_path / "b.h5")[0].metadata["pixel_size_um"] is None


@pytest.mark.parametrize("value, expected", [("abc", None), ("-0.2", None), ("0.25", 0.25)])
def test_ome_physical_size_is_parsed_by_tifffile(tmp_path, value, expected):
    path = tmp_path / "x.ome.tif"
    tifffile.imwrite(path, _img(), description=_ome_xml(value), metadata=None)
    (item,) = io.read(path)
    assert item.metadata["format"] == "ome-tiff"
    assert item.metadata["pixel_size_um"] == (pytest.approx(expected) if expected else None)


def test_planar_rgb_tiff_reads_as_rgb_not_a_stack(tmp_path):
    rgb = _img((40, 48, 3))
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    (item,) = io.read(tmp_path / "planar.tif")
    assert item.kind == "rgb" and item.data.shape == (40, 48, 3)
    np.testing.assert_array_equal(item.data, rgb)


def test_ome_tiff_writer_keeps_pixel_size_and_record_for_tifffile_and_napari(tmp_path):
    phase = _img() - 0.5
    meta = {"pixel_size_um": 0.15, "method": "fourier", "parameters": {"filter_size": 0.4}}
    path = io.write_phase_tiff(tmp_path / "phase.ome.tif", phase, meta)
    with tifffile.TiffFile(path) as tif:  # any OME reader sees the physical size
        assert tif.is_ome
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert pixels["PhysicalSizeX"] == pytest.approx(0.15) and pixels["PhysicalSizeXUnit"] == "µm"
    (item,) = io.read(path)
    assert item.kind == "phase" and item.metadata["format"] == "ome-tiff"
    assert item.metadata["pixel_size_um"] == 0.15 and item.metadata["parameters"] == {"filter_size": 0.4}
    np.testing.assert_array_equal(item.data, phase)
    reader = napari_get_reader(str(path))
    assert reader is not None
    [(data, kwargs, _)] = reader(str(path))
    assert kwargs["scale"] == pytest.approx((0.15, 0.15)) and kwargs["metadata"]["method"] == "fourier"
    # ImageJ TIFF stays available for any name
    ij = io.write_phase_tiff(tmp_path / "ij.ome.tif", phase, meta, layout="imagej")
    with tifffile.TiffFile(ij) as tif:
        assert tif.is_imagej and not tif.is_ome


def test_reader_claims_only_files_it_understands(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", _img())
    np.save(tmp_path / "plain.npy", _img())
    np.savez(tmp_path / "other.npz", image=_img())
    for name in ("plain.tif", "plain.npy", "other.npz"):
        assert napari_get_reader(str(tmp_path / name)) is None, name
        assert io.read(tmp_path / name)[0].data.shape == (40, 48)  # still readable on request
    io.write_phase_tiff(tmp_path / "ours.tif", _img())
    np.savez(tmp_path / "keys.npz", data=_img())
    _qpformat(tmp_path / "q.h5", [_img()])
    for name in ("ours.tif", "keys.npz", "q.h5"):
        assert napari_get_reader(str(tmp_path / name)) is not None, name


def test_napari_writer_refuses_rgb_layers(tmp_path):
    from napari_diffpr._napari.writer import write_phase

    with pytest.raises(InputError, match="RGB"):
        write_phase(str(tmp_path / "x.tif"), _img((64, 64, 3)), {"rgb": True, "name": "rgb", "metadata": {}})
    assert not (tmp_path / "x.tif").exists()
    with pytest.raises(InputError, match="RGB"):  # even when napari's state does not say rgb
        io.write_phase_tiff(tmp_path / "x.tif", _img((64, 64, 3)))
    path = write_phase(str(tmp_path / "p.tif"), _img(), {"scale": (-0.3, -0.3), "units": ("µm", "µm"),
                                                        "metadata": {"pixel_size_um": "abc"}, "name": "p"})[0]
    assert io.read(path)[0].metadata["pixel_size_um"] is None


# --------------------------------------------------------------------------- reader fuzz
def _valid_files(d: Path) -> list[Path]:
    holo = fringe_hologram(40)
    files = [io.write_phase_tiff(d / "p.tif", holo, {"pixel_size_um": 0.2}),
             io.write_phase_tiff(d / "p.ome.tif", holo, {"pixel_size_um": 0.2}),
             io.write_tiff(d / "rgb.tif", _img((40, 40, 3)), kind="rgb"),
             io.write_npz(d / "s.npz", holo, background=holo, phase=holo),
             d / "a.npy"]
    np.save(d / "a.npy", holo)
    files.append(_qpformat(d / "q.h5", [holo, holo], {"pixel size": 3.45e-7}))
    return files


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    return [(p.suffix if not p.name.endswith(".ome.tif") else ".ome.tif", p.read_bytes()) for p in _valid_files(d)]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, 5), cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                                                     max_size=8))
def test_fuzz_readers_truncated_and_corrupted_files(tmp_path_factory, valid_files, which, cut, flips):
    suffix, blob = valid_files[which]
    data = bytearray(blob[: max(0, int(len(blob) * cut))] if cut < 0.999 else blob)
    for where, value in flips:
        if data:
            data[min(len(data) - 1, int(where * len(data)))] = value
    d = tmp_path_factory.mktemp("fuzz", numbered=True)
    path = d / f"f{suffix}"
    path.write_bytes(bytes(data))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for read in (io.read, read_layers):
        try:
            out = read(str(path))
        except DOCUMENTED:
            pass
        else:
            assert out and all(np.asarray(x.data if hasattr(x, "data") else x[0]).size > 0 for x in out)
    napari_get_reader(str(path))  # never raises
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
