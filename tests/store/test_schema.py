"""The store schema: undeclared names refused, dtype / shape rule / unit checked on write,
patterns for families of names, and format-1 DenSNet label stores migrated."""

import json
import sqlite3

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density.base import Density
from rhoml.errors import StoreError
from rhoml.store import schema
from rhoml.store.sqlite_store import DB_NAME, Store, legacy_label_key, migrate


@pytest.fixture
def store(tmp_path, water):
    with Store.create(tmp_path / "s.rhoml") as st:
        st.add_molecules([water])
        yield st


def test_undeclared_array_name_is_refused_naming_store_and_name(store):
    for call in (
        lambda: store.put_array(0, "my_voxels", np.zeros(3, np.float32), "dimensionless"),
        lambda: store.get_array(0, "my_voxels"),
        lambda: store.has_array(0, "my_voxels"),
    ):
        with pytest.raises(StoreError) as err:
            call()
        assert str(store.path) in str(err.value) and "'my_voxels'" in str(err.value)
    assert store.summary()["arrays"] == {}


def test_dtype_shape_and_unit_are_checked_on_write(store):
    xyz = np.zeros((8, 3), np.float32)
    store.put_array(0, schema.POINTS_XYZ, xyz, "angstrom")
    with pytest.raises(StoreError, match="must be float32, got float64"):
        store.put_array(0, schema.POINTS_XYZ, xyz.astype(np.float64), "angstrom")
    with pytest.raises(StoreError, match=r"expected \(N, 3\)"):
        store.put_array(0, schema.POINTS_XYZ, np.zeros((8, 4), np.float32), "angstrom")
    with pytest.raises(StoreError, match="must be in angstrom, got unit 'bohr'"):
        store.put_array(0, schema.POINTS_XYZ, xyz, "bohr")
    with pytest.raises(StoreError, match="legacy"):
        store.put_array(0, schema.LEGACY_DENSNET_FORCES, np.zeros((3, 3)), "kcal/mol/angstrom")
    views = np.zeros((6, 16, 16, 4), np.uint8)
    store.put_array(0, "edg_density_views/iso002", views)  # unit defaults to the declared one
    assert store.array_meta(0, "edg_density_views/iso002")["unit"] == "dimensionless"
    with pytest.raises(StoreError, match="expected"):
        store.put_array(0, "edg_structure_views/small", views)  # structure views are RGB


def test_voxel_pattern_binds_repeated_symbols(store):
    store.put_array(0, "voxels/abc123/0", np.zeros((2, 4, 4, 4), np.float16))
    assert store.has_array(0, "voxels/abc123/0")
    with pytest.raises(StoreError, match="n = 4 but the array has 5"):
        store.put_array(0, "voxels/abc123/1", np.zeros((2, 4, 4, 5), np.float16))
    with pytest.raises(StoreError, match="not declared"):
        store.put_array(0, "voxels/abc123/first", np.zeros((2, 4, 4, 4), np.float16))
    with pytest.raises(StoreError, match="not declared"):
        store.get_array(0, "voxels/abc123")


def test_shape_rules():
    f = schema.RECORD_KINDS[schema.DENSITY_MATRIX]
    assert f.shape_error((10,), {"nao": 4}) == ""
    assert "nao*(nao+1)/2 = 10 but the array has 9" in f.shape_error((9,), {"nao": 4})
    forces = schema.PROPERTIES[schema.FORCES]
    assert forces.shape_error((3, 3), {"n_atoms": 3}) == ""
    assert "n_atoms = 3 but the array has 2" in forces.shape_error((2, 3), {"n_atoms": 3})
    assert "2 dimensions instead of" not in forces.shape_error((3, 3))
    assert "1 dimensions instead of 2" in forces.shape_error((9,))
    names = [r["name"] for r in schema.describe()]
    assert len(names) == len(set(names)) and schema.FORCES in names
    for row in schema.describe():  # every unit is one rhoml.units knows
        from rhoml.units import known_units

        assert row["unit"] in known_units(), row


def _density(mol, props, units):
    return Density(mol, {"H": "sto-3g"}, "coefficients", np.ones(2), np.ones(2), "test",
                   properties=props, property_units=units)  # fmt: skip


def test_record_properties_are_declared_with_units(store):
    h2 = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")
    (i,) = store.add_molecules([h2])
    good = {"energy": -1.1, "forces": np.zeros((2, 3)), "dipole": np.zeros(3)}
    units = {"energy": "hartree", "forces": "hartree/bohr", "dipole": "debye"}
    store.put_density(i, "m", _density(h2, good, units))
    with pytest.raises(StoreError, match="record property 'mood' is not declared"):
        store.put_density(i, "m", _density(h2, {"mood": 1.0}, {"mood": "dimensionless"}))
    with pytest.raises(StoreError, match="must be in hartree/bohr"):
        store.put_density(i, "m", _density(h2, good, {**units, "forces": "kcal/mol/angstrom"}))
    with pytest.raises(StoreError, match="n_atoms = 2 but the array has 3"):
        store.put_density(i, "m", _density(h2, {**good, "forces": np.zeros((3, 3))}, units))
    (rec,) = store.records("m")
    assert rec["properties"]["energy"] == -1.1 and rec["property_units"]["forces"] == "hartree/bohr"


