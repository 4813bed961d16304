"""The read_molecules dispatcher (rhoml.io.__init__)."""

from __future__ import annotations

import types

import numpy as np
import pytest
from conftest import shared_path

import rhoml.io
from rhoml import Molecule
from rhoml.errors import InputError
from rhoml.io import SUPPORTED, default_multiplicity, read_molecules


def test_supported_listing():
    for key in (".xyz", ".extxyz", ".sdf", ".mol2", ".pdb", ".npz", "<folder>", "qm9[:N]"):
        assert key in SUPPORTED


def test_lazy_reexports():
    assert callable(rhoml.io.read_xyz) and callable(rhoml.io.load_pdbbind)
    assert rhoml.io.QM9_TARGETS["gap"] == "hartree"
    with pytest.raises(AttributeError):
        rhoml.io.no_such_reader  # noqa: B018


def test_default_multiplicity():
    assert default_multiplicity([8, 1, 1]) == 1
    assert default_multiplicity([8, 1]) == 2
    assert default_multiplicity([8, 1], charge=-1) == 1


def test_dispatch_by_extension(tmp_path, water):
    rhoml.io.write_xyz(tmp_path / "w.xyz", [water, water])
    rhoml.io.write_xyz(tmp_path / "w.extxyz", water)
    mols = read_molecules(tmp_path / "w.xyz")
    assert isinstance(mols, types.GeneratorType)
    assert [m.formula for m in mols] == ["H2O", "H2O"]
    assert next(read_molecules(str(tmp_path / "w.extxyz"))).id == "water"
    np.savez(tmp_path / "t.npz", z=np.array([1, 1]), R=np.array([[[0, 0, 0], [0, 0, 0.74]]]))
    assert next(read_molecules(tmp_path / "t.npz")).formula == "H2"
    (tmp_path / "p.PDB").write_text(
        "ATOM      1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n"
        "ATOM      2  H   LIG A   2       0.000   0.000   0.960  1.00  0.00           H\n"
    )
    assert next(read_molecules(tmp_path / "p.PDB")).formula == "H"  # water residue dropped


def test_dispatch_sdf_mol2_and_folder():
    root = shared_path("data", "pdbbind_sample")
    (lig,) = read_molecules(root / "1a61" / "1a61_ligand.sdf")
    (lig2,) = read_molecules(root / "1a61" / "1a61_ligand.mol2")
    assert lig.n_atoms == lig2.n_atoms == 73
    first = next(read_molecules(root))
    assert first.id == "1a61" and first.groups is not None and "pK" in first.labels


def test_dispatch_qm9():
    from rhoml.io.qm9 import qm9_data_dir

    try:
        qm9_data_dir()
    except InputError as exc:
        pytest.skip(str(exc))
    mols = list(read_molecules("qm9:3"))
    assert [m.id for m in mols] == ["qm9_000001", "qm9_000002", "qm9_000003"]
    assert all(isinstance(m, Molecule) for m in mols)


def test_dispatch_errors(tmp_path):
    with pytest.raises(InputError, match="missing.xyz: no such file"):
        read_molecules(tmp_path / "missing.xyz")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(InputError, match=r"data\.csv: unknown file extension '\.csv'"):
        read_molecules(tmp_path / "data.csv")
    (tmp_path / "noext").write_text("x")
    with pytest.raises(InputError, match=r"noext: unknown file extension '\(none\)'"):
        read_molecules(tmp_path / "noext")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="folder: folder is not a recognised layout"):
        read_molecules(tmp_path / "folder")
