"""Equivariance, electron count and dipole of the DenSNet coefficient network (float64).

Symmetry and force checks go through :mod:`rhoml.testing`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml.density.flexible_basis import default_basis
from rhoml.density.prior import prior_table
from rhoml.elements import symbol
from rhoml.models.densnet.nets import CoefficientNet, EnergyNet, NetConfig
from rhoml.molecule import Molecule
from rhoml.testing import (
    assert_coefficients_equivariant,
    assert_field_equivariant,
    assert_forces_match_energy,
    assert_invariant,
    assert_vector_equivariant,
)

CFG = NetConfig(channels=8, vectors=4, lmax=2, lmax_sh=3, layers=2, cutoff=4.0, radial=6)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    basis = default_basis()
    prior = prior_table(basis)
    scales = {el: np.full(basis.n_functions(el), 0.05) for el in basis.elements}
    net = CoefficientNet(basis, prior, scales, CFG).double()
    # random non-zero weights everywhere (e3nn inits some paths at zero)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    enet = EnergyNet(basis, CFG, {1: -0.5, 6: -1.0, 8: -2.0}, 1.0).double()
    return basis, net, enet


def _ethanol_like(rng) -> Molecule:
    pos = np.array(
        [
            [-0.05, 0.56, 0.0],
            [1.39, 0.12, 0.0],
            [-0.92, -0.54, 0.0],
            [-0.32, 1.16, 0.88],
            [-0.32, 1.16, -0.88],
            [1.57, -0.48, 0.89],
            [1.57, -0.48, -0.89],
            [2.06, 0.98, 0.0],
            [-0.62, -1.36, 0.0],
        ]
    )
    return Molecule([6, 6, 8, 1, 1, 1, 1, 1, 1], pos + 0.05 * rng.normal(size=pos.shape))


def _predict(net, mol: Molecule):
    z = torch.as_tensor(mol.numbers)
    pos = torch.as_tensor(mol.positions, dtype=torch.float64)
    batch = torch.zeros(len(z), dtype=torch.long)
    c, feats, off = net(z, pos, batch, torch.tensor([float(mol.numbers.sum())]))
    return c, feats, off, z, pos, batch


def _rho(basis, mol: Molecule, coeff: np.ndarray, pts_ang: np.ndarray) -> np.ndarray:
    from rhoml.density.compare import aux_on_points
    from rhoml.units import angstrom_to_bohr

    return aux_on_points(mol, basis.pyscf_basis(), coeff, angstrom_to_bohr(pts_ang))


def _coefficients(net):
    def fn(numbers, positions):
        return _predict(net, Molecule(numbers, positions))[0]

    return fn


def _density(basis, net):
    """(numbers, positions, points Å) → predicted density at the points (e/Bohr³)."""

    def fn(numbers, positions, points):
        mol = Molecule(numbers, positions)
        return _rho(basis, mol, _predict(net, mol)[0].detach().numpy(), points)

    return fn


def _shells(basis):
    return lambda z: basis.ls(symbol(z))


def test_density_rotates_with_molecule(nets):
    """Rotation, reflection, translation, permutation and all together (rhoml.testing)."""
    basis, net, _ = nets
    rng = np.random.default_rng(1)
    mol = _ethanol_like(rng)
    pts = mol.positions.mean(0) + rng.normal(scale=1.5, size=(200, 3))
    rho0 = _rho(basis, mol, _predict(net, mol)[0].detach().numpy(), pts)
    assert_field_equivariant(_density(basis, net), mol.numbers, mol.positions, pts, seed=1,
                             atol=1e-9 * np.abs(rho0).max(), rtol=0)  # fmt: skip
    # the check is not vacuous: the Δ part is a sizeable, anisotropic density
    assert np.abs(rho0 - _rho(basis, mol, net.prior_vector(mol.numbers), pts)).max() > 1e-3


def test_coefficients_rotate_with_wigner_d(nets):
    """c(R x + t, P) = P D(R) c(x) with D built from PySCF's real harmonics (rhoml.testing)."""
    basis, net, _ = nets
    mol = _ethanol_like(np.random.default_rng(2))
    c = _predict(net, mol)[0].detach().numpy()
    delta = c - net.prior_vector(mol.numbers)
    assert np.abs(delta).max() > 1e-2  # the Δ coefficients carry l > 0 components
    assert_coefficients_equivariant(_coefficients(net), mol.numbers, mol.positions,
                                    _shells(basis), order="pyscf", seed=2,
                                    atol=1e-10 * np.abs(c).max(), rtol=0)  # fmt: skip


