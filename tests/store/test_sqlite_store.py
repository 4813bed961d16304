import multiprocessing as mp
import sqlite3

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density.dft import compute_dft
from rhoml.errors import StoreError, UnitError
from rhoml.store.sqlite_store import DB_NAME, Store


@pytest.fixture(scope="module")
def h2_density():
    h2 = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")
    return compute_dft(h2, basis="sto-3g")


def test_molecules_round_trip_with_labels(tmp_path, water):
    water.labels = {"mu": 1.85, "forces": np.ones((3, 3))}
    water.label_units = {"mu": "debye", "forces": "kcal/mol/angstrom"}
    with Store.create(tmp_path / "s") as st:
        assert st.add_molecules([water]) == [0]
        assert st.add_molecules([water]) == [0]  # idempotent by id
        m = st.molecule(0)
    np.testing.assert_allclose(m.positions, water.positions)
    assert m.labels["mu"] == 1.85 and m.label_units["mu"] == "debye"
    np.testing.assert_allclose(m.labels["forces"], np.ones((3, 3)))


def test_id_clash_with_other_atoms_is_refused(tmp_path, water):
    with Store.create(tmp_path / "s") as st:
        st.add_molecules([water])
        other = Molecule.from_symbols(["S", "H", "H"], water.positions, id="water")
        with pytest.raises(StoreError, match="already in"):
            st.add_molecules([other])
        moved = Molecule(water.numbers, water.positions + 0.01, id="water")
        with pytest.raises(StoreError, match="different geometry"):
            st.add_molecules([moved])


def test_molecule_does_not_alias_the_callers_positions(water):
    pos = water.positions.copy()
    m = Molecule(water.numbers, pos)
    pos += 1.0  # e.g. an MD integrator moving ASE's array in place
    np.testing.assert_allclose(m.positions, water.positions)


def test_density_round_trip_is_exact(tmp_path, h2_density):
    with Store.create(tmp_path / "s") as st:
        (i,) = st.add_molecules([h2_density.molecule])
        st.put_density(i, "dft:test", h2_density, 0.1)
        back = st.density(i)
    np.testing.assert_array_equal(back.data, h2_density.data)
    assert back.level == h2_density.level and back.engine == "dft"
    assert back.property_units["energy"] == "hartree"
    assert back.properties["energy"] == h2_density.properties["energy"]
    assert back.electron_count() == pytest.approx(2.0, abs=1e-10)


def test_failures_are_recorded_with_reason(tmp_path, water, h2_density):
    with Store.create(tmp_path / "s") as st:
        st.add_molecules([water])
        st.put_failure(0, "dft", "dft", "B3LYP", "water: SCF not converged")
        assert st.failures() == [(0, "dft", "water: SCF not converged")]
        assert st.finished("dft") == {0}
        assert st.finished("dft", include_failed=False) == set()
        with pytest.raises(StoreError, match="SCF not converged"):
            st.density(0, "dft")
        s = st.summary()
        assert s["methods"]["dft"]["failed"] == 1


def test_arrays_carry_units(tmp_path, water):
    with Store.create(tmp_path / "s") as st:
        st.add_molecules([water])
        st.put_array(0, "points_density", np.ones(16, np.float32), "e/bohr^3", spacing=0.5)
        a = st.get_array(0, "points_density", unit="e/bohr^3")
        assert a.shape == (16,) and a.dtype == np.float32
        assert st.array_meta(0, "points_density") == {"unit": "e/bohr^3", "spacing": 0.5}
        with pytest.raises(UnitError):
            st.get_array(0, "points_density", unit="e/angstrom^3")


def test_incompatible_or_foreign_store_is_refused(tmp_path):
    with Store.create(tmp_path / "s"):
        pass
    conn = sqlite3.connect(tmp_path / "s" / DB_NAME)
    conn.execute("UPDATE meta SET value='99' WHERE key='format_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="incompatible"):
        Store.open(tmp_path / "s")
    with pytest.raises(StoreError, match="not a rhoml store"):
        Store.open(tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / DB_NAME).write_bytes(b"garbage" * 100)
    with pytest.raises(StoreError, match="unreadable"):
        Store.open(tmp_path / "junk")


def _writer(path, worker, n):
    with Store.open(path) as st:
        mols = [
            Molecule.from_symbols(
                ["H", "H"], [[0, 0, 0], [0, 0, 0.7 + 0.01 * k]], id=f"w{worker}-{k}"
            )
            for k in range(n)
        ]
        for i in st.add_molecules(mols):
            st.put_failure(i, "m", "e", "l", f"written by {worker}")


def test_many_processes_write_at_once(tmp_path):
    Store.create(tmp_path / "s").close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path / "s", w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store.open(tmp_path / "s") as st:
        assert len(st) == 100
        assert len(st.finished("m")) == 100
        assert sorted(st.indices()) == list(range(100))
