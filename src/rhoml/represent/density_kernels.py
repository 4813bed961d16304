"""Compiled (numba) CPU kernel for spherical-atom densities (promolecule) on voxel grids.

ρ(p) = Σ_p w_p exp(−a_p |p − c_p|²) and ∇ρ at the points of an axis-aligned cubic grid, the CPU
fast path behind :class:`rhoml.represent.voxel.Voxelizer` (the torch reference is
:func:`rhoml.represent.torch_density.evaluate_spherical_on_grid`). Two parts per atom:

* diffuse primitives (a ≤ :data:`DIFFUSE_EXPONENT` Bohr⁻²), which reach far and dominate the
  cost: their sum is one radial function f(r) per atom kind (same exponents and weights, e.g.
  one per element of a promolecule), tabulated once (cached) at steps of :data:`TABLE_STEP`
  Bohr with f, f′ and f″ and interpolated with cubic Hermite polynomials (f from f, f′; f′ from
  f′, f″): interpolation error below 1e-10 × Σ|w| (e/Bohr³), far below float32 resolution of
  the transformed channels. Each voxel in the atom's ball costs one table lookup instead of one
  term per primitive;
* the other primitives, each inside its own ball (radius from :func:`primitive_radii`),
  separable factors per axis.

Both parts cut at the screening threshold (contributions below it are dropped, as in the torch
path). Lengths in Bohr; single-threaded; compiled on first use and cached on disk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

DIFFUSE_EXPONENT = 1.0  # Bohr⁻²: primitives at or below go into the per-kind radial tables
TABLE_STEP = 0.005  # Bohr
_TABLES: dict = {}  # (exponents, weights, cutoff) bytes → (radius, f, f′, f″)


def primitive_radii(weights: np.ndarray, exps: np.ndarray, cutoff: float) -> np.ndarray:
    """Radius (Bohr) beyond which |w| exp(−a r²) and its gradient |w| 2ar exp(−a r²) are both
    below ``cutoff`` (0 where both are below it everywhere)."""
    w = np.maximum(np.abs(weights), 1e-300)
    r0 = np.sqrt(np.maximum(np.log(w / cutoff), 0.0) / exps)
    grow = np.maximum(1.0, 2.0 * exps * r0)  # the gradient bound is the larger for tight ones
    return np.sqrt(np.maximum(np.log(w * grow / cutoff), 0.0) / exps)


def radial_table(exps: np.ndarray, weights: np.ndarray, cutoff: float):
    """(radius, f, f′, f″) of f(r) = Σ w exp(−a r²) at r = k·:data:`TABLE_STEP` up to the
    largest primitive radius (cached per exponents, weights and cutoff)."""
    key = (exps.tobytes(), weights.tobytes(), float(cutoff))
    hit = _TABLES.get(key)
    if hit is not None:
        return hit
    radius = float(primitive_radii(weights, exps, cutoff).max())
    r = np.arange(int(math.ceil(radius / TABLE_STEP)) + 2) * TABLE_STEP
    e = np.exp(-np.outer(r * r, exps)) * weights  # (N, K)
    f = e.sum(1)
    f1 = (e * (-2.0 * exps)).sum(1) * r
    f2 = (e * (-2.0 * exps + 4.0 * np.outer(r * r, exps * exps))).sum(1)
    # the ball: where the sum (not each primitive) or its slope still reaches the cutoff
    above = np.flatnonzero((np.abs(f) >= cutoff) | (np.abs(f1) >= cutoff))
    radius = float(r[min(above[-1] + 1, len(r) - 2)]) if len(above) else 0.0
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[key] = out = (radius, f, f1, f2)
    return out


@njit(cache=True, nogil=True)
def _tables_on_grid(centres, kind, radius, f, f1, f2, step, x, out):
    """Add per-atom radial tables: atom a (centre (3,), table ``kind[a]`` of ``f`` (T, N) with
    derivatives ``f1``, ``f2`` pre-multiplied by ``step``, ball ``radius[a]``) into ``out``
    (C, n, n, n)."""
    n = x.shape[0]
    h = x[1] - x[0]
    nc = out.shape[0]
    n_nodes = f.shape[1]
    inv = 1.0 / step
    for at in range(centres.shape[0]):
        t = kind[at]
        big = min(radius[at], (n_nodes - 2) * step)
        if t < 0 or big <= 0.0:
            continue
        ft, f1t, f2t = f[t], f1[t], f2[t]
        big2 = big * big
        cx, cy, cz = centres[at, 0], centres[at, 1], centres[at, 2]
        i0 = max(0, int(math.ceil((cx - big - x[0]) / h)))
        i1 = min(n - 1, int(math.floor((cx + big - x[0]) / h)))
        j0 = max(0, int(math.ceil((cy - big - x[0]) / h)))
        j1 = min(n - 1, int(math.floor((cy + big - x[0]) / h)))
        for i in range(i0, i1 + 1):
            dx = x[i] - cx
            for j in range(j0, j1 + 1):
                dy = x[j] - cy
                dxy2 = dx * dx + dy * dy
                rem = big2 - dxy2
                if rem < 0.0:
                    continue
                ch = math.sqrt(rem)
                l0 = max(0, int(math.ceil((cz - ch - x[0]) / h)))
                l1 = min(n - 1, int(math.floor((cz + ch - x[0]) / h)))
                row0 = out[0, i, j]
                if nc == 1:
                    for l in range(l0, l1 + 1):
                        dz = x[l] - cz
                        u = math.sqrt(dxy2 + dz * dz) * inv
                        k = int(u)
                        s = u - k
                        s2 = s * s
                        a0 = (2.0 * s - 3.0) * s2 + 1.0
                        b0 = (s - 2.0) * s2 + s
                        b1 = (s - 1.0) * s2
                        row0[l] += (
                            a0 * ft[k] + b0 * f1t[k] + (1.0 - a0) * ft[k + 1] + b1 * f1t[k + 1]
                        )
                    continue
                row1, row2, row3 = out[1, i, j], out[2, i, j], out[3, i, j]
                for l in range(l0, l1 + 1):
                    dz = x[l] - cz
                    r = math.sqrt(dxy2 + dz * dz)
                    u = r * inv
                    k = int(u)
                    s = u - k
                    s2 = s * s
                    a0 = (2.0 * s - 3.0) * s2 + 1.0
                    b0 = (s - 2.0) * s2 + s
                    b1 = (s - 1.0) * s2
                    row0[l] += a0 * ft[k] + b0 * f1t[k] + (1.0 - a0) * ft[k + 1] + b1 * f1t[k + 1]
                    # f′ from (f′, f″): the tables hold step·f′ and step·f″; ∇ρ = f′ r̂
                    d = (
                        (a0 * f1t[k] + (1.0 - a0) * f1t[k + 1]) * inv
                        + b0 * f2t[k]
                        + b1 * f2t[k + 1]
                    )
                    d = d / max(r, 1e-300)
                    row1[l] += d * dx
                    row2[l] += d * dy
                    row3[l] += d * dz


@njit(cache=True, nogil=True)
def _primitives_on_grid(cen, exps, weights, radii, x, out):
    """Add primitives, each inside its own ball, into ``out`` (C, n, n, n)."""
    n = x.shape[0]
    h = x[1] - x[0]
    nc = out.shape[0]
    fz = np.empty(n)
    gz = np.empty(n)
    for p in range(cen.shape[0]):
        rad = radii[p]
        if rad <= 0.0:
            continue
        a, w = exps[p], weights[p]
        cx, cy, cz = cen[p, 0], cen[p, 1], cen[p, 2]
        i0 = max(0, int(math.ceil((cx - rad - x[0]) / h)))
        i1 = min(n - 1, int(math.floor((cx + rad - x[0]) / h)))
        j0 = max(0, int(math.ceil((cy - rad - x[0]) / h)))
        j1 = min(n - 1, int(math.floor((cy + rad - x[0]) / h)))
        k0 = max(0, int(math.ceil((cz - rad - x[0]) / h)))
        k1 = min(n - 1, int(math.floor((cz + rad - x[0]) / h)))
        if i1 < i0 or j1 < j0 or k1 < k0:
            continue
        for l in range(k0, k1 + 1):
            dz = x[l] - cz
            fz[l] = math.exp(-a * dz * dz)
            gz[l] = -2.0 * a * dz * fz[l]
        r2 = rad * rad
        for i in range(i0, i1 + 1):
            dx = x[i] - cx
            ex = w * math.exp(-a * dx * dx)
            for j in range(j0, j1 + 1):
                dy = x[j] - cy
                rem = r2 - dx * dx - dy * dy
                if rem < 0.0:
                    continue
                ey = math.exp(-a * dy * dy)
                s = ex * ey
                ch = math.sqrt(rem)
                l0 = max(k0, int(math.ceil((cz - ch - x[0]) / h)))
                l1 = min(k1, int(math.floor((cz + ch - x[0]) / h)))
                if nc == 1:
                    for l in range(l0, l1 + 1):
                        out[0, i, j, l] += s * fz[l]
                else:
                    sx = -2.0 * a * dx * s
                    sy = -2.0 * a * dy * s
                    for l in range(l0, l1 + 1):
                        out[0, i, j, l] += s * fz[l]
                        out[1, i, j, l] += sx * fz[l]
                        out[2, i, j, l] += sy * fz[l]
                        out[3, i, j, l] += s * gz[l]


def evaluate(cen, exps, weights, atom, x, cutoff: float, gradient: bool):
    """ρ (n, n, n) and, with ``gradient``, ∇ρ (n, n, n, 3), float64 numpy arrays.

    Args:
        cen: (P, 3) primitive centres, Bohr, in the grid's frame (grid point (i, j, k) at
            (x[i], x[j], x[k])); exps, weights: (P,) Bohr⁻², e/Bohr³; atom: (P,) atom index of
            each primitive (primitives of one atom share its centre); x: (n,) equally spaced,
            Bohr; cutoff: screening threshold (e/Bohr³).
    """
    cen = np.asarray(cen, dtype=np.float64)
    exps = np.asarray(exps, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    atom = np.asarray(atom, dtype=np.int64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    out = np.zeros((4 if gradient else 1, n, n, n))
    diffuse = exps <= DIFFUSE_EXPONENT
    # one radial table per kind of atom (the same diffuse exponents and weights)
    n_atoms = int(atom.max()) + 1 if len(atom) else 0
    order = np.argsort(atom, kind="stable")
    bounds = np.searchsorted(atom[order], np.arange(n_atoms + 1))
    centres = np.zeros((n_atoms, 3))
    kind = np.full(n_atoms, -1, dtype=np.int64)
    radius = np.zeros(n_atoms)
    tables: list = []
    index: dict = {}
    for a in range(n_atoms):
        rows = order[bounds[a] : bounds[a + 1]]
        if len(rows) == 0:
            continue
        centres[a] = cen[rows[0]]
        d = rows[diffuse[rows]]
        if len(d) == 0:
            continue
        key = (exps[d].tobytes(), weights[d].tobytes())
        if key not in index:
            index[key] = len(tables)
            tables.append(radial_table(exps[d], weights[d], cutoff))
        kind[a] = index[key]
        radius[a] = tables[kind[a]][0]
    if tables:
        width = max(len(t[1]) for t in tables)
        f, f1, f2 = (np.zeros((len(tables), width)) for _ in range(3))
        for k, (_, tf, tf1, tf2) in enumerate(tables):  # derivatives × step (Hermite form)
            f[k, : len(tf)], f1[k, : len(tf)] = tf, tf1 * TABLE_STEP
            f2[k, : len(tf)] = tf2 * TABLE_STEP
        _tables_on_grid(centres, kind, radius, f, f1, f2, TABLE_STEP, x, out)
    rest = ~diffuse
    if rest.any():
        _primitives_on_grid(np.ascontiguousarray(cen[rest]), exps[rest], weights[rest],
                            primitive_radii(weights[rest], exps[rest], cutoff), x, out)  # fmt: skip
    if gradient:
        return out[0], np.moveaxis(out[1:], 0, -1)
    return out[0]


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernels."""
    x = np.linspace(-2.0, 2.0, 5)
    for gradient in (False, True):
        evaluate(np.zeros((2, 3)), np.array([0.5, 3.0]), np.ones(2), np.zeros(2, dtype=np.int64),
                 x, 1e-12, gradient)  # fmt: skip
