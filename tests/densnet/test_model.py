"""Equivariance, electron count and dipole of the DenSNet coefficient network (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml.densnet.basis import default_basis
from rhoml.densnet.model import CoefficientNet, EnergyNet, NetConfig
from rhoml.densnet.prior import prior_table
from rhoml.molecule import Molecule

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
    from rhoml.densnet.metrics import aux_on_points
    from rhoml.units import angstrom_to_bohr

    return aux_on_points(mol, basis.pyscf_basis(), coeff, angstrom_to_bohr(pts_ang))


def _random_orthogonal(rng, reflect: bool) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    if reflect:
        q = q @ np.diag([1.0, 1.0, -1.0])
    return q


@pytest.mark.parametrize("reflect", [False, True])
def test_density_rotates_with_molecule(nets, reflect):
    basis, net, _ = nets
    rng = np.random.default_rng(1 + reflect)
    mol = _ethanol_like(rng)
    rot = _random_orthogonal(rng, reflect)
    shift = rng.normal(size=3)
    perm = rng.permutation(len(mol.numbers))
    moved = Molecule(mol.numbers[perm], (mol.positions @ rot.T + shift)[perm])
    c0 = _predict(net, mol)[0].detach().numpy()
    c1 = _predict(net, moved)[0].detach().numpy()
    pts = mol.positions.mean(0) + rng.normal(scale=1.5, size=(200, 3))
    rho0 = _rho(basis, mol, c0, pts)
    rho1 = _rho(basis, moved, c1, pts @ rot.T + shift)
    assert np.abs(rho0 - rho1).max() < 1e-9 * np.abs(rho0).max()
    # the check is not vacuous: the Δ part is a sizeable, anisotropic density
    assert np.abs(rho0 - _rho(basis, mol, net.prior_vector(mol.numbers), pts)).max() > 1e-3


def test_broken_conversion_is_caught(nets):
    """The rotation test fails when the e3nn → PySCF ordering is wrong (l=2 block permuted)."""
    basis, net, _ = nets
    rng = np.random.default_rng(3)
    mol = _ethanol_like(rng)
    rot = _random_orthogonal(rng, False)
    moved = Molecule(mol.numbers, mol.positions @ rot.T)
    z = 6
    conv = net._buf("conv", z)
    saved = conv.clone()
    ls = np.repeat(basis.ls("C"), [2 * l + 1 for l in basis.ls("C")])
    d = np.nonzero(ls == 2)[0][:5]
    conv[d] = conv[d[::-1].copy()]
    try:
        c0 = _predict(net, mol)[0].detach().numpy()
        c1 = _predict(net, moved)[0].detach().numpy()
    finally:
        conv.copy_(saved)
    pts = mol.positions.mean(0) + rng.normal(scale=1.5, size=(200, 3))
    diff = np.abs(_rho(basis, mol, c0, pts) - _rho(basis, moved, c1, pts @ rot.T)).max()
    assert diff > 1e-4


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
    rng = np.random.default_rng(6)
    mol = _ethanol_like(rng)
    rot = _random_orthogonal(rng, True)

    def energy(positions):
        m = Molecule(mol.numbers, positions)
        c, feats, off, z, pos, batch = _predict(net, m)
        return enet(z, pos, batch, feats)[0]

    e0 = energy(mol.positions).item()
    e1 = energy(mol.positions @ rot.T + 1.0).item()
    assert e0 == pytest.approx(e1, abs=1e-9)
    pos = torch.as_tensor(mol.positions, dtype=torch.float64).requires_grad_(True)
    z = torch.as_tensor(mol.numbers)
    batch = torch.zeros(len(z), dtype=torch.long)
    c, feats, _ = net(z, pos, batch, torch.tensor([26.0]))
    e = enet(z, pos, batch, feats)[0]
    (grad,) = torch.autograd.grad(e, pos)
    h = 1e-5
    for a, k in [(0, 0), (2, 1), (7, 2)]:
        p1, p2 = mol.positions.copy(), mol.positions.copy()
        p1[a, k] += h
        p2[a, k] -= h
        fd = (energy(p1).item() - energy(p2).item()) / (2 * h)
        assert grad[a, k].item() == pytest.approx(fd, rel=1e-5, abs=1e-7)
