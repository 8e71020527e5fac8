"""Issue 12, part 4 (batch): many inputs on Dask distributed, resumable, failures listed,
bit-identical to the serial run."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("ome_zarr")

from conftest import fringe_hologram  # noqa: E402

from napari_diffpr import batch, io, omezarr  # noqa: E402
from napari_diffpr.cli import main  # noqa: E402

OPTS = ["--unwrap", "lsq", "-q"]


def _inputs(folder, n_files=3, n_frames=4):
    folder.mkdir()
    for i in range(n_files):
        holo = (fringe_hologram(64, seed=i) * 1000).astype(np.uint16)
        io.write_tiff(folder / f"cell{i}.tif", holo, {"pixel_size_um": 0.2})
    movie = np.stack([fringe_hologram(64, seed=10 + i) for i in range(n_frames)])
    omezarr.write(folder / "movie.ome.zarr", movie, {"pixel_size_um": 0.2, "time_step_s": 2.0}, kind="hologram")
    return folder


def _outputs(folder):
    out = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        item = io.read(p)[0]
        data = item.data.compute() if hasattr(item.data, "compute") else item.data
        out[p.name] = (np.asarray(data), item.metadata)
    return out


def test_local_cluster_of_two_worker_processes_is_bit_identical_to_serial(tmp_path, capsys):
    src = _inputs(tmp_path / "in")
    assert main(["reconstruct", str(src), "-o", str(tmp_path / "serial"), "--workers", "0", *OPTS]) == 0
    assert main(["reconstruct", str(src / "cell*.tif"), str(src / "movie.ome.zarr"), "-o", str(tmp_path / "dist"),
                 "--workers", "2", "--frames-per-task", "1", *OPTS]) == 0
    text = capsys.readouterr().out
    assert "LocalCluster of 2 worker(s)" in text and "0 task(s) failed" in text
    serial, dist = _outputs(tmp_path / "serial"), _outputs(tmp_path / "dist")
    assert sorted(serial) == ["cell0_phase.tif", "cell1_phase.tif", "cell2_phase.tif", "movie_phase.ome.zarr"]
    assert sorted(dist) == sorted(serial)
    for name in serial:
        assert serial[name][0].tobytes() == dist[name][0].tobytes(), name  # bit-identical
    movie, meta = dist["movie_phase.ome.zarr"]
    assert movie.shape == (4, 64, 64) and np.isfinite(movie).all()
    assert meta["scale"] == [2.0, 0.2, 0.2] and meta["complete"] is True
    assert meta["method"] == "fourier" and meta["parameters"]["unwrap"] == "lsq"
    assert serial["cell1_phase.tif"][1]["pixel_size_um"] == pytest.approx(0.2)


def test_workers_use_their_own_thread_count_for_ffts_and_report_failures():
    from distributed import Client, LocalCluster

    from napari_diffpr.retrieval import fftutil

    before = fftutil.WORKERS
    task = batch.Task("nowhere.tif", "nowhere_phase.tif", None, "missing")
    try:  # an in-process worker (processes=False) changes this process's setting: restored below
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            report = client.submit(batch.run_task, task, "fourier", {}, None, False, pure=False).result()
        assert fftutil.WORKERS == 1  # the worker's one thread, not every core
    finally:
        fftutil.WORKERS = before
    assert not report["ok"] and "nowhere.tif" in report["error"]  # a failure comes back as a report


def test_resume_skips_written_outputs_and_frames_and_failures_are_listed(tmp_path, capsys):
    src = _inputs(tmp_path / "in", n_files=2, n_frames=3)
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 20)  # a truncated TIFF
    out = tmp_path / "out"
    assert main(["reconstruct", str(src), "-o", str(out), "--workers", "0", *OPTS]) == 1
    err = capsys.readouterr().err
    assert "failed (1)" in err and "broken.tif" in err
    assert (out / "cell0_phase.tif").exists() and (out / "cell1_phase.tif").exists()  # the rest went on
    reference = _outputs(out)
    # interrupt: one output lost, one movie frame's record lost (as if the crash came mid-frame)
    (out / "cell1_phase.tif").unlink()
    kept = (out / "cell0_phase.tif").stat().st_mtime_ns
    (out / "movie_phase.ome.zarr" / omezarr.FRAMES_DIR / "1.json").unlink()
    omezarr.FrameStore(out / "movie_phase.ome.zarr").array[1] = np.zeros((64, 64), np.float32)
    (src / "broken.tif").unlink()
    assert main(["reconstruct", str(src), "-o", str(out), "--workers", "0", *OPTS]) == 0
    captured = capsys.readouterr()
    assert "skip:" in captured.err and "2 of 3 frame(s) already written" in captured.err
    assert "reconstructed 2 frame(s)" in captured.out  # cell1 + movie frame 1, nothing else
    assert (out / "cell0_phase.tif").stat().st_mtime_ns == kept  # not rewritten
    again = _outputs(out)
    for name in reference:
        np.testing.assert_array_equal(again[name][0], reference[name][0])
    # nothing left: a third run does nothing; --overwrite recomputes
    assert main(["reconstruct", str(src), "-o", str(out), "--workers", "0", *OPTS]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_batch_is_chosen_only_when_needed_and_inputs_expand(tmp_path):
    src = _inputs(tmp_path / "in", n_files=2, n_frames=2)
    one = str(src / "cell0.tif")
    assert not batch.wants_batch([one, "-o", str(tmp_path / "x.tif")])
    assert batch.wants_batch([one, "-o", str(tmp_path / "x.ome.zarr")])
    assert batch.wants_batch([str(src), "-o", str(tmp_path / "o")])
    assert batch.wants_batch([one, "-o", str(tmp_path / "o") + "/"])  # an output folder, by its slash
    assert not batch.wants_batch([one, "-o", str(src)])  # existing folder, no slash: the old clear error
    assert batch.wants_batch([one, str(src / "cell1.tif"), "-o", str(tmp_path / "o")])
    assert batch.wants_batch([one, "-o", str(tmp_path / "o"), "--scheduler", "tcp://x:1"])
    names = [p.name for p in batch.expand_inputs([str(src), str(src / "cell*.tif")])]
    assert names == ["cell0.tif", "cell1.tif", "movie.ome.zarr"]  # sorted, no duplicates
    with pytest.raises(FileNotFoundError):
        batch.expand_inputs([str(src / "nope.tif")])


def test_time_step_and_format_options_reach_the_ome_zarr_output(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    stack = (np.stack([fringe_hologram(64, seed=i) for i in range(3)]) * 1000).astype(np.uint16)
    io.write_tiff(src / "lapse.tif", stack, {"pixel_size_um": 0.2})
    out = tmp_path / "out"
    assert main(["reconstruct", str(src / "lapse.tif"), "-o", str(out) + "/", "--workers", "0", "--format", "zarr",
                 "--time-step", "5", *OPTS]) == 0
    item, = io.read(out / "lapse_phase.ome.zarr")
    assert item.metadata["scale"] == [5.0, pytest.approx(0.2), pytest.approx(0.2)]
    assert item.metadata["axis_labels"] == ["t", "y", "x"] and item.data.shape == (3, 64, 64)
