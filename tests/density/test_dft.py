import numpy as np
import pytest

from rhoml.density.dft import DFTSettings, compute_dft
from rhoml.density.fit import fit_density
from rhoml.errors import CalculationError


@pytest.fixture(scope="module")
def water_dft():
    from rhoml import Molecule

    water = Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="water",
    )  # fmt: skip
    return compute_dft(water)


def test_electron_count_from_density_matrix_is_exact(water_dft):
    assert water_dft.electron_count() == pytest.approx(10.0, abs=1e-8)


def test_dipole_matches_pyscf_dip_moment(water_dft):
    np.testing.assert_allclose(water_dft.dipole(), water_dft.properties["dipole"], atol=1e-6)
    assert np.linalg.norm(water_dft.dipole()) == pytest.approx(2.0, abs=0.3)  # B3LYP ~2.0 D


def test_energy_components_add_up(water_dft):
    p = water_dft.properties
    total = (
        p["energy_nuclear_repulsion"] + p["energy_one_electron"] + p["energy_coulomb"]
        + p["energy_xc"]
    )  # fmt: skip
    assert total == pytest.approx(p["energy"], abs=1e-8)
    assert p["homo"] < p["lumo"]
    assert water_dft.property_units["energy"] == "hartree"
    assert water_dft.level == "B3LYP/6-31G**"


def test_exact_exchange_part_of_the_xc_energy(water_dft):
    """B3LYP's 20 % exact exchange, -1/4 · 0.2 · tr(P K[P]), recorded apart from the functional's
    XC (EDG's E4 = Psi4's two-electron energy counts it); none for a pure functional."""
    from pyscf import scf

    from rhoml.density.basis import build_mol

    p = water_dft.properties
    mol = build_mol(water_dft.molecule, "6-31G**")
    dm = np.asarray(water_dft.data)
    k = scf.hf.get_jk(mol, dm)[1]
    want = -0.25 * 0.2 * float(np.einsum("ij,ji->", dm, k))
    assert p["energy_exact_exchange"] == pytest.approx(want, abs=2e-4)  # density-fitted SCF
    assert p["energy_exact_exchange"] < -0.5 and p["energy_xc"] < p["energy_exact_exchange"]
    assert water_dft.property_units["energy_exact_exchange"] == "hartree"
    pbe = compute_dft(water_dft.molecule, functional="PBE", basis="sto-3g")
    assert pbe.properties["energy_exact_exchange"] == 0.0


def test_fit_preserves_electron_count_and_dipole(water_dft):
    fit = fit_density(water_dft, coulomb_error=True)
    assert fit.kind == "coefficients"
    assert fit.electron_count() == pytest.approx(10.0, abs=1e-8)
    np.testing.assert_allclose(fit.dipole(), water_dft.dipole(), atol=0.02)
    assert fit.properties["fit_coulomb_error"] < 1e-3


def test_fit_density_close_to_parent_away_from_nuclei(water_dft):
    fit = fit_density(water_dft)
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)) * 2.0
    far = np.min(np.linalg.norm(pts[:, None] - water_dft.molecule.positions[None], axis=2), 1) > 0.5
    a, b = water_dft.evaluate(pts[far]), fit.evaluate(pts[far])
    assert np.max(np.abs(a - b)) < 0.02 * np.max(a)
    # ESP of the fit agrees with the exact ESP of the density matrix
    e1, e2 = water_dft.esp(pts[far][:50]), fit.esp(pts[far][:50])
    assert np.max(np.abs(e1 - e2)) < 5e-3


def test_scf_not_converged_is_a_calculation_error(water):
    with pytest.raises(CalculationError, match="water: SCF not converged"):
        compute_dft(water, DFTSettings(basis="sto-3g", max_cycle=2))


def test_open_shell_uses_uks():
    from rhoml import Molecule

    oh = Molecule.from_symbols(["O", "H"], [[0, 0, 0], [0, 0, 0.97]], multiplicity=2, id="OH")
    d = compute_dft(oh, basis="6-31G", functional="PBE")
    assert d.provenance["open_shell"]
    assert d.electron_count() == pytest.approx(9.0, abs=1e-8)
