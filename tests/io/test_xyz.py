"""XYZ / extended XYZ reading and writing (rhoml.io.xyz)."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.errors import ChargeSpinError, InputError, UnknownElementError
from rhoml.io.xyz import format_xyz, read_xyz, write_xyz

WATER = """3
water molecule
O 0.0 0.0 0.1173
H 0.0 0.7572 -0.4692
H 0.0 -0.7572 -0.4692
"""


def _write(tmp_path, text, name="water.xyz"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(tmp_path, text, name="bad.xyz", exc=InputError):
    path = _write(tmp_path, text, name)
    with pytest.raises(exc) as info:
        list(read_xyz(path))
    msg = str(info.value)
    assert name in msg and "\n" not in msg
    return msg


def test_plain_single_frame(tmp_path):
    (mol,) = read_xyz(_write(tmp_path, WATER))
    assert isinstance(mol, Molecule)
    assert mol.id == "water" and mol.source.endswith("water.xyz#0")
    assert mol.symbols == ["O", "H", "H"]
    assert mol.positions.shape == (3, 3) and mol.positions[1, 1] == pytest.approx(0.7572)
    assert (mol.charge, mol.multiplicity) == (0, 1)
    assert mol.labels == {}


def test_multi_frame_ids_and_atomic_numbers(tmp_path):
    text = WATER + "\n2\n\n1 0 0 0\n1 0 0 0.74\n"
    mols = list(read_xyz(_write(tmp_path, text, "traj.xyz")))
    assert [m.id for m in mols] == ["traj#0", "traj#1"]
    assert mols[1].formula == "H2"


def test_lazy_yields_good_frames_before_error(tmp_path):
    text = WATER + "3\n\nO 0 0 0\nH 0 0 1\n"  # second frame truncated
    it = read_xyz(_write(tmp_path, text, "lazy.xyz"))
    assert next(it).formula == "H2O"
    with pytest.raises(InputError, match=r"lazy\.xyz#1: line 9: file ends after 2 of 3 atoms"):
        next(it)


def test_extended_comment_charge_spin_labels(tmp_path):
    text = (
        "2\n"
        'charge=1 multiplicity=2 energy=-1.25 name="H2 cation" dipole="0.1 0.2 0.3" '
        'pbc="F F F" flag Properties=species:S:1:pos:R:3:forces:R:3\n'
        "H 0 0 0 0.1 0.2 0.3\n"
        "H 0 0 0.74 -0.1 -0.2 -0.3\n"
    )
    text = text.replace("flag", 'flag Lattice="5 0 0 0 5 0 0 0 5"')
    (mol,) = read_xyz(_write(tmp_path, text, "h2p.extxyz"))
    assert mol.label_units["Lattice"] == "angstrom"
    assert (mol.charge, mol.multiplicity) == (1, 2)
    assert mol.id == "H2 cation"
    assert mol.labels["energy"] == -1.25 and mol.label_units["energy"] == "eV"
    np.testing.assert_allclose(mol.labels["forces"][1], [-0.1, -0.2, -0.3])
    assert mol.label_units["forces"] == "eV/angstrom"
    np.testing.assert_allclose(mol.labels["dipole"], [0.1, 0.2, 0.3])
    assert mol.label_units["dipole"] == "unknown"
    assert mol.labels["flag"] is True and mol.label_units["flag"] == "dimensionless"
    assert mol.labels["pbc"].tolist() == [False, False, False]


def test_units_from_file_and_overrides(tmp_path):
    text = "1\nenergy=-0.5 energy_unit=hartree gap=0.3 spin=1\nH 0 0 0\n"
    (mol,) = read_xyz(_write(tmp_path, text, "h.xyz"), label_units={"gap": "eV"})
    assert mol.label_units == {"energy": "hartree", "gap": "eV"}
    assert mol.multiplicity == 2  # spin = 2S = 1
    (mol,) = read_xyz(tmp_path / "h.xyz", energy_unit="kcal/mol")
    assert mol.label_units["energy"] == "hartree"  # the file's own unit wins


def test_spin_half_integer_and_default_multiplicity(tmp_path):
    (mol,) = read_xyz(_write(tmp_path, "1\nspin=0.5\nH 0 0 0\n", "a.xyz"))
    assert mol.multiplicity == 2
    (mol,) = read_xyz(_write(tmp_path, "1\nmethyl radical, no keys\nH 0 0 0\n", "b.xyz"))
    assert mol.multiplicity == 2  # odd electron count -> doublet
    (mol,) = read_xyz(tmp_path / "b.xyz", charge=1, multiplicity=1)
    assert (mol.charge, mol.multiplicity) == (1, 1)


def test_round_trip(tmp_path, ethanol):
    mol = ethanol.transformed()
    mol.charge, mol.multiplicity = 0, 1
    mol.labels = {
        "energy": -154.1, "forces": np.arange(27.0).reshape(9, 3) / 7, "gap": 0.25,
        "dipole": np.array([0.1, 0.2, 0.3]), "n_rings": 0, "converged": True,
        "method": "B3LYP/6-31G",
    }  # fmt: skip
    mol.label_units = {
        "energy": "hartree", "forces": "hartree/angstrom", "gap": "eV", "dipole": "debye",
        "n_rings": "dimensionless", "converged": "dimensionless", "method": "text",
    }  # fmt: skip
    mol.groups = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    other = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2", charge=1,
                                  multiplicity=2)  # fmt: skip
    path = tmp_path / "out.xyz"
    write_xyz(path, [mol, other])
    back = list(read_xyz(path))
    assert [m.id for m in back] == ["ethanol", "h2"]
    b = back[0]
    np.testing.assert_allclose(b.positions, mol.positions, atol=1e-9)
    assert b.numbers.tolist() == mol.numbers.tolist()
    assert b.label_units == mol.label_units
    np.testing.assert_array_equal(b.labels["forces"], mol.labels["forces"])
    np.testing.assert_array_equal(b.labels["dipole"], mol.labels["dipole"])
    for k in ("energy", "gap", "n_rings", "converged", "method"):
        assert b.labels[k] == mol.labels[k]
    assert b.groups.tolist() == mol.groups.tolist()
    assert (back[1].charge, back[1].multiplicity) == (1, 2)
    write_xyz(path, other, append=True)
    assert len(list(read_xyz(path))) == 3
    assert format_xyz(other, extended=False).splitlines()[1] == "h2"


def test_error_field_count(tmp_path):
    msg = _error(tmp_path, "3\n\nO 0 0 0\nH 0 0\nH 0 0 1\n", "water.xyz")
    assert "water.xyz#0: line 4: expected 4 fields, got 3" in msg


def test_error_record_number_in_later_frame(tmp_path):
    msg = _error(tmp_path, WATER + "1\n\nH 1\n", "water.xyz")
    assert "water.xyz#1: line 8: expected 4 fields, got 2" in msg


def test_error_unknown_element(tmp_path):
    msg = _error(tmp_path, "1\n\nXx 0 0 0\n", exc=UnknownElementError)
    assert "line 3" in msg and "Xx" in msg


def test_error_truncated(tmp_path):
    msg = _error(tmp_path, "5\ncomment\nO 0 0 0\nH 0 0 1\n")
    assert "file ends after 2 of 5 atoms" in msg


def test_error_empty_file(tmp_path):
    assert "empty file" in _error(tmp_path, "")
    assert "empty file" in _error(tmp_path, "\n  \n", "blank.xyz")


def test_error_non_numeric_coordinate(tmp_path):
    msg = _error(tmp_path, "1\n\nH 0.0 abc 0.0\n")
    assert "line 3: non-numeric coordinate 'abc'" in msg
    assert "line 4: non-finite coordinate" in _error(tmp_path, "2\n\nH 0 0 0\nH 0 nan 0\n")


def test_error_bad_count_line(tmp_path):
    assert "expected the atom count" in _error(tmp_path, "three\n\nH 0 0 0\n")
    assert "atom count 0" in _error(tmp_path, "0\n\n", "zero.xyz")


def test_error_bad_charge_and_inconsistent_spin(tmp_path):
    assert "charge='x'" in _error(tmp_path, "1\ncharge=x\nH 0 0 0\n")
    msg = _error(tmp_path, "1\ncharge=0 multiplicity=1\nH 0 0 0\n", "h.xyz", ChargeSpinError)
    assert "h.xyz#0" in msg


def test_error_bad_properties(tmp_path):
    msg = _error(tmp_path, "1\nProperties=species:S:1:pos:R:3:forces:R:3\nH 0 0 0 1 2\n")
    assert "expected 7 fields, got 6" in msg
    msg = _error(tmp_path, "1\nProperties=species:S:1:pos:R\nH 0 0 0\n", "props.xyz")
    assert "Properties" in msg


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.xyz: no such file"):
        read_xyz(tmp_path / "nope.xyz")
