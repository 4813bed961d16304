"""PDB files through gemmi (rhoml.io.pdb): rules, highest-occupancy alternate locations, chains
with repeated residue numbers, and one-line errors for malformed and truncated files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import InputError, UnknownElementError
from rhoml.io import read_molecules
from rhoml.io.pdb import parse_pdb, read_pdb, read_pdb_structure

pytest.importorskip("gemmi")

PDB = """HEADER    TEST
ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA AGLY A   1       1.450   0.000   0.000  0.60  0.00           C
ATOM      3  CA BGLY A   1       1.460   0.100   0.000  0.40  0.00           C
ATOM      4  H   GLY A   1      -0.500   0.800   0.000  1.00  0.00           H
ATOM      5  NZ  LYS A   2       3.000   1.000   0.000  1.00  0.00           N1+
ATOM      6  HZ1 LYS A   2       3.500   1.500   0.000  1.00  0.00
HETATM    7 ZN    ZN A 101       5.000   5.000   5.000  1.00  0.00          ZN2+
HETATM    8  O   HOH A 201       9.000   9.000   9.000  1.00  0.00           O
END
"""

ATOM = "ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\n"


def _error(path, reader=read_pdb, exc=InputError):
    with pytest.raises(exc) as info:
        list(reader(path))
    msg = str(info.value)
    assert path.name in msg and "\n" not in msg
    return msg


def test_pdb_rules(tmp_path):
    path = tmp_path / "frag.pdb"
    path.write_text(PDB)
    (mol,) = read_pdb(path)
    # altloc B and the water dropped; element guessed for HZ1 from its name
    assert mol.symbols == ["N", "C", "H", "N", "H", "Zn"]
    assert mol.positions[1].tolist() == [1.45, 0.0, 0.0]
    assert mol.charge == 3 and mol.labels["charge_assumed"] is False
    assert mol.id == "frag"
    (with_water,) = read_pdb(path, keep_waters=True)
    assert with_water.n_atoms == 7
    assert parse_pdb(path, keep_hydrogens=False).numbers.tolist() == [7, 6, 7, 30]


def test_pdb_without_charges(tmp_path):
    path = tmp_path / "nocharge.pdb"
    text = PDB.replace("N1+", "N  ").replace("ZN2+", "ZN  ")
    path.write_text("".join(s for s in text.splitlines(True) if "HZ1" not in s))
    (mol,) = read_pdb(path)
    assert mol.charge == 0 and mol.labels["charge_assumed"] is True
    assert mol.multiplicity == 2  # odd electron count


def test_pdb_errors(tmp_path):
    atom = "ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\n"
    cases = {
        "empty.pdb": ("", "empty file", InputError),
        "none.pdb": ("HEADER    X\nEND\n", "no ATOM/HETATM", InputError),
        "short.pdb": ("ATOM      1  N   GLY A   1       0.000   0.000\n", "too short", InputError),
        "coord.pdb": (
            atom.replace("0.000   0.000   0.000", "0.000   x.000   0.000"),
            "line 1: non-numeric coordinate 'x.000'",
            InputError,
        ),  # fmt: skip
        "elem.pdb": (
            atom.replace("           N\n", "          QQ\n"),
            "unknown element 'QQ'",
            UnknownElementError,
        ),  # fmt: skip
        "charge.pdb": (
            atom.replace("           N\n", "           N?!\n"),
            "bad formal charge",
            InputError,
        ),  # fmt: skip
    }
    for name, (text, expected, exc) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert expected in _error(path, read_pdb, exc), name
    with pytest.raises(InputError, match="no such file"):
        read_pdb(tmp_path / "missing.pdb")


def test_highest_occupancy_conformer_is_kept(tmp_path):
    path = tmp_path / "alt.pdb"
    # residue 1: B has the higher occupancy; residue 2: a tie, the first listed (A) is kept
    path.write_text(
        PDB.replace("1.450   0.000   0.000  0.60", "1.450   0.000   0.000  0.30")
        .replace("1.460   0.100   0.000  0.40", "1.460   0.100   0.000  0.70")
        .replace(
            "ATOM      5  NZ  LYS A   2       3.000   1.000   0.000  1.00",
            "ATOM      5  NZ ALYS A   2       3.000   1.000   0.000  0.50",
        )
        .replace(
            "ATOM      6  HZ1 LYS A   2       3.500   1.500   0.000  1.00  0.00\n",
            "ATOM      6  HZ1ALYS A   2       3.500   1.500   0.000  0.50  0.00\n"
            "ATOM      7  NZ BLYS A   2       3.100   1.000   0.000  0.50  0.00           N1+\n"
            "ATOM      8  HZ1BLYS A   2       3.600   1.500   0.000  0.50  0.00\n",
        )
    )  # fmt: skip
    (mol,) = read_pdb(path)
    assert mol.symbols == ["N", "C", "H", "N", "H", "Zn"]
    assert mol.positions[1].tolist() == [1.46, 0.1, 0.0]  # conformer B of GLY 1
    assert mol.positions[3].tolist() == [3.0, 1.0, 0.0]  # conformer A of LYS 2
    assert mol.charge == 3


def test_repeated_residue_numbers_stay_separate_residues(tmp_path):
    """Two chains with blank chain IDs and no TER (a homodimer pocket as PDBbind writes them):
    the second ASP 25 is its own residue, atoms stay in file order."""
    rows = [("N", "ASP", 25, 0.0), ("CA", "ASP", 25, 1.0), ("N", "THR", 26, 2.0),
            ("N", "ASP", 25, 10.0), ("CA", "ASP", 25, 11.0)]  # fmt: skip
    lines = [
        f"ATOM  {i + 1:5d}  {name:<3s} {res} {num:5d}    {x:8.3f}   0.000   0.000  1.00  0.00"
        f"           {name[0]}"
        for i, (name, res, num, x) in enumerate(rows)
    ]
    path = tmp_path / "dimer.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    st = read_pdb_structure(path)
    residues = [(r.name, r.seqid.num, len(r)) for ch in st[0] for r in ch]
    assert residues == [("ASP", 25, 2), ("THR", 26, 1), ("ASP", 25, 2)]
    assert parse_pdb(path).positions[:, 0].tolist() == [0.0, 1.0, 2.0, 10.0, 11.0]


def test_first_model_only_and_hydrogens_dropped_on_request(tmp_path):
    path = tmp_path / "models.pdb"
    path.write_text(f"MODEL        1\n{ATOM}ENDMDL\nMODEL        2\n{ATOM}{ATOM}ENDMDL\nEND\n")
    assert parse_pdb(path).numbers.tolist() == [7]
    path.write_text(PDB)
    assert 1 not in parse_pdb(path, keep_hydrogens=False).numbers


def test_truncated_files_are_refused_naming_the_line(tmp_path):
    full = PDB.replace("END\n", "")
    cases = {
        # cut after the coordinates of a record: no line end, no END record
        "cut.pdb": (full[: full.index("HETATM    7") + 70], "line 8: file ends inside a record"),
        # cut inside the coordinates of the last record
        "cut2.pdb": (full[: full.index("HETATM    7") + 40], "line 8: HETATM record too short"),
        # cut inside the coordinates, then a line end
        "short.pdb": (ATOM[:40] + "\n", "line 1: ATOM record too short"),
        # cut inside the occupancy field, then a line end
        "occ.pdb": (ATOM[:57] + "\n", "line 1: ATOM record ends inside or has a bad occupancy"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert expected in _error(path), name
    # complete records without END are fine, with or without a final line end
    for name, text in (("noend.pdb", full), ("noend_nl.pdb", full.rstrip("\n") + "\nEND")):
        path = tmp_path / name
        path.write_text(text)
        assert read_pdb_structure(path) is not None


def test_element_guessed_from_a_name_that_names_none(tmp_path):
    path = tmp_path / "guess.pdb"
    path.write_text("HETATM    1 XX1  LIG A   1       0.000   0.000   0.000  1.00  0.00\n")
    assert "line 1: no element columns" in _error(path, exc=UnknownElementError)


def test_read_molecules_dispatches_pdb_to_gemmi_reader(tmp_path):
    path = tmp_path / "frag.ent"
    path.write_text(PDB)
    (mol,) = read_molecules(path)
    assert mol.symbols == ["N", "C", "H", "N", "H", "Zn"]


def test_pdbbind_sample_pocket_file():
    folder = shared_path("data", "pdbbind_sample", "1a61")
    (pocket,) = read_pdb(folder / "1a61_pocket.pdb")
    assert pocket.n_atoms > 100 and 1 in pocket.numbers  # hydrogens kept
    assert pocket.labels["charge_assumed"] is True
    assert np.isfinite(pocket.positions).all()
