"""Issue 12, part 2: OME-Zarr in and out (scale, axes, time step, record; per-frame resume)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ome_zarr")
pytest.importorskip("dask")

from conftest import fringe_hologram  # noqa: E402

from napari_diffpr import io, omezarr  # noqa: E402
from napari_diffpr.api import reconstruct  # noqa: E402
from napari_diffpr.errors import OutputError  # noqa: E402


def test_round_trip_keeps_pixels_scale_axes_time_step_and_records(tmp_path):
    holo = np.stack([fringe_hologram(64, seed=i) for i in range(3)])
    res = reconstruct(holo, "fourier", unwrap="lsq")
    out = io.write(tmp_path / "phase.ome.zarr", res, {"pixel_size_um": 0.25, "time_step_s": 30.0},
                   overwrite=False)
    # a conforming NGFF 0.4 image for ome-zarr-py's own reader
    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = list(Reader(parse_url(str(out), fmt=FormatV04()))())[0]
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "y", "x"]
    assert node.metadata["coordinateTransformations"][0][0]["scale"] == [30.0, 0.25, 0.25]
    item, = io.read(out)
    assert item.kind == "phase" and item.metadata["axes"] == "TYX"
    assert type(item.data).__module__.startswith("dask")  # lazy
    assert item.data.chunks == ((1, 1, 1), (64,), (64,))  # one chunk per frame
    np.testing.assert_array_equal(item.data.compute(), res.phase)
    assert item.metadata["pixel_size_um"] == 0.25 and item.metadata["time_step_s"] == 30.0
    assert item.metadata["scale"] == [30.0, 0.25, 0.25]
    assert item.metadata["method"] == "fourier" and item.metadata["parameters"]["unwrap"] == "lsq"
    recs = omezarr.FrameStore(out).frame_records()
    assert [recs[(i,)]["sideband_fy_fx"] for i in range(3)] == [f["sideband_fy_fx"] for f in res.metadata["frames"]]
    with pytest.raises(OutputError, match="already exists"):
        io.write(out, res, overwrite=False)


def test_tzyx_axes_and_refusal_of_five_leading_axes(tmp_path):
    ph = np.random.default_rng(0).random((2, 3, 40, 40)).astype(np.float32)
    out = omezarr.write(tmp_path / "tz.zarr", ph, {"pixel_size_um": 0.1, "z_step_um": 0.5, "axes": "TZYX"})
    item, = io.read(out)
    assert item.metadata["axis_labels"] == ["t", "z", "y", "x"]
    assert item.metadata["scale"] == [1.0, 0.5, 0.1, 0.1]
    np.testing.assert_array_equal(item.data.compute(), ph)
    with pytest.raises(Exception, match="at most a time and a z axis"):
        omezarr.write(tmp_path / "bad.zarr", np.zeros((1, 1, 1, 8, 8), np.float32))


def test_resume_after_an_interrupted_write_redoes_only_missing_frames(tmp_path):
    path = tmp_path / "run.ome.zarr"
    record = {"method": "fourier", "parameters": {"unwrap": "lsq"}, "input_shape": [4, 32, 32]}
    store = omezarr.FrameStore.create(path, (4,), (32, 32), record)
    frames = np.random.default_rng(1).random((4, 32, 32)).astype(np.float32)
    store.write_frame((0,), frames[0], {"i": 0})
    store.write_frame((1,), frames[1], {"i": 1})
    # a crash while frame 2 was being written: its pixels are (partly) there, its record is not
    store.array[2] = frames[2] * 0 - 1
    del store
    again = omezarr.FrameStore.create(path, (4,), (32, 32), record)  # resume (the default)
    assert again.done() == {(0,), (1,)}
    for i in sorted({(0,), (1,), (2,), (3,)} - again.done()):
        again.write_frame(i, frames[i[0]], {"i": i[0]})
    again.finish()
    item, = io.read(path)
    np.testing.assert_array_equal(item.data.compute(), frames)
    assert item.metadata["complete"] is True
    # a different run must not be mixed into it
    with pytest.raises(OutputError, match="different reconstruction"):
        omezarr.FrameStore.create(path, (4,), (32, 32), {**record, "parameters": {"unwrap": "none"}})
    # --overwrite replaces only a store we wrote, never another folder
    other = tmp_path / "notours.zarr"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="not an OME-Zarr written by napari-diffpr"):
        omezarr.FrameStore.create(other, (1,), (8, 8), record, overwrite=True)
    assert (other / "keep.txt").exists()


def test_frame_record_is_written_after_the_pixels(tmp_path, monkeypatch):
    store = omezarr.FrameStore.create(tmp_path / "a.zarr", (2,), (16, 16), {"method": "x"})

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(type(store.array), "__setitem__", crash)
    with pytest.raises(OSError):
        store.write_frame((0,), np.zeros((16, 16)), {"i": 0})
    assert store.done() == set()  # no record for a frame whose pixels failed
    assert not any((tmp_path / "a.zarr" / omezarr.FRAMES_DIR).iterdir())
    json.dumps(dict(store.group.attrs))  # attributes stay plain JSON
