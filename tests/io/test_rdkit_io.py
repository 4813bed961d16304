"""SDF / MOL2 through RDKit (rhoml.io.rdkit_io)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import InputError, UnknownElementError
from rhoml.io.rdkit_io import read_mol2, read_sdf

Chem = pytest.importorskip("rdkit.Chem")
AllChem = pytest.importorskip("rdkit.Chem.AllChem")


def _embedded(smiles: str, seed: int = 7):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return mol


@pytest.fixture
def sdf_path(tmp_path):
    path = tmp_path / "set.sdf"
    writer = Chem.SDWriter(str(path))
    for name, smiles, props in [
        ("ethanol", "CCO", {"energy": "-154.1", "energy_unit": "hartree", "tag": "a b"}),
        ("acetate", "CC(=O)[O-]", {"energy": "-228.0"}),
        ("", "[NH4+]", {}),
    ]:
        mol = _embedded(smiles)
        mol.SetProp("_Name", name)
        for k, v in props.items():
            mol.SetProp(k, v)
        writer.write(mol)
    writer.close()
    return path


MOL2 = """### comment
@<TRIPOS>MOLECULE
ammonium
 5 4 1 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 N1          0.0000    0.0000    0.0000 N.4     1 NH4       0.0000
      2 H1          0.6291    0.6291    0.6291 H       1 NH4       0.0000
      3 H2         -0.6291   -0.6291    0.6291 H       1 NH4       0.0000
      4 H3         -0.6291    0.6291   -0.6291 H       1 NH4       0.0000
      5 H4          0.6291   -0.6291   -0.6291 H       1 NH4       0.0000
@<TRIPOS>BOND
     1     1     2    1
     2     1     3    1
     3     1     4    1
     4     1     5    1
@<TRIPOS>MOLECULE
water
 3 2 1 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 O1          0.0000    0.0000    0.1173 O.3     1 HOH       0.0000
      2 H1          0.0000    0.7572   -0.4692 H       1 HOH       0.0000
      3 H2          0.0000   -0.7572   -0.4692 H       1 HOH       0.0000
@<TRIPOS>BOND
     1     1     2    1
     2     1     3    1
"""

WATER_BLOCK = """water
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
   -0.0060    0.3862   -0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
   -0.7951   -0.1953   -0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.8011   -0.1909    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  1  3  1  0
