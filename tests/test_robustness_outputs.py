"""Nothing lost: the CLI refuses to overwrite (unless --overwrite), never writes over its own
input (also through hard and symbolic links), checks its outputs before computing, and every
writer is atomic (a failed write leaves the previous file intact and no partial file)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_diffpr import io
from napari_diffpr.cli import main
from napari_diffpr.errors import InputError, OutputError

from conftest import fringe_hologram


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def holo_npz(tmp_path):
    holo = fringe_hologram(64)
    return io.write_npz(tmp_path / "h.npz", holo, background=fringe_hologram(64, seed=1) * 0 + holo.mean() + 0.01 *
                        np.random.default_rng(2).normal(size=holo.shape).astype(np.float32),
                        metadata={"pixel_size_um": 0.2})


def test_reconstruct_refuses_to_overwrite_without_flag(tmp_path, capsys, holo_npz):
    out = tmp_path / "p.tif"
    out.write_bytes(b"previous result")
    code, _, err = _run(["reconstruct", holo_npz, "-o", out, "-q"], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"previous result"
    code, _, err = _run(["reconstruct", holo_npz, "-o", out, "-q", "--overwrite"], capsys)
    assert code == 0, err
    assert io.read(out)[0].kind == "phase"


def test_readme_sequence_simulate_tif_then_reconstruct_keeps_the_ground_truth(tmp_path, capsys):
    pytest.importorskip("napari_diffpr.optics.simulate")
    code, _, err = _run(["simulate", "--size", "64", "-o", tmp_path / "cell.tif"], capsys)
    assert code == 0, err
    truth = _digest(tmp_path / "cell_phase.tif")
    code, _, err = _run(["reconstruct", tmp_path / "cell.tif", "-o", tmp_path / "cell_phase.tif", "-q"], capsys)
    assert code == 2 and "already exists" in err
    assert _digest(tmp_path / "cell_phase.tif") == truth
    # simulating again onto the same name refuses too, before simulating, for all three files
    (tmp_path / "cell.tif").unlink()
    bg = _digest(tmp_path / "cell_background.tif")
    code, _, err = _run(["simulate", "--size", "64", "--seed", "3", "-o", tmp_path / "cell.tif"], capsys)
    assert code == 2 and "cell_background.tif already exists" in err
    assert not (tmp_path / "cell.tif").exists()  # nothing written at all
    assert _digest(tmp_path / "cell_background.tif") == bg and _digest(tmp_path / "cell_phase.tif") == truth


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_never_writes_over_its_input_through_a_link_even_with_overwrite(tmp_path, capsys, holo_npz, link):
    alias = tmp_path / "alias.npz"
    (os.link if link == "hard" else os.symlink)(holo_npz, alias)
    before = _digest(holo_npz)
    for target in (alias, holo_npz):
        code, _, err = _run(["reconstruct", holo_npz, "-o", target, "-q", "--overwrite"], capsys)
        assert code == 2 and "same file as the input" in err, err
    code, _, err = _run(["reconstruct", alias, "-o", holo_npz, "-q", "--overwrite"], capsys)
    assert code == 2 and "same file as the input" in err
    assert _digest(holo_npz) == before


def test_background_file_is_protected_too(tmp_path, capsys, holo_npz):
    np.save(tmp_path / "bg.npy", fringe_hologram(64, seed=4))
    before = _digest(tmp_path / "bg.npy")
    code, _, err = _run(["reconstruct", holo_npz, "-b", tmp_path / "bg.npy", "-o", tmp_path / "bg.npy",
                         "--overwrite", "-q"], capsys)
    assert code == 2 and "same file as the input" in err
    assert _digest(tmp_path / "bg.npy") == before


@pytest.mark.parametrize("case", ["png", "folder", "parent_is_file", "read_only"])
def test_output_problems_are_found_before_computing(tmp_path, capsys, holo_npz, monkeypatch, case):
    import napari_diffpr.api as api

    def never(*a, **k):
        raise AssertionError("reconstruct ran although the output could not be written")

    monkeypatch.setattr(api, "reconstruct", never)
    if case == "png":
        out, message = tmp_path / "out.png", "unsupported file type"
    elif case == "folder":
        out, message = tmp_path / "sub", "is a folder"
        out.mkdir()
    elif case == "parent_is_file":
        (tmp_path / "plain").write_text("x")
        out, message = tmp_path / "plain" / "out.tif", "not a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; covered by parent_is_file")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out, message = ro / "out.tif", "cannot write into the folder"
    code, _, err = _run(["reconstruct", holo_npz, "-m", "diffpr", "-o", out, "-q"], capsys)
    assert code == 2 and message in err, err


def test_symlink_loop_input_is_a_clear_error(tmp_path, capsys):
    loop = tmp_path / "loop.tif"
    os.symlink(loop, loop)
    code, _, err = _run(["reconstruct", loop, "-o", tmp_path / "p.tif", "-q"], capsys)
    assert code == 2 and "symlink loop" in err
    with pytest.raises(FileNotFoundError, match="symlink loop"):
        io.read(loop)


def test_a_failing_write_keeps_the_previous_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import tifffile

    good = io.write_phase_tiff(tmp_path / "p.tif", fringe_hologram(64), {"pixel_size_um": 0.2})
    before = _digest(good)

    def broken_imwrite(fh, *args, **kwargs):
        fh.write(b"II*\x00" + b"\x00" * 1000)  # half a file, then the disk "fills up"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", broken_imwrite)
    with pytest.raises(OutputError, match="No space left.*previous file is unchanged"):
        io.write_phase_tiff(good, fringe_hologram(64, seed=1))
    assert _digest(good) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif"]  # no temporary file left


@pytest.mark.skipif(sys.platform != "linux", reason="ulimit -f is a POSIX shell feature")
def test_file_size_limit_midway_keeps_previous_output(tmp_path, holo_npz):
    """The issue's reproduction: `(ulimit -f 300; napari-diffpr reconstruct big.npz -o prev.tif)`."""
    big = tmp_path / "big.npz"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:512, :512]
    io.write_npz(big, (1 + np.cos(2 * np.pi * (0.21 * x + 0.13 * y)) + 0.01 * rng.normal(size=x.shape))
                 .astype(np.float32))
    prev = tmp_path / "prev.tif"
    io.write_phase_tiff(prev, fringe_hologram(64))
    before = _digest(prev)
    code = (f"import sys; from napari_diffpr.cli import main; "
            f"sys.exit(main(['reconstruct', {str(big)!r}, '-o', {str(prev)!r}, '-q', '--overwrite', "
            f"'--unwrap', 'lsq']))")
    # 300 blocks of 512 bytes = 150 kB: less than the 1 MB float32 phase map
    proc = subprocess.run(["bash", "-c", f"ulimit -f 300; exec {sys.executable!r} -c {code!r}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "previous file is unchanged" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _digest(prev) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz", "h.npz", "prev.tif"]


@pytest.mark.parametrize("writer", ["phase_tiff", "ome", "npz", "npy"])
def test_truncated_outputs_read_back_as_an_error(tmp_path, writer):
    data = fringe_hologram(64)
    path = {"phase_tiff": tmp_path / "p.tif", "ome": tmp_path / "p.ome.tif", "npz": tmp_path / "p.npz",
            "npy": tmp_path / "p.npy"}[writer]
    io.write(path, data, {"pixel_size_um": 0.2}, kind="phase" if writer != "npz" else "hologram")
    full = path.read_bytes()
    for keep in (0, 8, len(full) // 2, len(full) - 100):
        path.write_bytes(full[:keep])
        with pytest.raises(InputError, match="empty|truncated|damaged"):
            io.read(path)


def test_io_writers_refuse_existing_files_without_overwrite(tmp_path):
    data = fringe_hologram(48)
    for name in ("a.tif", "a.ome.tif", "a.npz", "a.npy"):
        p = tmp_path / name
        p.write_bytes(b"keep me")
        with pytest.raises(OutputError, match="already exists"):
            io.write(p, data, kind="hologram" if name.endswith(".npz") else "phase", overwrite=False)
        assert p.read_bytes() == b"keep me"
        p.unlink()
        io.write(p, data, kind="hologram" if name.endswith(".npz") else "phase", overwrite=False)
        assert io.read(p)[0].data.shape == (48, 48)


def test_written_files_get_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        p = io.write_phase_tiff(tmp_path / "p.tif", fringe_hologram(48))
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644  # not the 0600 of a temporary file


def test_demo_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    pytest.importorskip("napari_diffpr.optics.simulate")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "out.tif"
    out.write_bytes(b"mine")
    code, _, err = _run(["demo", "--no-gui", "--size", "64", "-q", "-o", out], capsys)
    assert code == 2 and "already exists" in err and out.read_bytes() == b"mine"


def test_readme_command_line_block_runs_in_order_in_an_empty_folder(tmp_path, monkeypatch, capsys):
    """The README's own command sequence re-writes cell_phase.tif: with the overwrite guard it
    must say --overwrite where it means it."""
    import re
    import shlex

    pytest.importorskip("napari_diffpr.optics.simulate")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("### Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    commands = [shlex.split(re.sub(r"\s+#.*$", "", line))[1:] for line in block.strip().splitlines()]
    assert len(commands) >= 4
    for argv in commands:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)


def test_files_named_by_options_are_not_taken_for_batch_inputs(tmp_path, holo_npz):
    """`reconstruct IN -b BG -o OUT` and `--weights FILE` name existing files that are not
    inputs: the single-file command (with its output checks) must handle them."""
    from napari_diffpr import batch

    np.save(tmp_path / "bg.npy", fringe_hologram(64))
    (tmp_path / "w.safetensors").write_bytes(b"x")
    for option, value in (("-b", tmp_path / "bg.npy"), ("--background", tmp_path / "bg.npy"),
                          ("--weights", tmp_path / "w.safetensors"), ("--prior-weights", tmp_path / "w.safetensors")):
        assert not batch.wants_batch([str(holo_npz), option, str(value), "-o", str(tmp_path / "p.tif")]), option
