"""rhoml.testing: each tester passes a correct model and fails a deliberately broken one.

The toy models are small analytic numpy functions (float64) of (numbers, positions): a pair
potential with its analytic forces, a charge-weighted dipole, a Gaussian promolecule-like field,
neighbour-harmonic coefficients, a Gaussian voxeliser. Each broken variant has one realistic bug
(an absolute coordinate, a wrong sign, a scaled component, an atom-index weight, a harmonic order
mix-up, an off-by-half grid origin...) and the tester must name the transformation it breaks.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rhoml import testing as T

NUMBERS = np.array([8, 1, 1, 6, 1])
POS = np.array(
    [[0.0, 0.0, 0.12], [0.0, 0.76, -0.47], [0.1, -0.75, -0.45], [1.3, 0.2, 0.9], [2.0, -0.4, 1.5]]
)
CHARGE = {1: 0.4, 6: -0.3, 8: -0.9}  # sums to zero on NUMBERS: a neutral toy molecule


# -- toy models -----------------------------------------------------------------------------------
def _pairs(numbers, pos):
    d = pos[:, None, :] - pos[None, :, :]  # (n, n, 3) r_i − r_j
    r = np.linalg.norm(d, axis=-1)
    w = np.sqrt(np.outer(numbers, numbers)) / 10.0
    np.fill_diagonal(r, 1.0)
    off = ~np.eye(len(numbers), dtype=bool)
    return d, r, w, off


def energy(numbers, pos):
    """Σ_{i<j} w_ij (exp(−r) + 1/r²)."""
    _, r, w, off = _pairs(numbers, pos)
    return 0.5 * float((w * (np.exp(-r) + r**-2))[off].sum())


def forces(numbers, pos):
    """−∂E/∂R of :func:`energy`, analytic."""
    d, r, w, off = _pairs(numbers, pos)
    de_dr = w * (-np.exp(-r) - 2 * r**-3) * off
    return -(de_dr[..., None] * d / r[..., None]).sum(axis=1)


def dipole(numbers, pos):
    q = np.array([CHARGE[int(z)] for z in numbers])
    return q @ pos


def field(numbers, pos, pts, gradient=False):
    """Σ_A Z_A exp(−a_A |r − R_A|²) and its gradient (m, 3)."""
    a = 1.0 + 0.1 * numbers
    d = pts[:, None, :] - pos[None, :, :]  # (m, n, 3)
    g = numbers * np.exp(-a * (d**2).sum(-1))  # (m, n)
    if gradient:
        return (-2 * a[None, :, None] * d * g[..., None]).sum(1)
    return g.sum(1)


SHELLS = {1: [0, 1, 2], 6: [0, 1, 2, 3], 8: [0, 0, 1, 2, 3]}


def coefficients(numbers, pos, order="pyscf", harmonics_order=None):
    """Per atom, per shell l: Σ_j w(r_ij) Y_l(r̂_ij) over the other atoms (flat, atom by atom)."""
    out = []
    for i, zi in enumerate(numbers):
        for k, l in enumerate(SHELLS[int(zi)]):
            c = np.zeros(2 * l + 1)
            for j, zj in enumerate(numbers):
                if j == i:
                    continue
                v = pos[j] - pos[i]
                r = np.linalg.norm(v)
                y = T._harmonics(l, (v / r)[None], harmonics_order or order)[0]
                c += zj * np.exp(-(0.5 + 0.3 * k) * r) * y
            out.append(c)
    return np.concatenate(out)


def voxels(numbers, pos, centre, n=8, spacing=0.5, sigma=(0.6, 0.6, 0.6), origin_shift=0.0):
    """Gaussian atoms on an n³ grid centred at ``centre`` (n, n, n)."""
    x = (np.arange(n) - (n - 1) / 2 + origin_shift) * spacing
    grid = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1) + centre  # (n, n, n, 3)
    d = grid[..., None, :] - pos  # (n, n, n, atoms, 3)
    s = np.asarray(sigma)
    return (numbers * np.exp(-((d / s) ** 2).sum(-1))).sum(-1)


def _three_vectors(numbers, pos):
    """Three permutation-invariant polar vectors about the centroid, with different weights."""
    c = pos - pos.mean(0)
    r = np.linalg.norm(c, axis=1, keepdims=True)
    z = numbers[:, None]
    return (z * np.exp(-r) * c).sum(0), (r**2 * c).sum(0), (z**2 * c).sum(0)


def _raises(match: str):
    return pytest.raises(AssertionError, match=match)


# -- rotations ------------------------------------------------------------------------------------
def test_random_rotation_is_seeded_orthogonal_float64():
    r = T.random_rotation(5)
    assert r.dtype == np.float64 and r.shape == (3, 3)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-14)
    assert np.array_equal(r, T.random_rotation(5)) and not np.allclose(r, T.random_rotation(6))
    m = T.random_rotation(5, reflection=True)
    assert np.linalg.det(m) == pytest.approx(-1.0, abs=1e-14)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-14)


def test_cube_rotations_and_rotate_grid():
    rots = T.cube_rotations()
    assert rots.shape == (24, 3, 3) and np.array_equal(rots[0], np.eye(3))
    assert len({r.tobytes() for r in rots}) == 24
    assert all(round(np.linalg.det(r)) == 1 for r in rots)
    assert len(T.cube_rotations(reflections=True)) == 48
    # a single marked voxel at p (relative to the centre) moves to R p
    n = 5
    p = np.array([2, -1, 1])
    grid = np.zeros((2, n, n, n))
    grid[(slice(None), *(p + 2))] = [1.0, 3.0]
    for r in T.cube_rotations(reflections=True):
        out = T.rotate_grid(grid, r)
        assert out[(1, *(r @ p + 2))] == 3.0 and out.sum() == 4.0
    with pytest.raises(ValueError, match="90° grid rotation"):
        T.rotate_grid(grid, T.random_rotation(0))


def test_wigner_d_matches_e3nn_and_pyscf_order():
    import torch
    from e3nn import o3

    from rhoml.density.flexible_basis import pyscf_from_e3nn

    r1, r2 = T.random_rotation(1), T.random_rotation(2, reflection=True)
    for l in range(5):
        for r in (r1, r2):
            d = T.wigner_d(l, r)
            # e3nn builds D(R) from Euler angles: accurate to ≈ 1e-6 only
            ref = o3.Irrep(l, (-1) ** l).D_from_matrix(torch.from_numpy(r)).numpy()
            np.testing.assert_allclose(d, ref, atol=2e-6)
            np.testing.assert_allclose(d @ d.T, np.eye(2 * l + 1), atol=1e-13)
            a = pyscf_from_e3nn(l)
            np.testing.assert_allclose(
                T.wigner_d(l, r, order="pyscf"), a @ d @ np.linalg.inv(a), atol=1e-12
            )
        # a representation: D(R1 R2) = D(R1) D(R2), and parity (−1)^l under inversion
        np.testing.assert_allclose(
            T.wigner_d(l, r1 @ r2), T.wigner_d(l, r1) @ T.wigner_d(l, r2), atol=1e-12
        )
        np.testing.assert_allclose(T.wigner_d(l, -np.eye(3)), (-1) ** l * np.eye(2 * l + 1),
                                   atol=1e-13)  # fmt: skip


# -- invariance -----------------------------------------------------------------------------------
def test_invariant_passes_a_correct_energy():
    report = T.assert_invariant(energy, NUMBERS, POS)
    assert set(report) == {"rotation", "reflection", "translation", "permutation",
                           "rotation+reflection+translation+permutation"}  # fmt: skip
    assert max(report.values()) < 1e-12


def test_invariant_catches_an_absolute_coordinate():
    def broken(z, p):
        return energy(z, p) + 1e-6 * p[0, 0]  # depends on where atom 0 is

    with _raises(r"output \(scalar\) under rotation: max \|Δ\| = .* > tolerance"):
        T.assert_invariant(broken, NUMBERS, POS)
    with _raises("under translation"):
        T.assert_invariant(broken, NUMBERS, POS, rotation=False, reflection=False)


def test_invariant_catches_a_permutation_sensitive_sum():
    def broken(z, p):  # atom-index weights: rotation-invariant, but not permutation-invariant
        c = p.mean(0)
        return float((np.arange(len(z)) * ((p - c) ** 2).sum(1)).sum())

    report = T.assert_invariant(broken, NUMBERS, POS, permutation=False)
    assert max(report.values()) < 1e-12
    with _raises("under permutation:"):
        T.assert_invariant(broken, NUMBERS, POS)


def test_per_atom_invariants_are_permuted():
    def coordination(z, p):  # per-atom scalars
        _, r, _, off = _pairs(z, p)
        return (np.exp(-r) * off).sum(1)

    T.assert_invariant(coordination, NUMBERS, POS, per_atom=True)
    with _raises(r"\(atom\) under permutation"):
        T.assert_invariant(lambda z, p: coordination(z, p)[::-1].copy(), NUMBERS, POS,
                           per_atom=True)  # fmt: skip


def test_reflection_can_be_left_out_for_chiral_outputs():
    def chirality(z, p):  # a pseudoscalar: triple product
        return float(np.linalg.det(np.stack(_three_vectors(z, p))))

    T.assert_invariant(chirality, NUMBERS, POS, reflection=False)
    with _raises("under reflection"):
        T.assert_invariant(chirality, NUMBERS, POS)


def test_float32_outputs_are_refused():
    with pytest.raises(TypeError, match="float32.*float64"):
        T.assert_invariant(lambda z, p: np.float32(energy(z, p)), NUMBERS, POS)


# -- vectors --------------------------------------------------------------------------------------
def test_vector_equivariance_passes_forces_and_dipole():
    assert max(T.assert_vector_equivariant(forces, NUMBERS, POS, per_atom=True).values()) < 1e-12
    T.assert_vector_equivariant(dipole, NUMBERS, POS)
    # a charged molecule's dipole depends on the origin: translation left out
    charged = {**CHARGE, 6: 1.1}

    def charged_dipole(z, p):
        return np.array([charged[int(a)] for a in z]) @ p

    T.assert_vector_equivariant(charged_dipole, NUMBERS, POS, translation=False)
    with _raises("under translation"):
        T.assert_vector_equivariant(charged_dipole, NUMBERS, POS)


def test_vector_equivariance_catches_a_scaled_component():
    def broken(z, p):
        f = forces(z, p)
        f[:, 2] *= 1.01
        return f

    with _raises(r"\(atom_vector\) under rotation"):
        T.assert_vector_equivariant(broken, NUMBERS, POS, per_atom=True)


def test_vector_equivariance_catches_unpermuted_forces():
    def broken(z, p):  # forces returned in a fixed (sorted by element) atom order
        return forces(z, p)[np.argsort(z, kind="stable")]

    with _raises("under permutation"):
        T.assert_vector_equivariant(broken, NUMBERS, POS, per_atom=True, rotation=False,
                                    reflection=False, translation=False)  # fmt: skip


def test_pseudovectors():
    def moment(z, p):  # the cross product of two polar vectors: an axial vector
        u, v, _ = _three_vectors(z, p)
        return np.cross(u, v)

    T.assert_vector_equivariant(moment, NUMBERS, POS, pseudo=True)
    with _raises(r"\(vector\) under reflection"):
        T.assert_vector_equivariant(moment, NUMBERS, POS)


# -- several outputs at once ----------------------------------------------------------------------
def test_mixed_outputs_dict_and_per_output_tolerance():
    def model(z, p):
        return {"energy": energy(z, p), "forces": forces(z, p), "dipole": dipole(z, p), "id": 7}

    kinds = {"energy": "scalar", "forces": "atom_vector", "dipole": "vector"}
    atol = {"energy": 0.0, "forces": 1e-12, "dipole": 1e-12}
    T.assert_equivariant(model, NUMBERS, POS, kinds, atol=atol, rtol=1e-12)

    def broken(z, p):
        out = model(z, p)
        out["dipole"] = out["dipole"] * [1.0, 1.0, 1.001]
        return out

    with _raises(r"output 'dipole' \(vector\) under rotation"):
        T.assert_equivariant(broken, NUMBERS, POS, kinds)
    heavy_only = lambda z, p: (energy(z, p), forces(z, p)[z > 1])  # noqa: E731
    with _raises(r"per-atom output has shape \(2, 3\) for 5 atoms"):
        T.assert_equivariant(heavy_only, NUMBERS, POS, ("scalar", "atom_vector"))


# -- fields ---------------------------------------------------------------------------------------
PTS = np.random.default_rng(0).normal(scale=1.5, size=(200, 3)) + POS.mean(0)


def test_field_equivariance_passes_density_and_gradient():
    T.assert_field_equivariant(field, NUMBERS, POS, PTS, rtol=1e-10, atol=0)
    grad = lambda z, p, q: field(z, p, q, gradient=True)  # noqa: E731
    T.assert_field_equivariant(grad, NUMBERS, POS, PTS, vector=True, atol=1e-12)


def test_field_equivariance_catches_anisotropy_and_a_frame_bug():
    def anisotropic(z, p, q):  # an extra term in the laboratory frame
        return field(z, p, q) + 1e-3 * np.exp(-((q[:, 0] - p[0, 0]) ** 2))

    with _raises(r"\(field\) under rotation"):
        T.assert_field_equivariant(anisotropic, NUMBERS, POS, PTS)

    def unrotated(z, p, q):  # gradient norm-correct but its components not rotated
        g = field(z, p, q, gradient=True)
        return np.sort(np.abs(g), axis=1)

    with _raises(r"\(field_vector\) under rotation"):
        T.assert_field_equivariant(unrotated, NUMBERS, POS, PTS, vector=True)


# -- coefficients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["pyscf", "e3nn"])
def test_coefficients_pass_in_either_order(order):
    fn = lambda z, p: coefficients(z, p, order)  # noqa: E731
    report = T.assert_coefficients_equivariant(fn, NUMBERS, POS, SHELLS, order=order)
    assert max(report.values()) < 1e-10
    # not vacuous: l > 0 components are sizeable
    assert np.abs(fn(NUMBERS, POS)).max() > 0.1


def test_coefficients_catch_a_harmonic_order_mix_up():
    """e3nn-ordered harmonics stored as if in PySCF order (the bug DenSNet's conversion avoids)."""
    fn = lambda z, p: coefficients(z, p, "pyscf", harmonics_order="e3nn")  # noqa: E731
    with _raises(r"\(coefficients\) under rotation"):
        T.assert_coefficients_equivariant(fn, NUMBERS, POS, SHELLS, order="pyscf")


def test_coefficients_catch_a_map_that_ignores_rotation():
    def broken(z, p):  # right shapes, invariant content: every component a function of distances
        c = coefficients(z, p)
        return np.full_like(c, np.linalg.norm(c))

    with _raises(r"\(coefficients\) under rotation"):
        T.assert_coefficients_equivariant(broken, NUMBERS, POS, SHELLS)
    rot = T.coefficient_rotation(NUMBERS, T.random_rotation(0), SHELLS)
    assert rot.shape == (len(coefficients(NUMBERS, POS)),) * 2
    np.testing.assert_allclose(rot @ rot.T, np.eye(len(rot)), atol=1e-12)


def test_coefficients_catch_blocks_not_permuted():
    def broken(z, p):  # blocks in a canonical (by element) atom order, not the caller's
        order = np.argsort(z, kind="stable")
        return coefficients(z[order], p[order])

    with _raises("under permutation"):
        T.assert_coefficients_equivariant(broken, NUMBERS, POS, SHELLS, rotation=False,
                                          reflection=False, translation=False)  # fmt: skip


# -- forces vs finite differences -----------------------------------------------------------------
def test_forces_match_energy_passes_analytic_forces():
    worst = T.assert_forces_match_energy(energy, forces, NUMBERS, POS)
    assert worst < 1e-8
    T.assert_forces_match_energy(energy, forces(NUMBERS, POS), NUMBERS, POS,
                                 components=[(0, 0), (3, 2)])  # fmt: skip


def test_forces_match_energy_catches_a_wrong_sign():
    with _raises(re.escape("forces ≠ −∂E/∂R") + r": max \|F − F_fd\| = .* worst at atom"):
        T.assert_forces_match_energy(energy, lambda z, p: -forces(z, p), NUMBERS, POS)


def test_forces_match_energy_catches_a_scaled_component():
    def broken(z, p):
        f = forces(z, p)
        f[:, 1] *= 1.0001  # 1e-4 relative: ten times the default rtol
        return f

    with _raises(r"axis y.*components out of tolerance"):
        T.assert_forces_match_energy(energy, broken, NUMBERS, POS)
    # the unscaled axes pass on their own
    T.assert_forces_match_energy(energy, broken, NUMBERS, POS, components=[(1, 0), (2, 2)])


# -- voxel grids ----------------------------------------------------------------------------------
CENTRE = POS.mean(0)


def test_grid_equivariance_passes_an_isotropic_voxeliser():
    fn = lambda z, p: voxels(z, p, CENTRE)  # noqa: E731
    report = T.assert_grid_equivariant(fn, NUMBERS, POS, CENTRE)
    assert len(report) == 24 and max(report.values()) < 1e-12


def test_grid_equivariance_catches_anisotropy_and_an_off_by_half_origin():
    aniso = lambda z, p: voxels(z, p, CENTRE, sigma=(0.6, 0.6, 0.7))  # noqa: E731
    with _raises(r"grid under R\[\d+\]=.* max \|Δ\|"):
        T.assert_grid_equivariant(aniso, NUMBERS, POS, CENTRE)
    shifted = lambda z, p: voxels(z, p, CENTRE, origin_shift=0.5)  # noqa: E731
    with _raises("grid under R"):
        T.assert_grid_equivariant(shifted, NUMBERS, POS, CENTRE, rotations=[5, 17])


def test_voxel_invariance_of_a_model():
    grid = voxels(NUMBERS, POS, CENTRE)[None, None]  # (1, 1, n, n, n)

    def invariant(v):  # moments of the value distribution: rotation-invariant
        return np.stack([(v**2).sum(axis=(2, 3, 4)), v.max(axis=(2, 3, 4))], -1)

    assert max(T.assert_voxel_invariant(invariant, grid).values()) < 1e-12
    ramp = np.arange(grid.shape[-1], dtype=float)

    def broken(v):  # weights voxels by their x index
        return (v * ramp[:, None, None]).sum(axis=(2, 3, 4))

    with _raises(r"model output under R\[.*max \|Δ\|"):
        T.assert_voxel_invariant(broken, grid)
