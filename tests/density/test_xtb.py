"""GFN2-xTB engine: the rebuilt STO-nG basis against tblite, and the returned density."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density import sto_ng
from rhoml.density.basis import basis_only_mol
from rhoml.density.xtb import compute_xtb
from rhoml.errors import CalculationError, UnknownElementError
from rhoml.testing import assert_equivariant
from rhoml.units import HARTREE_IN_KCAL_PER_MOL, angstrom_to_bohr

pytest.importorskip("tblite")


@pytest.fixture
def chloro_sulfide() -> Molecule:
    """2-chloro-2-(methylthio)ethanol, MMFF geometry: S and Cl carry d shells."""
    pos = [
        [-2.5675, -1.0857, 0.0142], [-1.7795, 0.1088, 0.0600], [-0.2778, -0.2104, 0.0557],
        [0.1349, -1.1216, 1.5420], [0.6986, 1.3261, -0.0406], [2.3254, 0.6148, -0.3905],
        [-2.3682, -1.5862, 0.8276], [-2.0793, 0.6786, 0.9472], [-2.0503, 0.6954, -0.8246],
        [-0.0439, -0.8611, -0.7927], [3.0375, 1.4259, -0.5655], [2.2862, -0.0080, -1.2880],
        [2.6838, 0.0233, 0.4554],
    ]  # fmt: skip
    numbers = [8, 6, 6, 17, 16, 6, 1, 1, 1, 1, 1, 1, 1]
    return Molecule(numbers, pos, id="chloro_sulfide")


@pytest.fixture
def titanium_chloride() -> Molecule:
    """TiCl4 (tetrahedral, 2.17 Å): tblite lists Ti's 3d shell before 4s and 4p."""
    pos = np.array([[0, 0, 0], [1, 1, 1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1]]) * 2.17 / 3**0.5
    return Molecule([22, 17, 17, 17, 17], pos, id="TiCl4")


@pytest.fixture
def mercury_chloride() -> Molecule:
    """HgCl2 (linear, 2.25 Å): 6s/6p shells expanded in 6 Gaussians."""
    return Molecule([80, 17, 17], [[0, 0, 0], [2.25, 0, 0], [-2.25, 0, 0]], id="HgCl2")


def water_cation(water: Molecule) -> Molecule:
    return Molecule(water.numbers, water.positions, charge=1, multiplicity=2, id="water+")


def tblite_overlap(molecule: Molecule, method: str = "GFN2-xTB") -> np.ndarray:
    """tblite's own overlap matrix (its AO order and normalisation)."""
    from tblite.interface import Calculator

    numbers = [int(z) for z in molecule.numbers]
    n_val = sum(sto_ng.valence_electrons(z, method) for z in numbers) - molecule.charge
    calc = Calculator(method, np.array(numbers), angstrom_to_bohr(molecule.positions),
                      charge=molecule.charge, uhf=n_val % 2, color=False)  # fmt: skip
    calc.set("verbosity", 0)
    calc.set("save-integrals", 1)
    res = calc.singlepoint()
    overlap = res.get("overlap-matrix")
    del res, calc
    return overlap


def overlap_error(molecule: Molecule, method: str = "GFN2-xTB") -> float:
    mol = basis_only_mol(molecule, sto_ng.basis(molecule.numbers, method))
    ours = mol.intor_symmetric("int1e_ovlp")
    theirs = sto_ng.tblite_to_pyscf(tblite_overlap(molecule, method), molecule.numbers,
                                    kind="integral", method=method)  # fmt: skip
    return float(np.abs(ours - theirs).max())


# -- basis -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["water", "ethanol", "chloro_sulfide", "titanium_chloride", "mercury_chloride"]
)
def test_overlap_matches_tblite(name, request):
    # measured: 1.7e-11 (chloro_sulfide) ... 1.7e-10 (HgCl2, a long-range Cl d-d element; the
    # diagonal agrees to 1e-15, the rest is tblite's integral screening)
    assert overlap_error(request.getfixturevalue(name)) <= 1e-9


@pytest.mark.parametrize("method", ["GFN1-xTB", "IPEA1-xTB"])
def test_orthogonalised_shells_match_tblite(method, ethanol):
    # GFN2 has no two shells of one l on an element; GFN1 (H 2s) and IPEA1 (H 2s, C/O 3s) do,
    # and tblite Schmidt-orthogonalises them: this checks that path
    assert any(sh.orthogonalised for sh in sto_ng.element_shells(1, method))
    assert overlap_error(ethanol, method) <= 1e-9


def test_basis_format_and_valence():
    basis = sto_ng.gfn2_basis([6, 1, 1, 26, 6])
    assert set(basis) == {"H", "C", "Fe"}
    assert [sh[0] for sh in basis["C"]] == [0, 1]
    assert [sh[0] for sh in basis["Fe"]] == [0, 1, 2]  # sorted by l, as PySCF stores it
    assert len(basis["C"][0]) == 1 + 4  # STO-4G
    assert sto_ng.valence_electrons(1) == 1
    assert sto_ng.valence_electrons(17) == 7
    assert sto_ng.valence_electrons(26) == 8
    assert sto_ng.reference_occupation(6) == (1.0, 3.0)  # GFN2's sp3 reference


