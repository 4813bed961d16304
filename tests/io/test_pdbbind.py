"""PDBbind-style complexes and index files (rhoml.io.pdbbind)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import InputError
from rhoml.io.pdbbind import load_pdbbind, read_core_set, read_pdbbind_index

POCKET = """ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  GLY A   1       1.450   0.000   0.000  1.00  0.00           C
ATOM      3  H   GLY A   1      -0.500   0.800   0.000  1.00  0.00           H
HETATM    4  O   HOH A 201       9.000   9.000   9.000  1.00  0.00           O
END
"""

LIGAND = """lig
     RDKit          3D

  2  1  0  0  0  0  0  0  0  0999 V2000
    3.0000    0.0000    0.0000 N   0  0  0  0  0  0  0  0  0  0  0  0
    4.0000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
M  CHG  1   2  -1
M  END
$$$$
"""

INDEX = """# ==============================================================================
# List of protein-ligand complexes in PDBbind refined set v.2020
# PDB code, resolution, release year, -logKd/Ki, Kd/Ki, reference, ligand name
# ==============================================================================
1abc  2.00  2007   6.50  Kd=316nM      // 1abc.pdf (LIG)
2xyz  NMR   2010   4.25  Ki=56uM       // 2xyz.pdf (XYZ)
3def  1.80  2015   9.00  Kd=1nM        // 3def.pdf (DEF)
"""


def _tree(tmp_path, codes=("1abc", "2xyz", "3def"), index=INDEX):
    root = tmp_path / "refined-set"
    for code in codes:
        d = root / code
        d.mkdir(parents=True)
        (d / f"{code}_pocket.pdb").write_text(POCKET)
        (d / f"{code}_protein.pdb").write_text(POCKET)
        (d / f"{code}_ligand.sdf").write_text(LIGAND)
    if index is not None:
        (root / "index").mkdir()
        (root / "index" / "INDEX_refined_data.2020").write_text(index)
    return root


def test_sample_50_complexes():
    root = shared_path("data", "pdbbind_sample")
    with open(root / "labels_pK.csv") as fh:
        expected = {row["pdb_code"]: float(row["pK"]) for row in csv.DictReader(fh)}
    mols = load_pdbbind(root)
    assert len(mols) == 50 == len(expected)
    assert {m.id for m in mols} == set(expected)
    for m in mols:
        assert m.labels["pK"] == expected[m.id] and m.label_units["pK"] == "dimensionless"
        assert m.groups is not None and m.groups.shape == (m.n_atoms,)
        assert set(np.unique(m.groups).tolist()) == {0, 1}
        assert m.groups[-1] == 1 and m.groups[0] == 0  # protein first, then ligand
        assert m.labels["charge_assumed"] is True
        assert m.charge == m.labels["ligand_charge"]
        assert (m.n_electrons + m.multiplicity - 1) % 2 == 0
    assert read_pdbbind_index(root / "labels_pK.csv") == expected


def test_sample_protein_and_mol2():
    root = shared_path("data", "pdbbind_sample")
    pocket, protein = (load_pdbbind(root, ["1a61"], pocket=p)[0] for p in (True, False))
    assert protein.n_atoms > pocket.n_atoms
    assert (protein.groups == 1).sum() == (pocket.groups == 1).sum() == 73
    mol2 = load_pdbbind(root, ["1a61"], ligand_format="mol2")[0]
    np.testing.assert_allclose(mol2.positions, pocket.positions, atol=1e-3)
    with pytest.raises(InputError, match=r"pdbbind 3qlb: .*3qlb_ligand\.mol2#0: RDKit"):
        load_pdbbind(root, ["3qlb"], ligand_format="mol2")
    with pytest.warns(UserWarning, match="skipped: pdbbind 3qlb"):
        assert load_pdbbind(root, ["3qlb", "1a61"], ligand_format="mol2", on_error="skip")


def test_synthetic_tree_with_index(tmp_path):
    root = _tree(tmp_path)
    mols = load_pdbbind(root)
    assert [m.id for m in mols] == ["1abc", "2xyz", "3def"]
    m = mols[1]
    assert m.labels["pK"] == 4.25
    assert m.symbols == ["N", "C", "H", "N", "O"]  # water dropped
    assert m.groups.tolist() == [0, 0, 0, 1, 1]
    assert m.charge == -1 and m.labels["ligand_charge"] == -1
    assert m.multiplicity == 1  # 29 + 1 = 30 electrons
    assert load_pdbbind(root, ["2xyz"], keep_waters=True)[0].n_atoms == 6
    assert load_pdbbind(root, ["2xyz"], labels={"2xyz": 1.5})[0].labels["pK"] == 1.5


def test_core_set(tmp_path):
    root = _tree(tmp_path)
    core_file = tmp_path / "CoreSet.dat"
    core_file.write_text(
        "#code  resl  year  logKa  Ka  target\n3def  1.80  2015  9.00  Kd=1nM  1\n"
    )
    assert read_core_set(core_file) == {"3def"}
    mols = load_pdbbind(root, core_set=core_file)
    assert [m.labels["in_core_set"] for m in mols] == [False, False, True]
    assert [m.id for m in load_pdbbind(root, core_set=["3def"], subset="noncore")] == [
        "1abc", "2xyz",
    ]  # fmt: skip
    assert [m.id for m in load_pdbbind(root, core_set=core_file, subset="core")] == ["3def"]
    assert read_pdbbind_index(core_file) == {"3def": 9.0}
    with pytest.raises(InputError, match="needs core_set"):
        load_pdbbind(root, subset="core")


def test_read_index_errors(tmp_path):
    def error(text, expected):
        path = tmp_path / "INDEX_bad.2020"
        path.write_text(text)
        with pytest.raises(InputError) as info:
            read_pdbbind_index(path)
        msg = str(info.value)
        assert "INDEX_bad.2020" in msg and expected in msg and "\n" not in msg

    error("# only comments\n", "empty file")
    error(INDEX + "4ghi  2.0  2001\n", "line 8: expected 4 or more fields, got 3")
    error(INDEX + "4ghi  2.0  2001  Kd=5\n", "line 8: 4th field: binding datum 'Kd=5'")
    error(INDEX + "notacode  2.0  2001  5.0\n", "is not a PDB code")
    error("pdb_code,pK\n1abc,x\n", "line 2: pK 'x' is not a number")
    error("name,value\n1abc,5\n", "needs a code column")


def test_complex_errors(tmp_path):
    root = _tree(tmp_path)
    (root / "2xyz" / "2xyz_pocket.pdb").unlink()
    with pytest.raises(InputError, match=r"pdbbind 2xyz: missing file .*2xyz_pocket\.pdb"):
        load_pdbbind(root)
    assert [m.id for m in load_pdbbind(root, pocket=False)] == ["1abc", "2xyz", "3def"]
    (root / "1abc" / "1abc_ligand.sdf").write_text(LIGAND.replace("3.0000", "3.x000"))
    with pytest.raises(InputError, match=r"pdbbind 1abc: .*1abc_ligand\.sdf#0: line 5"):
        load_pdbbind(root, ["1abc"])
    (root / "3def" / "3def_protein.pdb").write_text(POCKET.replace("1.450", "1.4x0"))
    with pytest.raises(InputError, match=r"pdbbind 3def: .*3def_protein\.pdb: line 2"):
        load_pdbbind(root, ["3def"], pocket=False)
    with pytest.raises(InputError, match="complex 9zzz: no folder"):
        load_pdbbind(root, ["9zzz"])

    unlabeled = _tree(tmp_path / "b", index=INDEX.replace("3def", "4def"))
    with pytest.raises(InputError, match="pdbbind 3def: no pK for 3def in .*INDEX_refined"):
        load_pdbbind(unlabeled, require_labels=True)
    mols = load_pdbbind(unlabeled)  # labels are optional by default
    assert "pK" not in mols[2].labels and mols[0].labels["pK"] == 6.5
    no_index = _tree(tmp_path / "c", index=None)
    assert all("pK" not in m.labels for m in load_pdbbind(no_index))
    with pytest.raises(InputError, match="no such folder"):
        load_pdbbind(tmp_path / "nowhere")
    with pytest.raises(InputError, match="ligand_format"):
        load_pdbbind(root, ligand_format="pdb")


def test_measure_and_qualifier_labels_and_recorded_failures(tmp_path):
    new = (
        "1abc  2.00  2007  Kd=316nM  // r\n2xyz  NMR  2010  IC50<56uM  // r\n3def 1.8 2015 Ki=1nM\n"
    )
    root = _tree(tmp_path, index=new)
    mols = {m.id: m for m in load_pdbbind(root)}
    assert mols["1abc"].labels["pK"] == pytest.approx(-np.log10(316e-9))
    assert mols["2xyz"].labels["measure"] == "IC50" and mols["2xyz"].labels["qualifier"] == "<"
    assert mols["3def"].labels["measure"] == "Ki" and mols["3def"].labels["qualifier"] == "="
    # labels=False reads none, even where a label file exists
    assert all("pK" not in m.labels for m in load_pdbbind(root, labels=False))
    # a recording on_error gets each failure, the rest are read
    (root / "2xyz" / "2xyz_pocket.pdb").unlink()
    failed = []
    got = load_pdbbind(root, on_error=lambda code, exc: failed.append((code, str(exc))))
    assert [m.id for m in got] == ["1abc", "3def"]
    assert failed[0][0] == "2xyz" and "missing file" in failed[0][1]
