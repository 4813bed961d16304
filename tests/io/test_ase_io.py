"""Structures through ASE (rhoml.io.ase_io) and the read_molecules fallback to it."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.errors import InputError
from rhoml.io import read_molecules, write_xyz
from rhoml.io.ase_io import ase_format, atoms_to_molecule, molecules_to_atoms, write_ase

aseio = pytest.importorskip("ase.io")
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402


def _labelled(water: Molecule, ethanol: Molecule) -> list[Molecule]:
    """A charged doublet and a neutral singlet with energy, forces, a text and a unit label."""
    rng = np.random.default_rng(0)
    cation = Molecule(
        water.numbers, water.positions, charge=1, multiplicity=2, id="water_cation",
        labels={"energy": -2075.25, "forces": rng.normal(size=(3, 3)), "gap": 0.31,
                "method": "B3LYP/6-31G**", "converged": True},
        label_units={"energy": "eV", "forces": "eV/angstrom", "gap": "hartree",
                     "method": "text", "converged": "dimensionless"},
    )  # fmt: skip
    eth = Molecule(
        ethanol.numbers, ethanol.positions, id="ethanol",
        labels={"energy": -4200.5, "forces": rng.normal(size=(9, 3)), "gap": 0.27,
                "method": "PBE", "converged": False},
        label_units=dict(cation.label_units),
    )  # fmt: skip
    return [cation, eth]


def _same(a: Molecule, b: Molecule) -> None:
    assert a.numbers.tolist() == b.numbers.tolist()
    np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=1e-12)
    assert (a.charge, a.multiplicity, a.id) == (b.charge, b.multiplicity, b.id)
    assert a.labels.keys() == b.labels.keys()
    assert a.label_units == b.label_units
    for key, value in a.labels.items():
        if isinstance(value, np.ndarray) or isinstance(value, float):
            np.testing.assert_allclose(b.labels[key], value, rtol=1e-12, atol=1e-12)
        else:
            assert b.labels[key] == value, key


def test_db_gives_the_molecules_of_the_xyz_it_was_written_from(tmp_path, water, ethanol):
    write_xyz(tmp_path / "set.xyz", _labelled(water, ethanol))
    from_xyz = list(read_molecules(tmp_path / "set.xyz"))
    write_ase(tmp_path / "set.db", from_xyz)
    from_db = list(read_molecules(tmp_path / "set.db"))
    assert len(from_db) == 2
    for a, b in zip(from_xyz, from_db, strict=True):
        _same(a, b)
    # the same through ASE's JSON database
    write_ase(tmp_path / "set.json", from_xyz)
    for a, b in zip(from_xyz, read_molecules(tmp_path / "set.json"), strict=True):
        _same(a, b)
    # a database query selects rows
    (only,) = read_molecules(tmp_path / "set.db", selection="natoms<5")
    assert only.id == "water_cation"


def test_db_written_by_ase_alone(tmp_path, ethanol):
    """A database ASE wrote from ASE's reading of an extended XYZ file: energies and forces come
    back in eV and eV/Å; rows without a name are <stem>#<row id>."""
    forces = np.linspace(-1, 1, 27).reshape(9, 3)
    mol = Molecule(ethanol.numbers, ethanol.positions, id="eth",
                   labels={"energy": -4200.5, "forces": forces},
                   label_units={"energy": "eV", "forces": "eV/angstrom"})  # fmt: skip
    write_xyz(tmp_path / "e.xyz", [mol, mol])
    aseio.write(tmp_path / "e.db", aseio.read(tmp_path / "e.xyz", index=":"))
    mols = list(read_molecules(tmp_path / "e.db"))
    assert [m.id for m in mols] == ["e#1", "e#2"]
    for m in mols:
        assert m.numbers.tolist() == ethanol.numbers.tolist() and m.charge == 0
        np.testing.assert_allclose(m.positions, ethanol.positions, atol=1e-10)
        assert m.labels["energy"] == -4200.5 and m.label_units["energy"] == "eV"
        np.testing.assert_allclose(m.labels["forces"], forces)
        assert m.label_units["forces"] == "eV/angstrom"


