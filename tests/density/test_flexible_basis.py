"""Flexible basis: irreps per shell, ordering matrices, scales, prior electron counts."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.density.flexible_basis import FlexibleBasis, default_basis, pyscf_from_e3nn
from rhoml.density.prior import prior_table


def test_irreps_and_parity_follow_shells():
    b = default_basis()
    assert b.irreps("H") == "1x0e+1x0e+1x0e+1x1o+1x2e"
    assert "1x3o" in b.irreps("C") and "4e" not in b.irreps("C")
    from e3nn import o3

    assert o3.Irreps(b.irreps("O")).dim == b.n_functions("O")


@pytest.mark.parametrize("reflection", [False, True])
@pytest.mark.parametrize("l", [0, 1, 2, 3, 4])
def test_ordering_matrix_maps_rotations(l, reflection):
    """c_pyscf = A c_e3nn: a rotation acts on PySCF components as A D(R) A⁻¹ (D in e3nn's order,
    rhoml.testing.wigner_d), which must equal the transformation PySCF's own harmonics undergo
    (checked by evaluating them)."""
    from pyscf import gto

    from rhoml.testing import random_rotation, wigner_d

    a = pyscf_from_e3nn(l)
    rng = np.random.default_rng(l)
    rot = random_rotation(rng, reflection=reflection)
    d = wigner_d(l, rot, order="e3nn")
    mol = gto.M(atom="He 0 0 0", basis={"He": [[l, [1.0, 1.0]]]}, unit="Bohr", verbose=0)
    pts = rng.normal(size=(20, 3))
    y = mol.eval_gto("GTOval_sph", pts)  # (n, 2l+1)
    y_rot = mol.eval_gto("GTOval_sph", pts @ rot.T)
    # a density Σ c_p Y_p(r) rotated is Σ c'_p Y_p(r) with c' = A D A⁻¹ c: compare values
    c = rng.normal(size=2 * l + 1)
    c_rot = a @ d @ np.linalg.inv(a) @ c
    # wigner_d is exact to round-off (e3nn's D_from_matrix, via Euler angles, only to ~1e-6)
    np.testing.assert_allclose(y_rot @ c_rot, y @ c, atol=1e-10)
    if l > 0:
        assert np.abs(y_rot @ c - y @ c).max() > 1e-3  # the rotation matters


def test_scales_change_exponents_and_roundtrip():
    b = default_basis()
    b.log_scales["C"][0] = np.log(2.0)
    e0 = default_basis().pyscf_basis()["C"][0][1][0]
    assert b.pyscf_basis()["C"][0][1][0] == pytest.approx(2 * e0)
    again = FlexibleBasis.from_dict(b.to_dict())
    assert again.key() == b.key() != default_basis().key()


def test_prior_counts_electrons_and_is_spherical():
    from rhoml.density.flexible_basis import element_integrals

    b = default_basis()
    table = prior_table(b)
    for el, z in (("H", 1), ("C", 6), ("O", 8)):
        q, _ = element_integrals(b, el)
        assert q @ table[el] == pytest.approx(z, abs=1e-8)
        ls = np.repeat(b.ls(el), [2 * l + 1 for l in b.ls(el)])
        assert np.all(table[el][ls > 0] == 0)


def test_optimise_scales_never_increases_fit_error(water):
    from rhoml.density.fit_scales import optimise_scales
    from rhoml.density.promolecule import compute_promolecule

    b = default_basis(("H", "O"))
    _, hist = optimise_scales([compute_promolecule(water)], b, steps=(-0.3, 0.3))
    assert all(x >= y for x, y in zip(hist, hist[1:], strict=False))
    assert hist[-1] < hist[0]


@pytest.mark.parametrize("name", ["etb:def2-svp:1.8", "autoaux:def2-svp"])
def test_generated_aux_bases_match_pyscf(name):
    """``etb:``/``autoaux:`` names give PySCF's generated aux shells (l and exponents)."""
    from pyscf import gto
    from pyscf.df import addons

    b = FlexibleBasis.from_pyscf(name, ["H", "C"], 10)
    mol = gto.M(atom="C 0 0 0; H 0 0 1.1", basis="def2-svp", spin=1, verbose=0)
    ref = addons.aug_etb(mol, 1.8) if name.startswith("etb") else addons.autoaux(mol)
    for el in ("H", "C"):
        got = sorted((l, round(e, 8)) for l, exps, _ in b.shells[el] for e in exps)
        want = sorted((s[0], round(p[0], 8)) for s in ref[el] for p in s[1:])
        assert got == want
    assert max(b.ls("C")) == (4 if name.startswith("etb") else 3) and max(b.ls("H")) == 2
    trunc = FlexibleBasis.from_pyscf(name, ["C"], 2)
    assert max(trunc.ls("C")) == 2 and len(trunc.ls("C")) < len(b.ls("C"))


def test_etb_default_beta_and_bad_orbital_basis():
    a = FlexibleBasis.from_pyscf("etb:def2-svp", ["O"], 10)
    b = FlexibleBasis.from_pyscf("etb:def2-svp:2.0", ["O"], 10)
    assert a.shells == b.shells
    with pytest.raises(Exception, match="no-such-basis"):
        FlexibleBasis.from_pyscf("etb:no-such-basis", ["O"], 10)


@pytest.mark.parametrize("metric", ["coulomb", "overlap"])
def test_orthogonalised_basis_keeps_span_and_is_orthogonal(metric, water):
    """Same-centre orthogonal contractions: a fit gives the same density as in the primitive
    basis, and each atom's shells of one l are orthogonal in the chosen metric."""
    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.molecule import Molecule

    prim = FlexibleBasis.from_pyscf("etb:def2-svp:2.0", ["H", "O"], {"H": 1, "O": 2})
    orth = prim.orthogonalised(metric)
    assert [orth.n_functions(e) for e in "HO"] == [prim.n_functions(e) for e in "HO"]
    dens = compute_promolecule(water)
    pts = np.random.default_rng(0).normal(scale=1.5, size=(200, 3))
    rho = [
        basis_only_mol(water, b.pyscf_basis()).eval_gto("GTOval_sph", pts)
        @ fit_density(dens, b.pyscf_basis()).data
        for b in (prim, orth)
    ]
    np.testing.assert_allclose(rho[1], rho[0], atol=1e-6 * np.abs(rho[0]).max())
    o = Molecule([8], [[0.0, 0.0, 0.0]], multiplicity=3)
    aux = basis_only_mol(o, orth.pyscf_basis())
    m = aux.intor("int2c2e" if metric == "coulomb" else "int1e_ovlp")
    s_idx = [i for i, lab in enumerate(aux.ao_labels()) if lab.split()[-1].endswith("s")]
    block = m[np.ix_(s_idx, s_idx)]
    np.testing.assert_allclose(block - np.diag(np.diag(block)), 0, atol=1e-7 * block.max())
    smaller = prim.orthogonalised(metric, rel_tol=1e-3)
    assert smaller.n_functions("O") < prim.n_functions("O")
    with pytest.raises(ValueError, match="metric"):
        prim.orthogonalised("l1")
