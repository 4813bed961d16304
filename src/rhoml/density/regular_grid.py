"""Fast evaluation of Gaussian-basis densities on axis-aligned regular grids.

On a regular grid a Cartesian Gaussian factorises: χ(x, y, z) = Σ_p c_p X_p(x) Y_p(y) Z_p(z), so
each basis function costs three short 1D exponentials and an outer product instead of one
exponential per point, and is only formed inside the box where it exceeds ``AO_CUTOFF``. The
basis-function block is then contracted with the low-rank factor of the density matrix
(:func:`rhoml.density.evaluate.density_matrix_factor`) or with fit coefficients. The grid is
processed in slabs of x-planes to bound memory.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyscf import gto

from rhoml.units import ANGSTROM_IN_BOHR

AO_CUTOFF = 1e-12  # |χ| below this is not formed (density error ≲ 1e-10 e/Bohr³)
_FAC_SP = {0: 0.282094791773878143, 1: 0.488602511902919921}  # libcint's s/p factors
SLAB_BYTES = 64e6


@lru_cache(maxsize=16)
def _cart_exponents(l: int) -> tuple[tuple[int, int, int], ...]:
    """PySCF's Cartesian component order for angular momentum ``l``."""
    return tuple((lx, ly, l - lx - ly) for lx in range(l, -1, -1) for ly in range(l - lx, -1, -1))


@lru_cache(maxsize=16)
def _c2s(l: int) -> np.ndarray:
    return np.asarray(gto.cart2sph(l, normalized="sp"))


def _shells(mol, cutoff: float):
    """Per shell: centre (Bohr), l, exponents, coefficients (nprim, nctr), radius, AO offset."""
    loc = mol.ao_loc_nr()
    out = []
    for b in range(mol.nbas):
        l = mol.bas_angular(b)
        exps = mol.bas_exp(b)
        coef = mol.bas_ctr_coeff(b) * gto.gto_norm(l, exps)[:, None] * _FAC_SP.get(l, 1.0)
        radius = _radius(l, tuple(exps), tuple(np.abs(coef).sum(axis=1)), cutoff)
        out.append((mol.bas_coord(b), l, exps, coef, radius, loc[b]))
    return out


@lru_cache(maxsize=4096)
def _radius(l: int, exps: tuple, weights: tuple, cutoff: float) -> float:
    """Distance (Bohr) beyond which a shell's functions stay below ``cutoff`` (a generous
    bound on the angular part); cached per shell type, as molecules repeat a few elements."""
    r = np.linspace(0.0, 40.0, 4001)[1:]
    bound = (np.asarray(weights)[None, :] * np.exp(-np.outer(r * r, exps))).sum(1)
    bound = bound * r**l * (1.0 + l)
    above = np.nonzero(bound > cutoff)[0]
    return float(r[min(above[-1] + 1, len(r) - 1)]) if len(above) else 0.0


def _axis_factors(x, centre, exps, l, deriv):
    """1D factors on one axis: values (nprim, l+1, n) of d^i exp(-a d²), and derivatives."""
    d = x[None, :] - centre
    g = np.exp(-exps[:, None] * d * d)  # (nprim, n)
    powers = np.stack([d**i for i in range(l + 2)], axis=0)  # (l+2, 1, n)
    vals = powers[: l + 1] * g[None]  # (l+1, nprim, n)
    if not deriv:
        return vals.transpose(1, 0, 2), None
    der = []
    for i in range(l + 1):
        term = -2.0 * exps[:, None] * powers[i + 1] * g
        if i:
            term = term + i * powers[i - 1] * g
        der.append(term)
    return vals.transpose(1, 0, 2), np.stack(der, axis=1)