def test_traj_with_energies_and_forces(tmp_path, water):
    frames = []
    for k in range(3):
        atoms = molecules_to_atoms(water)[0]
        atoms.positions[0, 2] += 0.01 * k
        atoms.calc = SinglePointCalculator(atoms, energy=-2076.0 + k, forces=np.full((3, 3), k))
        frames.append(atoms)
    aseio.write(tmp_path / "md.traj", frames)
    mols = list(read_molecules(tmp_path / "md.traj"))
    assert len(mols) == 3
    for k, m in enumerate(mols):
        assert m.labels["energy"] == -2076.0 + k and m.label_units["energy"] == "eV"
        assert m.labels["forces"].shape == (3, 3) and np.all(m.labels["forces"] == k)
        assert m.label_units["forces"] == "eV/angstrom"
        assert m.positions[0, 2] == pytest.approx(water.positions[0, 2] + 0.01 * k)
        assert m.id == "water"  # the id ASE kept in info
        assert m.source.endswith(f"md.traj#{k}")
    # frames without an id: <stem>#<i>; one frame: <stem>
    for atoms in frames:
        atoms.info.clear()
    aseio.write(tmp_path / "md.traj", frames)
    assert [m.id for m in read_molecules(tmp_path / "md.traj")] == ["md#0", "md#1", "md#2"]
    aseio.write(tmp_path / "one.traj", frames[0])
    assert [m.id for m in read_molecules(tmp_path / "one.traj")] == ["one"]


def test_cif_keeps_the_cell_as_labels(tmp_path):
    from ase.build import bulk

    aseio.write(tmp_path / "si.cif", bulk("Si", "diamond", a=5.43))
    (m,) = read_molecules(tmp_path / "si.cif")
    assert m.symbols == ["Si", "Si"] and m.id == "si"
    np.testing.assert_allclose(np.abs(np.linalg.det(m.labels["cell"])), 5.43**3 / 4)
    assert m.label_units["cell"] == "angstrom" and m.labels["pbc"].tolist() == [True] * 3


def test_charge_spin_and_units_from_info(water):
    atoms = molecules_to_atoms(water)[0]
    atoms.info = {"charge": -1, "spin": 1, "name": "anion", "homo": -0.2, "homo_unit": "hartree",
                  "total_energy": -5.0}  # fmt: skip
    m = atoms_to_molecule(atoms, id="fallback", source="mem")
    assert (m.charge, m.multiplicity, m.id) == (-1, 2, "anion")
    assert m.label_units == {"homo": "hartree", "total_energy": "eV"}
    atoms.info = {"multiplicity": 3, "spin": 1}  # an explicit multiplicity wins over spin
    assert atoms_to_molecule(atoms).multiplicity == 3


def test_groups_travel_as_tags(tmp_path, water):
    mol = Molecule(water.numbers, water.positions, id="w", groups=[0, 1, 1])
    write_ase(tmp_path / "g.traj", mol)
    (back,) = read_molecules(tmp_path / "g.traj")
    assert back.groups.tolist() == [0, 1, 1]


def test_formats_and_errors(tmp_path, water):
    assert ase_format(tmp_path / "x.traj") == "traj"
    assert ase_format(tmp_path / "x.cif") == "cif"
    assert ase_format(tmp_path / "x.db") == "db"
    assert ase_format(tmp_path / "x.csv") is None
    (tmp_path / "POSCAR").write_text("")
    assert ase_format(tmp_path / "POSCAR") == "vasp"
    # a file of a format ASE knows that ASE cannot read: one line naming the file
    bad = tmp_path / "broken.traj"
    bad.write_bytes(b"not a trajectory at all")
    with pytest.raises(InputError, match=r"broken\.traj: ASE could not read it as traj: ") as err:
        list(read_molecules(bad))
    assert "\n" not in str(err.value)
    notdb = tmp_path / "text.db"
    notdb.write_text("hello\n")
    with pytest.raises(InputError, match=r"text\.db: ASE could not read it as a db database"):
        list(read_molecules(notdb))
    # neither rhoml nor ASE
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(InputError, match=r"data\.csv: unknown file extension '\.csv': neither"):
        read_molecules(tmp_path / "data.csv")
    # an empty database
    write_ase(tmp_path / "w.db", water)
    with pytest.raises(InputError, match=r"w\.db: no rows matching 'natoms>5'"):
        list(read_molecules(tmp_path / "w.db", selection="natoms>5"))


def test_cli_reads_an_ase_trajectory(tmp_path, capsys, water, ethanol):
    from rhoml.cli import main

    write_ase(tmp_path / "two.traj", [water, ethanol])
    code = main(["density", "compute", str(tmp_path / "two.traj"), "--method", "promolecule",
                 "--out", str(tmp_path / "s"), "--quiet", "--workers", "1"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "2 ok, 0 failed" in capsys.readouterr().out
