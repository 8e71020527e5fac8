"""Release shape: declared dependencies match the imports, the manifest loads without torch, the
README's two commands and .ci/run agree. (Building and installing the wheel is done in .ci/run.)"""
import ast
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "napari_diffpr"

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
requirements = pytest.importorskip("packaging.requirements")
version = pytest.importorskip("packaging.version")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(reqs):
    return {re.split(r"[\[<>=!~; ]", r, 1)[0].lower().replace("_", "-") for r in reqs}


def test_torch_range_accepts_the_ci_build():
    deps = _pyproject()["project"]["dependencies"]
    torch = next(requirements.Requirement(r) for r in deps if r.startswith("torch"))
    assert torch.specifier.contains(version.Version("2.13.0"))
    # No Qt binding is forced on users (they may have PySide); the gui/test extras bring PyQt6.
    assert not _names(deps) & {"pyqt5", "pyqt6", "pyside2", "pyside6"}


def _third_party_imports():
    """Top-level modules imported anywhere in the package, except the standard library and us."""
    found = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top != "napari_diffpr":
                    found.setdefault(top, path.relative_to(ROOT))
    return found


def test_every_imported_package_is_declared():
    project = _pyproject()["project"]
    runtime = _names(project["dependencies"])
    optional = _names(project["optional-dependencies"].get("hdf5", []))
    dist_of = metadata.packages_distributions()
    undeclared = {}
    for module, where in _third_party_imports().items():
        dists = {d.lower().replace("_", "-") for d in dist_of.get(module, [module])}
        if not dists & (runtime | optional):
            undeclared[module] = str(where)
    assert not undeclared, f"imported but not declared in pyproject dependencies: {undeclared}"


def test_manifest_is_declared_and_valid():
    from npe2 import PluginManifest

    project = _pyproject()
    assert project["project"]["entry-points"]["napari.manifest"]["napari-diffpr"] == "napari_diffpr:napari.yaml"
    assert "napari.yaml" in project["tool"]["setuptools"]["package-data"]["napari_diffpr"]
    assert "weights/*.safetensors" in project["tool"]["setuptools"]["package-data"]["napari_diffpr"]
    manifest = PluginManifest.from_file(SRC / "napari.yaml")
    assert manifest.name == "napari-diffpr"
    assert "Framework :: napari" in project["project"]["classifiers"]


def test_importing_package_manifest_cli_and_io_does_not_import_torch_or_qt():
    code = """
import sys
import napari_diffpr, napari_diffpr.io, napari_diffpr.metrics, napari_diffpr.cli
from npe2 import PluginManifest
from importlib.resources import files
PluginManifest.from_file(str(files("napari_diffpr") / "napari.yaml"))
napari_diffpr.cli.build_parser()
napari_diffpr.methods()
bad = [m for m in ("torch", "napari", "qtpy", "PyQt6", "PySide6") if m in sys.modules]
print(bad)
sys.exit(1 if bad else 0)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < text.index("\n## "), "README must start with the commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands_ci_runs():
    cmds = _readme_commands()
    assert len(cmds) == 2
    run_main, run_tests = cmds
    for cmd in cmds:  # the CPU torch goes in before anything that could pull another one
        assert cmd.index("pip install torch==2.13.0") < cmd.index("pip install .") if "pip install ." in cmd \
            else cmd.index("pip install torch==2.13.0") < cmd.index("pip install -e")
    assert "napari-diffpr demo" in run_main
    assert "python -m pytest" in run_tests and '".[test]"' in run_tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci and "npe2 validate napari-diffpr" in ci and "python -m build" in ci
    # .ci/run executes the README's second command verbatim: check its extraction rule finds it.
    proc = subprocess.run(["awk", r'/^```/ { fence++; next } fence == 1 && NF { n++; if (n == 2) { print; exit } }',
                           str(ROOT / "README.md")], capture_output=True, text=True)
    assert proc.stdout.strip() == run_tests


def test_ci_script_is_executable_in_git():
    proc = subprocess.run(["git", "ls-files", "-s", ".ci/run"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout:
        pytest.skip("not a git checkout")
    assert proc.stdout.startswith("100755"), proc.stdout


def test_public_api_names_survive_submodule_imports():
    code = """
import napari_diffpr as dp
import napari_diffpr.api, napari_diffpr.methods, napari_diffpr.metrics, napari_diffpr.io  # submodules loaded
assert callable(dp.methods) and "fourier" in dp.methods(), dp.methods
assert callable(dp.reconstruct) and callable(dp.compare) and callable(dp.read) and callable(dp.write)
assert dp.Result.__name__ == "Result" and dp.Progress.__name__ == "Progress"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_napari_readers_open_files_without_torch(tmp_path):
    from npe2 import PluginManifest

    if not PluginManifest.from_file(SRC / "napari.yaml").contributions.readers:
        pytest.skip("the manifest declares no readers yet")
    import numpy as np

    from napari_diffpr import io

    y, x = np.mgrid[:48, :48]
    holo = (1 + np.cos(2 * np.pi * 0.2 * (x + y))).astype(np.float32)
    io.write_npz(tmp_path / "h.npz", holo, background=holo, metadata={"pixel_size_um": 0.25})
    code = f"""
import sys
from npe2 import PluginManager
from npe2.io_utils import read
PluginManager.instance().discover()
layers = read([{str(tmp_path / "h.npz")!r}], plugin_name="napari-diffpr", stack=False)
assert len(layers) == 2, [l[1].get("name") for l in layers]      # hologram + background
scales = [tuple(l[1].get("scale", ())) for l in layers]
assert all(s and s[-1] == 0.25 for s in scales), scales             # pixel size -> layer scale
bad = [m for m in ("torch",) if m in sys.modules]
sys.exit(f"reading imported {{bad}}" if bad else 0)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md", "docs/api.md", "docs/cli.md"])
def test_relative_links_in_docs_resolve(doc):
    path = ROOT / doc
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://", t) and not t.startswith("#")]
    missing = [t for t in local if t and not (path.parent / t).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"
