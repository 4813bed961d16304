"""The promolecule engine and its shipped table (data/promolecule.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density import compute
from rhoml.density.promolecule import (
    atomic_coefficients,
    atomic_density_radial,
    available_elements,
    compute_promolecule,
    load_table,
    n_core,
    promolecule_basis,
)
from rhoml.elements import atomic_number
from rhoml.errors import UnknownElementError
from rhoml.testing import assert_equivariant
from rhoml.units import ANGSTROM_IN_BOHR

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_promolecule_tables.py"
REQUIRED = "H B C N O F Na Mg Si P S Cl K Ca Mn Fe Co Ni Cu Zn Se Br I".split()


def _atom(sym: str, position=(0.0, 0.0, 0.0)) -> Molecule:
    """A neutral atom (doublet when Z is odd, to satisfy the charge/spin check)."""
    multiplicity = 1 + atomic_number(sym) % 2
    return Molecule.from_symbols([sym], [position], multiplicity=multiplicity, id=sym)


# -- the table -----------------------------------------------------------------------------------
def test_table_metadata_and_units():
    table = load_table()
    meta = table["metadata"]
    assert meta["units"]["exponents"] == "bohr^-2"
    assert meta["units"]["coefficients"] == "e/bohr^3"
    for key in ("method", "basis", "pyscf_version", "convention", "core_definition", "fit"):
        assert meta[key], key
    assert "QZP" in meta["basis"] and "uncontracted" in meta["basis"]
    # the file itself is what ships: read it the way an installed package would
    raw = json.loads(resources.files("rhoml").joinpath("data/promolecule.json").read_text())
    assert raw["metadata"] == meta


def test_table_covers_required_elements():
    have = set(available_elements())
    assert set(REQUIRED) <= have
    assert {"He", "Ne", "Ar", "Kr", "Xe"} <= have


def test_table_entries_consistent():
    for sym, e in load_table()["elements"].items():
        exps = np.array(e["exponents"])
        total, core = np.array(e["total"]), np.array(e["core"])
        assert len(exps) == len(total) == len(core), sym
        assert exps[0] == pytest.approx(0.01), sym  # even-tempered from 0.01 Bohr^-2
        assert np.allclose(exps[1:] / exps[:-1], exps[1] / exps[0], rtol=1e-12), sym
        gauss = (np.pi / exps) ** 1.5
        assert gauss @ total == pytest.approx(e["n_electrons"], abs=1e-9), sym
        assert gauss @ core == pytest.approx(e["n_core"], abs=1e-9), sym
        assert e["fit_error"] < 1e-4, (sym, e["fit_error"])
        assert e["fit_error_valence"] < 5e-4, (sym, e["fit_error_valence"])
        assert e["max_relative_error"] < 0.05, (sym, e["max_relative_error"])


def test_n_core_matches_gfn2_valence():
    tblite = pytest.importorskip("tblite.interface")
    for sym in available_elements():
        z = atomic_number(sym)
        calc = tblite.Calculator("GFN2-xTB", np.array([z]), np.zeros((1, 3)), uhf=z % 2)
        calc.set("verbosity", 0)
        n_val = calc.singlepoint().get("orbital-occupations").sum()
        assert z - n_core(sym) == pytest.approx(n_val, abs=1e-6), sym


@pytest.mark.parametrize("sym", ["H", "C", "O", "Fe", "Cu", "Br", "I"])
def test_radial_densities_non_negative_and_decreasing_tail(sym):
    r = np.linspace(0.0, 40.0, 4001)
    for part in ("total", "core", "valence"):
        rho = atomic_density_radial(sym, r, part)
        assert rho.min() > -1e-12, (sym, part, rho.min())
    total = atomic_density_radial(sym, r)
    assert np.all(np.diff(total[r > 6.0]) <= 1e-15)


# -- the engine -------------------------------------------------------------------------------
def test_electron_count_exact(water, ethanol):
    for mol in (water, ethanol):
        d = compute_promolecule(mol)
        assert d.electron_count() == pytest.approx(mol.numbers.sum(), abs=1e-10)
        assert np.array_equal(d.nuclear_charges, mol.numbers)
        v = compute_promolecule(mol, valence=True)
        n_val = sum(int(z) - n_core(int(z)) for z in mol.numbers)
        assert v.electron_count() == pytest.approx(n_val, abs=1e-10)
        assert v.nuclear_charges.sum() == n_val
        assert v.valence and not d.valence
        assert d.engine == "promolecule" and d.level.startswith("promolecule/")


def test_charged_molecule_is_still_neutral_atoms():
    oh = Molecule.from_symbols(["O", "H"], [[0, 0, 0], [0, 0, 0.97]], charge=-1, id="OH-")
    d = compute_promolecule(oh)
    assert d.electron_count() == pytest.approx(9.0, abs=1e-10)
    assert d.provenance["molecule_charge_ignored"] == -1


@pytest.mark.parametrize("sym", ["H", "C", "Fe", "I"])
def test_single_atom_evaluate_matches_radial_table(sym):
    centre = np.array([0.3, -1.2, 0.7])
    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(200, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    r_ang = np.concatenate([[0.0], np.geomspace(1e-4, 6.0, 199)])
    pts = centre + dirs * r_ang[:, None]
    d = compute_promolecule(_atom(sym, centre))
    got = d.evaluate(pts, gradient=True)
    # distances as the engine sees them: PySCF converts the centre with its own Bohr constant
    # (CODATA 2010), rhoml the points with CODATA 2018 (a 3e-11 relative difference)
    offset = d.points_bohr(pts) - d.mol.atom_coords()[0]
    r_bohr = np.linalg.norm(offset, axis=1)
    dirs = offset / np.maximum(r_bohr, 1e-300)[:, None]
    want = atomic_density_radial(sym, r_bohr)
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-10, atol=1e-14)
    exps, c = atomic_coefficients(sym)
    drho_dr = np.exp(-np.outer(r_bohr**2, exps)) @ (-2.0 * exps * c) * r_bohr
    np.testing.assert_allclose(got[:, 1:], drho_dr[:, None] * dirs, rtol=1e-8, atol=1e-10)
    dv = compute_promolecule(_atom(sym, centre), valence=True)
    want_v = atomic_density_radial(sym, r_bohr, "valence")
    np.testing.assert_allclose(dv.evaluate(pts), want_v, rtol=1e-9, atol=1e-12)


def test_dipoles_vanish(water, ethanol):
    for sym in ("C", "Cl"):
        assert np.allclose(compute_promolecule(_atom(sym)).dipole(), 0.0, atol=1e-10)
    for mol in (water, ethanol, water.transformed(translation=[5.0, -3.0, 2.0])):
        for valence in (False, True):
            dip = compute_promolecule(mol, valence=valence).dipole()
            assert np.allclose(dip, 0.0, atol=1e-9), (mol.id, valence, dip)


def test_rotation_translation_invariance(ethanol):
    """Density (a field) and electron count under rotation, reflection, translation and
    permutation (rhoml.testing)."""
    rng = np.random.default_rng(2)
    pts = ethanol.centroid() + rng.normal(scale=1.5, size=(500, 3))

    def promolecule(numbers, positions, points):
        d = compute_promolecule(Molecule(numbers, positions))
        return d.evaluate(points), d.electron_count()

    assert_equivariant(promolecule, ethanol.numbers, ethanol.positions, ("field", "scalar"),
                       points=pts, seed=3, atol=(0.0, 1e-12), rtol=(1e-8, 0.0))  # fmt: skip


def test_superposition_of_atoms(water):
    pts = np.random.default_rng(4).normal(size=(300, 3))
    d = compute_promolecule(water)
    pts_bohr = pts * ANGSTROM_IN_BOHR
    want = sum(
        atomic_density_radial(int(z), np.linalg.norm(pts_bohr - p, axis=1))
        for z, p in zip(water.numbers, d.mol.atom_coords(), strict=True)
    )
    np.testing.assert_allclose(d.evaluate(pts), want, rtol=1e-10)


def test_neutral_atom_esp_vanishes_far_away():
    d = compute_promolecule(_atom("Ne"))
    far = np.array([[0.0, 0.0, 12.0], [9.0, 0.0, 0.0]])
    assert np.all(np.abs(d.esp(far)) < 1e-8)
    near = d.esp(np.array([[0.0, 0.0, 0.5]]))
    assert near[0] > 0.0  # inside the atom the nucleus is under-screened


def test_engine_registry(water):
    d = compute(water, "promolecule", valence=True)
    assert d.valence and d.engine == "promolecule"


def test_basis_format():
    basis = promolecule_basis(["C", 1, "C"])
    assert set(basis) == {"C", "H"}
    exps, _ = atomic_coefficients("C")
    assert basis["C"] == [[0, [float(a), 1.0]] for a in exps]


def test_unknown_element_raises():
    cs = Molecule.from_symbols(["Cs", "I"], [[0, 0, 0], [0, 0, 3.3]], id="CsI")
    with pytest.raises(UnknownElementError, match="Cs"):
        compute_promolecule(cs)
    with pytest.raises(UnknownElementError, match="Rn"):
        atomic_density_radial("Rn", [1.0])
    with pytest.raises(ValueError):
        atomic_coefficients("C", "inner")


# -- the generator --------------------------------------------------------------------------------
def test_generation_reproduces_shipped_hydrogen(tmp_path):
    out = tmp_path / "h.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--elements", "H", "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = json.loads(out.read_text())
    shipped = load_table()
    assert fresh["metadata"]["units"] == shipped["metadata"]["units"]
    new, old = fresh["elements"]["H"], shipped["elements"]["H"]
    assert new["exponents"] == pytest.approx(old["exponents"], rel=1e-14)
    assert new["n_core"] == old["n_core"] == 0
    assert new["hf_energy"] == pytest.approx(old["hf_energy"], abs=1e-9)
    assert new["fit_error"] == pytest.approx(old["fit_error"], rel=1e-3, abs=1e-8)
    r = np.geomspace(1e-4, 15.0, 400)
    exps = np.array(new["exponents"])
    g = np.exp(-np.outer(r**2, exps))
    np.testing.assert_allclose(g @ np.array(new["total"]), g @ np.array(old["total"]),
                               rtol=1e-7, atol=1e-12)  # fmt: skip
