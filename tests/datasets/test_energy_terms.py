"""EDG Table 4's energy terms read from a store's DFT records: Psi4's split (two-electron =
Coulomb + exact exchange), terms that add up to the total, units, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.datasets.energy_terms import TERMS, energy_terms
from rhoml.errors import InputError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rhoml import Molecule
    from rhoml.density.dft import compute_dft
    from rhoml.store.sqlite_store import Store

    path = tmp_path_factory.mktemp("terms") / "s.rhoml"
    mols = [
        Molecule.from_symbols(["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692],
                                                [0, -0.7572, -0.4692]], id="water"),
        Molecule.from_symbols(["H", "F"], [[0, 0, 0], [0, 0, 0.92]], id="hf"),
    ]  # fmt: skip
    with Store.create(path) as st:
        idx = st.add_molecules(mols)
        st.put_density(idx[0], "dft", compute_dft(mols[0], basis="sto-3g"))
        st.put_density(idx[1], "dft", compute_dft(mols[1], basis="sto-3g"))
    return path


def test_terms_follow_psi4_and_add_up(store):
    from rhoml.store.sqlite_store import Store

    indices, ids, v = energy_terms(store)
    assert ids == ["water", "hf"] and v.shape == (2, 6)
    e1, e2, e3, e4, e5, e6 = v.T
    np.testing.assert_allclose(e2 + e3 + e4 + e5, e6, atol=1e-8)
    np.testing.assert_array_equal(e1, e6)
    with Store.open(store, readonly=True) as st:
        p = st.record_properties("dft")[indices[0]]
    assert p["energy_exact_exchange"] < 0  # B3LYP: 20 % exact exchange
    assert e4[0] == pytest.approx(p["energy_coulomb"] + p["energy_exact_exchange"])
    assert e5[0] == pytest.approx(p["energy_xc"] - p["energy_exact_exchange"])
    _, _, kcal = energy_terms(store, terms=["two_electron", "total"], unit="kcal/mol")
    np.testing.assert_allclose(kcal, v[:, [3, 5]] * 627.5094740631, rtol=1e-9)
    assert TERMS[3] == "two_electron"


def test_errors_are_one_line(store, tmp_path):
    from rhoml.store.sqlite_store import Store

    with pytest.raises(InputError, match="unknown energy term"):
        energy_terms(store, terms=["kinetic"])
    with pytest.raises(InputError, match="no ok 'xtb' records"):
        energy_terms(store, "xtb")
    old = tmp_path / "old.rhoml"
    with Store.open(store, readonly=True) as st:
        d = st.density(0, "dft")
    d.properties.pop("energy_exact_exchange")
    with Store.create(old) as st:
        st.put_density(st.add_molecules([d.molecule])[0], "dft", d)
    with pytest.raises(InputError, match="lacks energy_exact_exchange") as e:
        energy_terms(old)
    assert "\n" not in str(e.value)
