"""The fast DenSNet evaluator (rhoml.models.densnet.fast) against the module path (forward +
autograd).

Untrained models with every weight perturbed (e3nn starts some paths at zero), float64: energy,
forces, dipole and coefficients must agree to round-off, for the dense all-pairs graph and the
radius graph, a charged molecule, a larger auxiliary basis (l up to 4) and after a weight change.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from rhoml.density.flexible_basis import FlexibleBasis, default_basis
from rhoml.density.prior import prior_table
from rhoml.elements import symbol
from rhoml.models.densnet.fast import Evaluator
from rhoml.models.densnet.nets import NetConfig
from rhoml.models.densnet.potential import DenSNet
from rhoml.molecule import Molecule
from rhoml.testing import assert_equivariant, assert_forces_match_energy

CFG_C = NetConfig(channels=8, vectors=4, lmax=2, lmax_sh=3, layers=2, cutoff=4.0, radial=6)
CFG_E = NetConfig(channels=8, vectors=4, lmax=1, lmax_sh=2, layers=2, cutoff=4.0, radial=6)


def _model(basis: FlexibleBasis, seed: int = 0) -> DenSNet:
    torch.manual_seed(seed)
    scales = {el: np.full(basis.n_functions(el), 0.05) for el in basis.elements}
    shift = {1: -300.0, 6: -23000.0, 8: -47000.0}
    m = DenSNet(basis, prior_table(basis), scales, CFG_C, CFG_E, shift, 20.0).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m


@pytest.fixture(scope="module")
def model() -> DenSNet:
    return _model(default_basis())


def _distorted(mol: Molecule, seed: int, scale: float = 0.08) -> Molecule:
    rng = np.random.default_rng(seed)
    pos = mol.positions + scale * rng.normal(size=mol.positions.shape)
    return Molecule(mol.numbers, pos, charge=mol.charge, multiplicity=mol.multiplicity)


def _assert_same(fast: dict, ref: dict) -> None:
    assert fast["energy"] == pytest.approx(ref["energy"], rel=1e-12, abs=1e-9)
    scale = np.abs(ref["forces"]).max()
    np.testing.assert_allclose(fast["forces"], ref["forces"], rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(fast["dipole"], ref["dipole"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast["coeff"], ref["coeff"], rtol=0, atol=1e-11)


def test_matches_module_path(model, ethanol):
    mol = _distorted(ethanol, 1)
    ref = model.predict(mol, fast=False)
    fast = model.predict(mol)
    _assert_same(fast, ref)
    # not vacuous: forces and the Δ density are sizeable, and differ from another geometry's
    assert np.abs(ref["forces"]).max() > 1.0
    other = model.predict(_distorted(ethanol, 2))
    assert np.abs(other["forces"] - fast["forces"]).max() > 1e-2


def test_forces_are_minus_energy_gradient(model, ethanol):
    mol = _distorted(ethanol, 9)
    ev = model.evaluator(mol.numbers)
    # |E| ≈ 1e5 kcal/mol: central-difference round-off ≈ 1e-6 kcal/mol/Å at h = 1e-5 Å
    assert_forces_match_energy(
        lambda z, p: ev(p, forces=False)["energy"], ev(mol.positions)["forces"], mol.numbers,
        mol.positions, h=1e-5, components=[(0, 0), (2, 1), (8, 2)], rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_predictions_are_invariant_and_equivariant(model, ethanol):
    """Energy invariant, forces and dipole rotate, coefficients rotate with Wigner-D blocks,
    under rotation, reflection, translation and permutation (rhoml.testing, fast path).
    Measured: energy 3e-9 of 1e5 kcal/mol, forces 3e-8 of 56 kcal/mol/Å, dipole 9e-10 D,
    coefficients 1.3e-10 e (e3nn's float64 round-off)."""
    mol = _distorted(ethanol, 11)
    ref = model.predict(mol)
    kinds = {
        "energy": "scalar",
        "forces": "atom_vector",
        "dipole": "vector",
        "coeff": "coefficients",
    }
    atol = {"energy": 1e-12 * abs(ref["energy"]), "forces": 1e-8 * np.abs(ref["forces"]).max(),
            "dipole": 1e-8, "coeff": 1e-9}  # fmt: skip
    assert_equivariant(
        lambda z, p: model.predict(Molecule(z, p)), mol.numbers, mol.positions, kinds,
        shells=lambda z: model.basis.ls(symbol(z)), order="pyscf", seed=11, atol=atol, rtol=0,
    )  # fmt: skip
    assert np.abs(ref["dipole"]).max() > 0.1 and np.abs(ref["forces"]).max() > 1.0


def test_radius_graph_path_and_far_atoms(model, ethanol, water):
    """Two molecules 8 Å apart (beyond the 4 Å cutoff): all-pairs graph, radius graph and the
    module path agree (pairs beyond the cutoff contribute exactly nothing)."""
    pos = np.vstack([ethanol.positions, water.positions + [8.0, 0.0, 0.0]])
    mol = _distorted(Molecule(np.concatenate([ethanol.numbers, water.numbers]), pos), 3)
    ref = model.predict(mol, fast=False)
    dense = Evaluator(model, mol.numbers)(mol.positions)
    sparse = Evaluator(model, mol.numbers, dense_max_atoms=0)(mol.positions)
    _assert_same(dense, ref)
    _assert_same(sparse, ref)


def test_charged_molecule_and_no_forces(model, water):
    mol = _distorted(Molecule(water.numbers, water.positions, charge=1, multiplicity=2), 4)
    ref = model.predict(mol, fast=False)
    fast = model.predict(mol)
    _assert_same(fast, ref)
    q = model.coeff_net.prior_vector(mol.numbers)  # nonzero only on s functions
    assert (q != 0).any()
    e_only = model.predict(mol, forces=False, dipole=False)
    assert e_only["energy"] == pytest.approx(ref["energy"], rel=1e-12)
    assert "forces" not in e_only and "dipole" not in e_only


def test_larger_basis_with_g_functions(ethanol):
    basis = FlexibleBasis.from_pyscf("def2-universal-jfit", ["H", "C", "O"], lmax=4)
    assert basis.lmax() == 4
    m = _model(basis, seed=1)
    mol = _distorted(ethanol, 5)
    _assert_same(m.predict(mol), m.predict(mol, fast=False))


def test_cache_follows_weight_changes(ethanol):
    m = _model(default_basis(), seed=2)
    mol = _distorted(ethanol, 6)
    before = m.predict(mol)["energy"]
    with torch.no_grad():
        m.energy_net.readout[2].bias.add_(1.0)
    after = m.predict(mol)
    assert after["energy"] != pytest.approx(before, abs=1e-6)
    _assert_same(after, m.predict(mol, fast=False))


def test_float32_close_to_float64(model, ethanol):
    mol = _distorted(ethanol, 7)
    ref = model.predict(mol, fast=False)
    m32 = _model(default_basis()).float()
    m32.load_state_dict(model.state_dict())
    fast = m32.predict(mol)
    assert fast["energy"] == pytest.approx(ref["energy"], rel=1e-6)
    np.testing.assert_allclose(
        fast["forces"], ref["forces"], atol=1e-4 * np.abs(ref["forces"]).max()
    )


def test_wrong_shape_is_rejected(model, ethanol):
    ev = model.evaluator(ethanol.numbers)
    with pytest.raises(ValueError, match="shape"):
        ev(ethanol.positions[:3])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="no C++")
def test_compiled_matches_eager(model, ethanol):
    mol = _distorted(ethanol, 8)
    ref = model.predict(mol, fast=False)
    out = Evaluator(model, mol.numbers, compile=True)(mol.positions)
    _assert_same(out, ref)
