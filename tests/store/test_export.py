"""Export: one row per record with units, source ids kept (also ids ASE would read as numbers),
round trips through ase.io.read and ase.db.connect, CSV headers with units, CLI."""

import csv
import json

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density.dft import compute_dft
from rhoml.store.batch import MethodSpec
from rhoml.store.export import export_store, key_name
from rhoml.store.sqlite_store import Store
from rhoml.units import convert

SPEC = MethodSpec("dft", {"functional": "PBE", "basis": "sto-3g", "forces": True})


@pytest.fixture(scope="module")
def store(
    tmp_path_factory,
):
    """water (QM9-like id and label, a DFT record with forces), '1e66' (a PDB-like code that
    reads as a number; a failed record) and lih (no record)."""
    water = Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="qm9_000003", labels={"mu": 1.85, "forces": np.ones((3, 3))},
        label_units={"mu": "debye", "forces": "kcal/mol/angstrom"}, source="qm9.csv#3",
    )  # fmt: skip
    h2 = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="1e66", source="x/1e66")
    lih = Molecule.from_symbols(["Li", "H"], [[0, 0, 0], [0, 0, 1.6]], id="lih")
    path = tmp_path_factory.mktemp("export") / "s.rhoml"
    with Store.create(path) as st:
        st.add_molecules([water, h2, lih])
        st.put_density(0, SPEC.key, compute_dft(water, **SPEC.options), seconds=1.5)
        st.put_failure(1, SPEC.key, "dft", SPEC.key, "1e66: SCF not converged in 2 cycles")
        dens = st.density(0, SPEC.key)
    return path, dens


def test_extxyz_round_trips_through_ase_and_keeps_source_ids(store, tmp_path):
    from ase.io import read

    path, dens = store
    out = tmp_path / "s.extxyz"
    assert export_store(path, out, "extxyz") == 3
    frames = read(out, ":")
    assert [f.info["source_id"] for f in frames] == ["qm9_000003", "1e66", "lih"]
    assert [f.info["status"] for f in frames] == ["ok", "failed", "none"]
    w = frames[0]
    assert w.info["method"] == SPEC.key and w.info["level"] == "PBE/sto-3g"
    assert w.info["store_index"] == 0 and w.info["source"] == "qm9.csv#3"
    assert w.info["energy_hartree"] == dens.properties["energy"]
    np.testing.assert_array_equal(w.info["dipole_debye"], dens.properties["dipole"])
    np.testing.assert_array_equal(w.arrays["forces_hartree_bohr"], dens.properties["forces"])
    np.testing.assert_allclose(w.positions, dens.molecule.positions)
    assert w.info["label_mu_debye"] == 1.85
    assert w.arrays["label_forces_kcal_mol_angstrom"].shape == (3, 3)
    units = json.loads(w.info["units"])
    assert units["energy_hartree"] == "hartree" and units["forces_hartree_bohr"] == "hartree/bohr"
    assert units["energy"] == "eV"  # ASE's convention for the calculator's copy
    e_ev = convert(dens.properties["energy"], "hartree", "eV")
    assert w.get_potential_energy() == pytest.approx(e_ev, rel=1e-12)
    np.testing.assert_allclose(
        w.get_forces(), convert(dens.properties["forces"], "hartree/bohr", "eV/angstrom")
    )
    assert frames[1].info["reason"] == "1e66: SCF not converged in 2 cycles"
    assert frames[1].calc is None and frames[2].info["formula"] == "HLi"


def test_ase_db_round_trip(store, tmp_path):
    import ase.db

    path, dens = store
    out = tmp_path / "s.db"
    out.write_text("an old file is replaced")
    assert export_store(path, out, "ase-db") == 3
    db = ase.db.connect(out)
    rows = list(db.select())
    assert len(rows) == 3
    assert [r.data["source_id"] for r in rows] == ["qm9_000003", "1e66", "lih"]
    assert rows[0].source_id == "qm9_000003" and "source_id" not in rows[1].key_value_pairs
    assert rows[0].energy_hartree == dens.properties["energy"]
    np.testing.assert_array_equal(rows[0].data["forces_hartree_bohr"], dens.properties["forces"])
    assert rows[0].energy == pytest.approx(convert(dens.properties["energy"], "hartree", "eV"))
    assert rows[1].status == "failed" and rows[1].reason.startswith("1e66: SCF")
    assert db.metadata["units"]["homo_hartree"] == "hartree"


def test_csv_header_names_units(store, tmp_path):
    path, dens = store
    out = tmp_path / "s.csv"
    assert export_store(path, out, "csv", method=SPEC.key) == 3
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["source_id"] == "qm9_000003" and rows[1]["source_id"] == "1e66"
    assert float(rows[0]["energy [hartree]"]) == dens.properties["energy"]
    assert float(rows[0]["compute_seconds [s]"]) == 1.5
    assert float(rows[0]["label_mu [debye]"]) == 1.85
    forces = np.array(rows[0]["forces [hartree/bohr]"].split(), float).reshape(3, 3)
    np.testing.assert_array_equal(forces, dens.properties["forces"])
    assert [r["status"] for r in rows] == ["ok", "failed", "none"]
    assert rows[2]["method"] == SPEC.key and rows[2]["energy [hartree]"] == ""


def test_export_cli(store, tmp_path, capsys):
    from rhoml.cli import main

    path, _ = store
    out = tmp_path / "s.csv"
    assert main(["export", str(path), "--format", "csv", "--out", str(out)]) == 0
    assert "3 rows" in capsys.readouterr().out
    assert main(["export", str(path), "--format", "csv", "--out", str(out), "--method", "xtb"]) == 2
    assert "no records of 'xtb'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none"), "--format", "csv", "--out", str(out)]) == 2
    assert main(["export", str(path), "--format", "hdf5", "--out", str(out)]) == 2


def test_key_names():
    assert key_name("forces", "hartree/bohr") == "forces_hartree_bohr"
    assert key_name("density", "e/bohr^3") == "density_e_bohr3"
    assert key_name("status", "text") == "status"