def _format1_store(path, water):
    """A store as rhoml wrote DenSNet labels in format 1 (record key densnet:..., forces in
    kcal/mol/Å in the array densnet_forces), built directly in SQL."""
    old_key = "densnet:PBE/def2-SVP/g4+df"
    forces_kcal = np.arange(9.0).reshape(3, 3) - 4.0
    with Store.create(path) as st:
        st.add_molecules([water, Molecule(water.numbers, water.positions + 0.01, id="w2")])
        st.put_density(0, old_key, _density_matrix(water))
    conn = sqlite3.connect(path / DB_NAME)
    settings = {"functional": "PBE", "basis": "def2-SVP", "grid_level": 4, "conv_tol": 1e-10,
                "density_fit": True}  # fmt: skip
    conn.execute("UPDATE records SET provenance=? WHERE method=?",
                 (json.dumps({"settings": settings}), old_key))  # fmt: skip
    conn.execute(
        "INSERT INTO arrays (molecule, name, dtype, shape, unit, data, meta)"
        " VALUES (0, 'densnet_forces', '<f8', '[3, 3]', 'kcal/mol/angstrom', ?, '{}')",
        (forces_kcal.tobytes(),),
    )
    conn.execute("INSERT INTO records (molecule, method, engine, level, status, reason, created)"
                 " VALUES (1, ?, 'dft', ?, 'failed', 'w2: SCF not converged', 0)",
                 (old_key, old_key))  # fmt: skip
    conn.execute(
        "INSERT INTO arrays (molecule, name, dtype, shape, unit, data, meta)"
        " VALUES (1, 'small', '|u1', '[6, 8, 8, 4]', 'dimensionless', ?, '{}')",
        (np.full((6, 8, 8, 4), 7, np.uint8).tobytes(),),
    )
    conn.execute("UPDATE meta SET value='1' WHERE key='format_version'")
    conn.commit()
    conn.close()
    return old_key, forces_kcal


def _density_matrix(mol):
    from rhoml.density.basis import build_mol, mol_basis_dict

    pm = build_mol(mol, "sto-3g")
    nao = pm.nao_nr()
    return Density(mol, mol_basis_dict(pm), "density_matrix", np.eye(nao), mol.numbers * 1.0,
                   "dft", "PBE/def2-SVP", properties={"energy": -76.0},
                   property_units={"energy": "hartree"})  # fmt: skip


def test_format1_label_store_fails_read_only_then_migrates(tmp_path, water):
    from rhoml.density.dft import label_options
    from rhoml.store.batch import MethodSpec
    from rhoml.units import convert

    path = tmp_path / "old.rhoml"
    old_key, forces_kcal = _format1_store(path, water)
    with pytest.raises(StoreError, match="rhoml store migrate"):
        Store.open(path, readonly=True)
    new_key = MethodSpec("dft", label_options()).key
    assert legacy_label_key(old_key, 1e-10) == new_key
    with Store.open(path) as st:  # opened for writing: migrated
        assert st.summary()["format_version"] == 2
        assert st.methods() == [new_key]
        dens = st.density(0, new_key)
        forces = convert(dens.properties["forces"], "hartree/bohr", "kcal/mol/angstrom")
        np.testing.assert_allclose(forces, forces_kcal, rtol=1e-14, atol=1e-13)
        assert dens.properties["energy"] == -76.0
        assert st.failures() == [(1, new_key, "w2: SCF not converged")]
        assert "densnet_forces" not in st.summary()["arrays"]
        assert st.get_array(1, "edg_density_views/small").max() == 7  # `render --name small`
        assert migrate(st) == {"records": 0, "forces": 0, "dropped": 0, "images": 0}  # idempotent
    with Store.open(path, readonly=True) as st:
        assert st.finished(new_key) == {0, 1}


def test_format1_store_without_labels_reads_as_is(tmp_path, water):
    with Store.create(tmp_path / "s") as st:
        st.add_molecules([water])
    conn = sqlite3.connect(tmp_path / "s" / DB_NAME)
    conn.execute("UPDATE meta SET value='1' WHERE key='format_version'")
    conn.commit()
    conn.close()
    with Store.open(tmp_path / "s", readonly=True) as st:
        assert st.molecule(0).id == "water"


def test_store_migrate_command(tmp_path, water, capsys):
    from rhoml.cli import main

    path = tmp_path / "old.rhoml"
    _format1_store(path, water)
    assert main(["info", str(path)]) == 2  # read-only: one line pointing to the migration
    assert "rhoml store migrate" in capsys.readouterr().err
    assert main(["store", "migrate", str(path)]) == 0
    assert "format 1 -> 2: 2 label records re-keyed, 1 forces moved" in capsys.readouterr().out
    with Store.open(path, readonly=True) as st:
        assert st.has_array(1, "edg_density_views/small")
    assert main(["store", "migrate", str(path)]) == 0
    assert "already format 2" in capsys.readouterr().out
    assert main(["store", "schema"]) == 0
    assert "voxels/<spec>/<pose>" in capsys.readouterr().out
