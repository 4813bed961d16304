"""Grid evaluation: agreement with PySCF's evaluator, invariance, ESP, gradients."""

import numpy as np
import pytest
from pyscf import gto, scf
from pyscf.dft import numint

from rhoml import Molecule
from rhoml.density.base import Density
from rhoml.density.basis import mol_basis_dict
from rhoml.density.on_grid import evaluate_on_grid
from rhoml.grid import Grid
from rhoml.testing import assert_equivariant
from rhoml.units import ANGSTROM_IN_BOHR


def _rhf_density(molecule, basis="6-31g*"):
    mol = gto.M(atom=molecule.to_pyscf_atom(), basis=basis, verbose=0)
    mf = scf.RHF(mol).run()
    return Density(molecule, mol_basis_dict(mol), "density_matrix", mf.make_rdm1(),
                   molecule.numbers, "test", "RHF"), mol, mf  # fmt: skip


def test_matches_pyscf_eval_rho_with_gradient(water):
    d, mol, mf = _rhf_density(water)
    pts = np.random.default_rng(1).uniform(-3, 3, size=(3000, 3))
    ref = numint.eval_rho(
        mol, numint.eval_ao(mol, pts * ANGSTROM_IN_BOHR, deriv=1), mf.make_rdm1(), xctype="GGA"
    )
    np.testing.assert_allclose(d.evaluate(pts, gradient=True), ref.T, atol=1e-10)


def test_grid_density_invariant_under_rotation_and_translation(ethanol):
    """Density, |∇ρ| (fields) and dipole of RHF/STO-3G under rotation, reflection, translation
    and permutation (rhoml.testing); the grid evaluator agrees with the point evaluator."""
    d, _, _ = _rhf_density(ethanol, "sto-3g")
    grid = Grid.around(ethanol, spacing=0.4, margin=2.0)
    pts = grid.points()
    np.testing.assert_allclose(evaluate_on_grid(d, grid).ravel(), d.evaluate(pts), atol=1e-12)

    def rhf(numbers, positions, points):
        dens, _, _ = _rhf_density(Molecule(numbers, positions, id="ethanol"), "sto-3g")
        return dens.evaluate(points), dens.gradient_norm(points), dens.dipole()

    assert_equivariant(rhf, ethanol.numbers, ethanol.positions, ("field", "field", "vector"),
                       points=pts, seed=7, atol=(1e-7, 1e-6, 1e-6), rtol=1e-7)  # fmt: skip


def test_gradient_matches_finite_differences(water):
    d, _, _ = _rhf_density(water)
    p = np.array([[0.3, -0.4, 0.9]])
    h = 1e-4  # Å
    fd = [
        (d.evaluate(p + h * e) - d.evaluate(p - h * e))[0] / (2 * h * ANGSTROM_IN_BOHR)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(d.evaluate(p, gradient=True)[0, 1:], fd, rtol=1e-5)


def test_esp_far_field_is_dipolar(water):
    d, _, _ = _rhf_density(water)
    mu = d.dipole() / 2.541746473  # e·Bohr
    r = np.array([[0.0, 0.0, 30.0]])  # Å
    rb = r[0] * ANGSTROM_IN_BOHR
    expected = mu @ rb / np.linalg.norm(rb) ** 3
    assert d.esp(r)[0] == pytest.approx(expected, rel=0.02)


def test_grid_tiles_cover_every_point_once(water):
    g = Grid.around(water, spacing=0.5, margin=1.0)
    count = np.zeros(g.shape, dtype=int)
    for sl, pts in g.tiles(5):
        count[sl] += 1
        np.testing.assert_allclose(pts, g.points(*sl))
    assert np.all(count == 1)


def test_separable_regular_grid_evaluator_matches_point_evaluator(ethanol):
    from rhoml.density.regular_grid import evaluate_on_regular_grid

    d, _, _ = _rhf_density(ethanol, "6-31g**")  # s, p, d shells, contracted
    grid = Grid.around(ethanol, spacing=0.3, margin=2.5)
    pts = grid.points()
    ref = d.evaluate(pts, gradient=True)
    fast = evaluate_on_regular_grid(d, grid, gradient=True).reshape(-1, 4)
    np.testing.assert_allclose(fast, ref, atol=1e-9)
    np.testing.assert_allclose(evaluate_on_grid(d, grid).ravel(), ref[:, 0], atol=1e-9)


def test_density_matrix_factor_is_exact(water):
    from rhoml.density.evaluate import density_matrix_factor

    d, _, _ = _rhf_density(water)
    u, sign = density_matrix_factor(d.data)
    assert u.shape[1] == 5  # rank = occupied orbitals of water
    np.testing.assert_allclose((u * sign) @ u.T, d.data, atol=1e-12)