def _outer_sum(c, ax, ay, az, carts) -> np.ndarray:
    """Σ_p c_p ax[p, i] ⊗ ay[p, j] ⊗ az[p, m] for every Cartesian (i, j, m): (a, b, c, ncart)."""
    a, b, n = ax.shape[2], ay.shape[2], az.shape[2]
    weighted = c[:, None, None] * ax  # (p, l+1, a)
    out = np.empty((a, b, n, len(carts)))
    for q, (i, j, m) in enumerate(carts):
        if len(c) == 1:
            out[..., q] = (weighted[0, i][:, None] * ay[0, j][None, :])[:, :, None] * az[0, m]
        else:
            xy = weighted[:, i, :, None] * ay[:, j, None, :]  # (p, a, b)
            out[..., q] = (xy.reshape(len(c), a * b).T @ az[:, m]).reshape(a, b, n)
    return out


def _window(x, centre, radius):
    lo = np.searchsorted(x, centre - radius, side="left")
    hi = np.searchsorted(x, centre + radius, side="right")
    return lo, hi


def evaluate_on_regular_grid(density, grid, *, gradient: bool = False) -> np.ndarray:
    """ρ (or [ρ, ∇ρ]) of a Gaussian-basis density on an axis-aligned :class:`~rhoml.grid.Grid`.

    Returns ``grid.shape`` (e/Bohr³) or ``grid.shape + (4,)`` with the gradient in e/Bohr⁴.
    """
    from rhoml.density.evaluate import _factor

    axes = np.asarray(grid.axes)
    if not np.allclose(axes, np.diag(np.diag(axes))):
        raise ValueError("evaluate_on_regular_grid needs an axis-aligned grid")
    mol = density.mol
    nao = mol.nao_nr()
    nx, ny, nz = grid.shape
    step = np.diag(axes) * ANGSTROM_IN_BOHR
    origin = grid.origin * ANGSTROM_IN_BOHR
    xs, ys, zs = (origin[i] + step[i] * np.arange(n) for i, n in enumerate(grid.shape))
    shells = _shells(mol, AO_CUTOFF)
    if density.kind == "density_matrix":
        u, sign = _factor(density)
    ncomp = 4 if gradient else 1
    out = np.zeros((nx, ny, nz, ncomp))
    slab = max(1, int(SLAB_BYTES // (8 * ny * nz * nao * ncomp)))
    for x0 in range(0, nx, slab):
        x1 = min(nx, x0 + slab)
        ao = np.zeros((ncomp, x1 - x0, ny, nz, nao))
        xsl = xs[x0:x1]
        for centre, l, exps, coef, radius, off in shells:
            ix0, ix1 = _window(xsl, centre[0], radius)
            iy0, iy1 = _window(ys, centre[1], radius)
            iz0, iz1 = _window(zs, centre[2], radius)
            if ix0 >= ix1 or iy0 >= iy1 or iz0 >= iz1:
                continue
            fx, dx = _axis_factors(xsl[ix0:ix1], centre[0], exps, l, gradient)
            fy, dy = _axis_factors(ys[iy0:iy1], centre[1], exps, l, gradient)
            fz, dz = _axis_factors(zs[iz0:iz1], centre[2], exps, l, gradient)
            carts = _cart_exponents(l)
            c2s = _c2s(l)
            nsph = 2 * l + 1
            for k in range(coef.shape[1]):
                c = coef[:, k]
                comps = [(fx, fy, fz)]
                if gradient:
                    comps += [(dx, fy, fz), (fx, dy, fz), (fx, fy, dz)]
                for comp, (ax, ay, az) in enumerate(comps):
                    cart = _outer_sum(c, ax, ay, az, carts)
                    col = off + k * nsph
                    ao[comp, ix0:ix1, iy0:iy1, iz0:iz1, col : col + nsph] = cart @ c2s
        flat = ao.reshape(ncomp, -1, nao)
        if density.kind == "density_matrix":
            phi = flat @ u
            rho = (phi[0] * phi[0]) @ sign
            block = [rho]
            if gradient:
                block += [2.0 * (phi[c] * phi[0]) @ sign for c in (1, 2, 3)]
        else:
            block = [flat[c] @ density.data for c in range(ncomp)]
        out[x0:x1] = np.stack(block, axis=-1).reshape(x1 - x0, ny, nz, ncomp)
    return out if gradient else out[..., 0]
