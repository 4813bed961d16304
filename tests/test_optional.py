"""Dependencies: every third-party package the code imports is declared in pyproject.toml, every
declared runtime dependency is used, and a missing optional one gives a one-line install hint
(or a silent fallback where there is one). Missing packages are simulated in sys.modules."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from rhoml.errors import RhomlError

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "rhoml"
# imported by name only where their extra is installed (not importable here without a GPU)
GPU_ONLY = {"gpu4pyscf": "gpu4pyscf", "cupy": "gpu4pyscf"}
# data packages located without importing them
DATA_ONLY = {"qm9pack"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]).lower()


def _names(requirement: str) -> set[str]:
    """The package of a requirement and, for ``dask[distributed]``, what its extra installs."""
    extras = re.search(r"\[([^\]]*)\]", requirement)
    return {_name(requirement)} | (
        {_name(e) for e in extras.group(1).split(",")} if extras else set()
    )


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "rhoml"}


def test_imports_and_declared_dependencies_agree():
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {
        n for reqs in project["optional-dependencies"].values() for r in reqs for n in _names(r)
    }
    declared = runtime | extras
    dists = importlib.metadata.packages_distributions()
    used: set[str] = set()
    for module in sorted(_imported_modules()):
        names = {_name(d) for d in dists.get(module, [])} or {GPU_ONLY.get(module, module)}
        assert names & declared, f"{module} is imported but not declared in pyproject.toml"
        used |= names
    unused = runtime - used - {"dask"} - DATA_ONLY
    assert not unused, f"declared but never imported: {sorted(unused)}"
    assert "mrcfile" not in declared


def test_optional_packages_are_extras_and_the_test_extra_has_them():
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    for package in ("dask", "numba", "scikit-image"):
        assert package not in runtime
    assert {"tomli-w"} <= runtime
    assert "import-linter" in {_name(r) for r in extras["test"]}
    assert any(r.startswith("rhoml[") and "dask" in r and "fast" in r for r in extras["test"])
    assert (SRC / "py.typed").is_file()
    assert (
        "py.typed"
        in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-data"
        ]["rhoml"]
    )


def test_scheduler_without_dask_is_a_one_line_install_hint(tmp_path, capsys, monkeypatch, water):
    from rhoml.cli import main
    from rhoml.io import write_xyz

    monkeypatch.setitem(sys.modules, "distributed", None)
    write_xyz(tmp_path / "w.xyz", water)
    code = main(["density", "compute", str(tmp_path / "w.xyz"), "--method", "promolecule",
                 "--out", str(tmp_path / "s"), "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "rhoml: error: --scheduler needs distributed: pip install 'rhoml[dask]'"


def test_voxelizer_without_numba_falls_back_to_torch(monkeypatch):
    pytest.importorskip("torch")
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    monkeypatch.setitem(sys.modules, "numba", None)
    assert Voxelizer(VoxelSpec()).uses_kernels is False  # backend="auto": silent fallback
    with pytest.raises(RhomlError, match=r"needs numba: pip install 'rhoml\[fast\]'"):
        Voxelizer(VoxelSpec(), backend="numba")
