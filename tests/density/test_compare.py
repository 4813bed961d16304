"""Aux densities on Becke grids: the primitive-basis evaluation reproduces the contracted one."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.density import compare as metrics
from rhoml.density.flexible_basis import FlexibleBasis, default_basis


@pytest.mark.parametrize("kind", ["orthogonalised", "scaled_jfit"])
def test_primitive_evaluation_matches_contracted(kind, water):
    """ρ from c_prim = T c in the uncontracted basis equals ρ from the contracted shells."""
    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule

    if kind == "orthogonalised":
        basis = FlexibleBasis.from_pyscf("etb:def2-svp:1.8", ["H", "O"], {"H": 2, "O": 3})
        basis = basis.orthogonalised("coulomb")
    else:
        basis = default_basis(["H", "O"])
        basis.log_scales["O"] = [0.1 * (-1) ** k for k in range(len(basis.log_scales["O"]))]
    pb = basis.pyscf_basis()
    c = fit_density(compute_promolecule(water), pb).data
    rng = np.random.default_rng(1)
    coeffs = np.stack([c, c + 1e-2 * rng.normal(size=c.shape)], axis=1)
    pts, w = metrics.becke_grid(water, level=2)
    fast = metrics.aux_on_points(water, pb, coeffs, pts)
    slow = metrics.aux_on_points(water, pb, coeffs, pts, primitive=False)
    assert fast.shape == slow.shape == (len(pts), 2)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12 * np.abs(slow).max())
    one = metrics.aux_on_points(water, pb, c, pts)
    np.testing.assert_allclose(one, fast[:, 0], rtol=0, atol=1e-12 * np.abs(one).max())
    pmol, t = metrics.primitive_map(water, pb)
    contracted = basis_only_mol(water, pb)
    assert t.shape == (pmol.nao, contracted.nao)
    assert pmol.npgto_nr() <= contracted.npgto_nr()
    if kind == "orthogonalised":  # exponents shared by the shells of one l are evaluated once
        assert pmol.npgto_nr() < contracted.npgto_nr() / 4
    # the grid integrates the fitted density to the electron count (fit keeps the charge)
    assert metrics.nmae(one, 0 * one, w, 10.0) == pytest.approx(1.0, abs=2e-3)