def test_broken_conversion_is_caught(nets):
    """The rotation tests fail when the e3nn → PySCF ordering is wrong (l=2 block permuted)."""
    basis, net, _ = nets
    rng = np.random.default_rng(3)
    mol = _ethanol_like(rng)
    pts = mol.positions.mean(0) + rng.normal(scale=1.5, size=(200, 3))
    z = 6
    conv = net._buf("conv", z)
    saved = conv.clone()
    ls = np.repeat(basis.ls("C"), [2 * l + 1 for l in basis.ls("C")])
    d = np.nonzero(ls == 2)[0][:5]
    conv[d] = conv[d[::-1].copy()]
    only_rotation = dict(reflection=False, translation=False, permutation=False, seed=3)
    try:
        # caught even at a tolerance of 1e-4 e/Bohr³ (and 1e-4 e on the coefficients)
        with pytest.raises(AssertionError, match=r"\(field\) under rotation"):
            assert_field_equivariant(_density(basis, net), mol.numbers, mol.positions, pts,
                                     atol=1e-4, rtol=0, **only_rotation)  # fmt: skip
        with pytest.raises(AssertionError, match=r"\(coefficients\) under rotation"):
            assert_coefficients_equivariant(_coefficients(net), mol.numbers, mol.positions,
                                            _shells(basis), atol=1e-4, rtol=0,
                                            **only_rotation)  # fmt: skip
    finally:
        conv.copy_(saved)


def test_electron_count_exact(nets):
    basis, net, _ = nets
    mol = _ethanol_like(np.random.default_rng(4))
    c = _predict(net, mol)[0].detach().numpy()
    from rhoml.density.basis import basis_only_mol, function_integrals

    q, _ = function_integrals(basis_only_mol(mol, basis.pyscf_basis()))
    assert q @ c == pytest.approx(26.0, abs=1e-10)


def test_dipole_matches_density_dipole(nets):
    """Torch dipole from coefficients equals rhoml's analytic Density.dipole of the same c."""
    from rhoml.density.base import Density

    basis, net, _ = nets
    mol = _ethanol_like(np.random.default_rng(5))
    c, _, off, z, pos, batch = _predict(net, mol)
    mu = net.dipole(z, pos, batch, c, off)[0].detach().numpy()
    dens = Density(
        mol,
        basis.pyscf_basis(),
        "coefficients",
        c.detach().numpy(),
        mol.numbers.astype(float),
        "densnet",
    )
    np.testing.assert_allclose(mu, dens.dipole(), atol=1e-9)


def test_energy_invariant_and_forces_are_gradient(nets):
    basis, net, enet = nets
    mol = _ethanol_like(np.random.default_rng(6))

    def energy(numbers, positions):
        c, feats, off, z, pos, batch = _predict(net, Molecule(numbers, positions))
        return enet(z, pos, batch, feats)[0]

    def forces(numbers, positions):
        z = torch.as_tensor(numbers)
        pos = torch.as_tensor(positions, dtype=torch.float64).requires_grad_(True)
        batch = torch.zeros(len(z), dtype=torch.long)
        _, feats, _ = net(z, pos, batch, torch.tensor([float(z.sum())]))
        (grad,) = torch.autograd.grad(enet(z, pos, batch, feats)[0], pos)
        return -grad

    assert_invariant(energy, mol.numbers, mol.positions, seed=6, atol=1e-9, rtol=0)
    assert_vector_equivariant(forces, mol.numbers, mol.positions, per_atom=True, seed=6,
                              atol=1e-9, rtol=0)  # fmt: skip
    assert_forces_match_energy(
        energy,
        forces,
        mol.numbers,
        mol.positions,
        h=1e-5,
        components=[(0, 0), (2, 1), (7, 2)],
        rtol=1e-5,
        atol=1e-7,
    )
