"""Conformer search on an analytic potential with a known torsional profile, Boltzmann weights,
trajectory allocation and rotatable-bond detection."""

from __future__ import annotations

import numpy as np
import pytest
from test_protocol import NUMBERS, X0

from rhoml.ase import FunctionPotential, RhomlCalculator
from rhoml.errors import InputError
from rhoml.md.conformers import allocate, boltzmann_weights, rotatable_bonds, search
from rhoml.molecule import Molecule

R0 = np.linalg.norm(X0[:, None] - X0[None], axis=-1)
OH, TORSION = 8, (1, 0, 2, 8)  # the hydroxyl H and the dihedral C-C-O-H
# springs on 1-2 and 1-3 pairs only (< 2.6 Å), none from the hydroxyl H to atoms beyond C0 and O:
# turning the OH about C-O changes no spring, only V(phi)
PAIRS = [(i, j) for i in range(9) for j in range(i + 1, 9)
         if R0[i, j] < 2.6 and not (j == OH and i not in (0, 2))]  # fmt: skip
V3, V1 = 1.0, 0.4  # kcal/mol: V(phi) = V3 (1 + cos 3phi)/2 + V1 (1 + cos phi)/2


def torsion_potential(mol: Molecule) -> dict:
    """Bond-angle springs plus V(phi): minima trans (phi = 180 deg, V = 0) and two mirror gauche
    (phi near ±60 deg, V near 0.75 V1 = 0.3 kcal/mol)."""
    import torch

    x = torch.tensor(mol.positions, dtype=torch.float64, requires_grad=True)
    i, j = torch.tensor(PAIRS).T
    r = (x[i] - x[j]).norm(dim=1)
    e = 50.0 * ((r - torch.as_tensor(R0[i, j])) ** 2).sum()
    a, b, c, d = (x[k] for k in TORSION)
    b1, b2, b3 = b - a, c - b, d - c
    n1, n2 = torch.linalg.cross(b1, b2), torch.linalg.cross(b2, b3)
    m1 = torch.linalg.cross(n1, b2 / b2.norm())
    phi = torch.atan2((m1 * n2).sum(), (n1 * n2).sum())
    e = e + V3 * (1 + torch.cos(3 * phi)) / 2 + V1 * (1 + torch.cos(phi)) / 2
    (g,) = torch.autograd.grad(e, x)
    return {"energy": float(e.detach()), "forces": (-g).numpy(), "dipole": np.zeros(3)}


def test_rotatable_bonds_skip_methyl_tops_and_rings():
    bonds = rotatable_bonds(NUMBERS, X0)
    assert bonds == [(0, 2, [2, 8])]  # C-O turns the OH; C-C is a methyl top
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("OC1CCCC1"))  # cyclopentanol
    AllChem.EmbedMolecule(mol, randomSeed=0)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    pos = mol.GetConformer().GetPositions()
    found = rotatable_bonds(z, pos)
    assert len(found) == 1  # the ring bonds are not rotatable, C-O is
    a, b, side = found[0]
    assert {int(z[a]), int(z[b])} == {6, 8} and len(side) == 2


def test_search_finds_trans_and_the_two_gauche_as_one_conformer():
    calc = RhomlCalculator(FunctionPotential(torsion_potential))
    mol = Molecule(NUMBERS, X0, id="torsion")
    confs = search(calc, mol, temperature=300.0, fmax=1e-3)
    assert [c.count for c in confs] == [1, 2]  # trans, then gauche (two mirror minima)
    rel = (confs[1].energy_ev - confs[0].energy_ev) * 23.0605  # kcal/mol
    assert 0.2 < rel < 0.35
    expected = boltzmann_weights([c.energy_ev for c in confs], [1, 2], 300.0)
    np.testing.assert_allclose([c.weight for c in confs], expected)
    assert abs(sum(c.weight for c in confs) - 1.0) < 1e-12
    # the gauche weight: 2 exp(-dE/kT) / (1 + 2 exp(-dE/kT))
    kt = 0.0019872 * 300.0
    g = 2 * np.exp(-rel / kt)
    assert confs[1].weight == pytest.approx(g / (1 + g), rel=1e-3)
    only = search(calc, mol, temperature=300.0, fmax=1e-3, min_weight=0.9)
    assert len(only) == 1 and only[0].weight == 1.0


def test_boltzmann_weights_and_allocation():
    w = boltzmann_weights([0.0, 0.0, 1.0], [1, 2, 1], 300.0)
    np.testing.assert_allclose(w[:2], [1 / 3, 2 / 3], rtol=1e-12, atol=1e-15)
    assert w[2] < 1e-15
    assert allocate([0.74, 0.26], 8) == [0] * 6 + [1] * 2
    assert allocate([0.5, 0.25, 0.25], 3) == [0, 1, 2]  # ties go to the lower index
    assert allocate([1.0], 5) == [0] * 5
    for n in (1, 7, 13):
        assert len(allocate([0.2, 0.3, 0.5], n)) == n
    with pytest.raises(InputError):
        allocate([], 3)