M  END
"""


def _error(path, reader, exc=InputError):
    with pytest.raises(exc) as info:
        list(reader(path))
    msg = str(info.value)
    assert path.name in msg and "\n" not in msg
    return msg


# -- SDF ----------------------------------------------------------------------------------------
def test_sdf_multi_record(sdf_path):
    mols = list(read_sdf(sdf_path))
    assert [m.id for m in mols] == ["set#0", "set#1", "set#2"]
    eth, ace, nh4 = mols
    assert eth.formula == "C2H6O" and eth.n_atoms == 9  # hydrogens kept
    assert (ace.charge, nh4.charge) == (-1, 1)
    assert eth.labels["name"] == "ethanol" and "name" not in nh4.labels
    assert eth.labels["energy"] == -154.1 and eth.label_units["energy"] == "hartree"
    assert ace.label_units["energy"] == "unknown"
    assert eth.labels["tag"] == "a b" and eth.label_units["tag"] == "text"
    assert eth.source.endswith("set.sdf#0")
    assert np.all(np.isfinite(eth.positions)) and np.ptp(eth.positions) > 1.0


def test_sdf_label_unit_override(sdf_path):
    ace = list(read_sdf(sdf_path, label_units={"energy": "kcal/mol"}))[1]
    assert ace.label_units["energy"] == "kcal/mol"


def test_sdf_single_record_id(tmp_path):
    path = tmp_path / "water.mol"
    path.write_text(WATER_BLOCK)
    (mol,) = read_sdf(path)
    assert mol.id == "water" and mol.formula == "H2O"


def test_sdf_errors(tmp_path, capfd):
    cases = {
        "empty.sdf": ("", "empty file"),
        "count.sdf": (WATER_BLOCK.replace("  3  2  0", "  5  2  0"), "line 8: atom 4 of 5"),
        "trunc.sdf": ("\n".join(WATER_BLOCK.splitlines()[:5]), "line 5: record ends after 1 of 3"),
        "coord.sdf": (WATER_BLOCK.replace("0.3862", "0.38x2"), "line 5: non-numeric coordinate"),
        "counts.sdf": (WATER_BLOCK.replace("  3  2  0  0", " xx  2  0  0"), "bad counts line"),
        "header.sdf": ("title\n\n", "record ends after"),
        "bond.sdf": (WATER_BLOCK.replace("  1  2  1  0", "  1 99  1  0"), "RDKit could not"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert expected in _error(path, read_sdf), name
    path = tmp_path / "elem.sdf"
    path.write_text(WATER_BLOCK.replace(" O   0", " Qx  0"))
    assert "line 5: unknown element 'Qx'" in _error(path, read_sdf, UnknownElementError)
    # sanitization is optional; its failure names RDKit's reason
    bad = Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False)
    path = tmp_path / "valence.sdf"
    path.write_text(Chem.MolToMolBlock(bad) + "$$$$\n")
    assert len(list(read_sdf(path))) == 1
    assert "valence" in _error(path, lambda p: read_sdf(p, sanitize=True))
    assert capfd.readouterr().err == ""  # RDKit's own logging is silenced


def test_sdf_lazy(tmp_path):
    path = tmp_path / "two.sdf"
    path.write_text(WATER_BLOCK + "$$$$\n" + WATER_BLOCK.replace("0.3862", "a") + "$$$$\n")
    it = read_sdf(path)
    assert next(it).id == "two#0"
    with pytest.raises(InputError, match=r"two\.sdf#1: line 16: non-numeric"):
        next(it)


# -- MOL2 ---------------------------------------------------------------------------------------
def test_mol2_multi_record(tmp_path):
    path = tmp_path / "ions.mol2"
    path.write_text(MOL2)
    nh4, water = read_mol2(path)
    assert (nh4.id, water.id) == ("ions#0", "ions#1")
    assert nh4.formula == "H4N" and nh4.charge == 1 and nh4.labels["name"] == "ammonium"
    assert water.charge == 0 and water.positions[1, 1] == pytest.approx(0.7572)


def test_mol2_errors(tmp_path):
    cases = {
        "empty.mol2": ("", "no @<TRIPOS>MOLECULE"),
        "junk.mol2": ("hello\n", "expected '@<TRIPOS>MOLECULE'"),
        "trunc.mol2": (MOL2.replace(" 5 4 1 0 0", " 7 4 1 0 0"), "ends after 5 of 7 atoms"),
        "coord.mol2": (
            MOL2.replace("0.6291    0.6291    0.6291", "0.6291    zz    0.6291"),
            "line 10: non-numeric coordinate 'zz'",
        ),  # fmt: skip
        "fields.mol2": (
            MOL2.replace("0.6291 H       1 NH4       0.0000", "", 1),
            "line 10: expected 6 or more fields, got 4",
        ),  # fmt: skip
        "noatoms.mol2": ("@<TRIPOS>MOLECULE\nx\n 1 0\n", "no @<TRIPOS>ATOM"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert expected in _error(path, read_mol2), name
    path = tmp_path / "du.mol2"
    path.write_text(MOL2.replace(" N.4 ", " Du  "))
    assert "unknown element 'Du'" in _error(path, read_mol2, UnknownElementError)


# -- real data ----------------------------------------------------------------------------------
def test_pdbbind_sample_files():
    folder = shared_path("data", "pdbbind_sample", "1a61")
    (sdf,) = read_sdf(folder / "1a61_ligand.sdf")
    (mol2,) = read_mol2(folder / "1a61_ligand.mol2")
    assert sdf.n_atoms == mol2.n_atoms == 73
    assert sdf.numbers.tolist() == mol2.numbers.tolist()
    np.testing.assert_allclose(sdf.positions, mol2.positions, atol=1e-3)
    assert sdf.charge == mol2.charge