def test_tblite_order_is_a_permutation(chloro_sulfide):
    idx = sto_ng.tblite_order(chloro_sulfide.numbers)
    assert sorted(idx) == list(range(sto_ng.n_functions(chloro_sulfide.numbers)))
    assert list(idx[1:4]) == [3, 1, 2]  # O 2p: tblite (y, z, x) -> PySCF (x, y, z)


@pytest.mark.parametrize("z", [0, 87, 100])
def test_unknown_element(z):
    with pytest.raises(UnknownElementError, match=f"Z={z}"):
        sto_ng.gfn2_basis([6, z])
    with pytest.raises(UnknownElementError):
        sto_ng.valence_electrons(z)


def test_unknown_element_in_engine():
    fm = Molecule([100, 1], [[0, 0, 0], [0, 0, 2.0]], multiplicity=2, id="FmH")
    with pytest.raises(UnknownElementError, match="Fm"):
        compute_xtb(fm)


# -- engine ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "n_valence"),
    [("water", 8), ("ethanol", 20), ("chloro_sulfide", 38), ("water_cation", 7)],
)
def test_electron_count(name, n_valence, request):
    water = request.getfixturevalue("water")
    molecule = water_cation(water) if name == "water_cation" else request.getfixturevalue(name)
    density = compute_xtb(molecule)
    assert density.valence and density.engine == "xtb" and density.level == "GFN2-xTB"
    assert density.electron_count() == pytest.approx(n_valence, abs=1e-6)
    assert density.nuclear_charges.sum() - molecule.charge == n_valence


@pytest.mark.parametrize("name", ["water", "ethanol", "chloro_sulfide", "water_cation", "triplet"])
def test_dipole_matches_tblite(name, request):
    water = request.getfixturevalue("water")
    if name == "water_cation":
        molecule = water_cation(water)
    elif name == "triplet":
        sulfide = request.getfixturevalue("chloro_sulfide")
        molecule = Molecule(sulfide.numbers, sulfide.positions, multiplicity=3, id="triplet")
    else:
        molecule = request.getfixturevalue(name)
    density = compute_xtb(molecule)
    # tblite's dipole (Mulliken charges + atomic dipoles from dipole integrals) is the exact
    # moment of the same density matrix: measured |Δ| ≤ 4e-9 D on QM9 and these molecules
    assert density.property_units["dipole_tblite"] == "debye"
    np.testing.assert_allclose(density.dipole(), density.properties["dipole_tblite"], atol=1e-6)


def test_properties(ethanol, water):
    density = compute_xtb(ethanol)
    props = density.properties
    assert props["energy"] < 0 and density.property_units["energy"] == "hartree"
    assert props["homo"] < props["lumo"]
    assert props["charges"].shape == (9,) and abs(props["charges"].sum()) < 1e-8
    assert density.provenance["tblite"].count(".") == 2
    cation = compute_xtb(water_cation(water)).properties
    assert cation["homo"] < cation["lumo"] and cation["charges"].sum() == pytest.approx(1.0)


def test_density_positive_and_invariant(chloro_sulfide):
    """Density (a field), dipole and energy under rotation, reflection, translation and
    permutation (rhoml.testing); measured 2e-10 e/Bohr³ on the density (SCF convergence)."""
    rng = np.random.default_rng(7)
    points = chloro_sulfide.positions[rng.integers(0, 13, 2000)] + rng.normal(size=(2000, 3))
    rho = compute_xtb(chloro_sulfide).evaluate(points)
    assert rho.min() > -1e-12 and rho.max() > 0.1

    def xtb(numbers, positions, pts):
        d = compute_xtb(Molecule(numbers, positions, id="chloro_sulfide"))
        return d.evaluate(pts), d.dipole(), d.properties["energy"]

    assert_equivariant(xtb, chloro_sulfide.numbers, chloro_sulfide.positions,
                       ("field", "vector", "scalar"), points=points, seed=7,
                       atol=(1e-7, 1e-5, 1e-8), rtol=(1e-7, 1e-7, 0))  # fmt: skip


def test_scf_failure_is_calculation_error(ethanol):
    with pytest.raises(CalculationError, match="^ethanol: .*not converged") as info:
        compute_xtb(ethanol, max_iterations=1)
    assert "\n" not in str(info.value)


def test_solvent_and_mixer_options(water):
    gas = compute_xtb(water)
    wet = compute_xtb(water, solvent="water", mixer_damping=0.2)
    # ALPB water: lower energy (solvation free energy of water, a few kcal/mol), more polar
    # density, same electron count; the options are recorded
    d_e = (gas.properties["energy"] - wet.properties["energy"]) * HARTREE_IN_KCAL_PER_MOL
    assert 1.0 < d_e < 15.0
    assert np.linalg.norm(wet.dipole()) > np.linalg.norm(gas.dipole())
    assert wet.electron_count() == pytest.approx(8, abs=1e-6)
    assert wet.provenance["solvent"] == "ALPB water" and wet.provenance["mixer_damping"] == 0.2
    assert gas.provenance["solvent"] is None
    with pytest.raises(CalculationError, match="^water: "):
        compute_xtb(water, solvent="no-such-solvent")
