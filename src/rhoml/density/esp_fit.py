"""A cheap electrostatic potential: the Coulomb-metric fit of a density onto atom- and
bond-centred Gaussians, whose potential is analytic (erf and exp) at any point.

The exact ESP of a density matrix (``Density.esp``) costs one three-centre integral per basis
function pair and point (~0.1 ms per point for a QM9 molecule in the xTB basis), which made the
ESP on the isosurface band the dominant cost of a rendered image set. Here the density is fitted
once per molecule (:func:`fit_esp`: PySCF ``int3c2e`` projections onto the auxiliary basis, the
``int2c2e`` metric, electron count preserved) and the fitted density's potential is then summed
directly in torch over auxiliary primitives at the requested points: a few µs per point.

Auxiliary basis: on the atoms, for valence-only densities (xTB) of H, C, N, O and F a small
even-tempered set (:data:`VALENCE_BASIS`), otherwise ``def2-universal-jkfit`` truncated to d
functions; plus s, p and d Gaussians at every bond midpoint (:data:`BOND_BASIS`), which carry the
bond density that one-centre functions would need f and g functions for. Error against the exact
ESP on the ρ = 0.05 e/Bohr³ surface of QM9 molecules (median / 95th percentile / max): xTB
densities ~5e-4 / 1.5e-3 / 3.5e-3 Hartree/e, B3LYP densities ~2e-4 / 7e-4 / 3e-3 — below the
~8e-3 error of interpolating the renderer's 0.2 Å band trilinearly
(``benchmarks/results/render_fast.md``, ``render_accuracy.md``).

Potentials of Cartesian Gaussians x^a y^b z^c exp(−α r²) (a + b + c ≤ 2) follow from the s
potential (π/α)^{3/2} erf(√α r)/r by differentiating with respect to the centre (Hermite
relations x e = −∂ₓe / 2α, x² e = ∂ₓ²e / 4α² + e / 2α, xy e = ∂ₓ∂ᵧe / 4α²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rhoml.units import ANGSTROM_IN_BOHR

__all__ = ["BOND_BASIS", "DEFAULT_ATOM_BASIS", "EspFit", "esp_auxmol", "fit_esp"]

#: Atom-centred auxiliary basis: "auto" = :data:`VALENCE_BASIS` for valence-only densities (xTB)
#: of the elements it covers, else ``def2-universal-jkfit`` truncated to ``lmax``; or a PySCF name.
DEFAULT_ATOM_BASIS = "auto"
ALL_ELECTRON_BASIS = "def2-universal-jkfit"
#: Even-tempered atom-centred functions for valence densities (Bohr⁻²), tuned on QM9 xTB
#: densities: on hydrogen s 0.25–4 (3), p 0.5, 2; on C, N, O, F s 0.2–100 (7), p 0.2–10 (5),
#: d 0.3, 1, 3. With the bond functions, ~5e-4 Hartree/e (median) from the exact ESP at ~60 %
#: of the cost of def2-universal-jkfit (which gives ~2e-4).
VALENCE_BASIS = {
    "H": [[0, [e, 1.0]] for e in (0.25, 1.0, 4.0)] + [[1, [e, 1.0]] for e in (0.5, 2.0)],
    **{
        el: [[0, [float(e), 1.0]] for e in np.geomspace(0.2, 100.0, 7)]
        + [[1, [float(e), 1.0]] for e in np.geomspace(0.2, 10.0, 5)]
        + [[2, [e, 1.0]] for e in (0.3, 1.0, 3.0)]
        for el in ("C", "N", "O", "F")
    },
}
#: Bond-midpoint auxiliary functions (PySCF format: [l, [exponent, coefficient]]), Bohr⁻²:
#: two s, one p and one d Gaussian.
BOND_BASIS = [[0, [0.4, 1.0]], [0, [1.5, 1.0]], [1, [0.8, 1.0]], [2, [0.8, 1.0]]]
BOND_LABEL = "X"  # PySCF ghost centre (no nucleus, no electrons)
_POINT_CHUNK = 2_000_000  # (points × primitives) per torch block
EXPCUTOFF = 20.0  # libcint's primitive-pair screening for the projections (default 60)
#: the largest auxiliary basis :func:`fit_esp` takes: its Coulomb metric and Cholesky factor are
#: dense (2 × n_aux² doubles, ~2.3 GB here; a QM9 molecule has ~500 functions, a 500-atom
#: protein pocket ~20k)
MAX_AUX_FUNCTIONS = 12_000


class FitTooLargeError(MemoryError):
    """The auxiliary basis of :func:`fit_esp` is larger than :data:`MAX_AUX_FUNCTIONS`."""


def esp_auxmol(
    density,
    basis: str = DEFAULT_ATOM_BASIS,
    lmax: int = 2,
    bonds: bool = True,
    lmax_h: int | None = 1,
    bond_basis=None,
):
    """The auxiliary PySCF ``Mole``: ``basis`` on every atom (see :data:`DEFAULT_ATOM_BASIS`;
    shells with l ≤ ``lmax``, at most 2; on hydrogen l ≤ ``lmax_h``) and, with ``bonds``,
    ``bond_basis`` (default
    :data:`BOND_BASIS`) on ghost centres at the bond midpoints (:func:`rhoml.elements.
    bonded_pairs`). Single-primitive shells of one l are merged into one generally contracted
    shell (same functions, cheaper integrals)."""
    from pyscf import gto

    from rhoml.elements import bonded_pairs

    if not 0 <= lmax <= 2:
        raise ValueError(f"lmax must be 0, 1 or 2, got {lmax}")
    mol = density.molecule
    bohr = mol.positions * ANGSTROM_IN_BOHR
    atoms = [(s, tuple(map(float, p))) for s, p in zip(mol.symbols, bohr, strict=True)]
    table = {}
    for sym in sorted(set(mol.symbols)):
        top = lmax if (sym != "H" or lmax_h is None) else lmax_h
        if basis == "auto" and density.valence and sym in VALENCE_BASIS:
            shells = VALENCE_BASIS[sym]
        else:
            shells = _element_basis(ALL_ELECTRON_BASIS if basis == "auto" else basis, sym)
        table[sym] = _grouped([s for s in shells if s[0] <= top])
    if bonds:
        pairs = bonded_pairs(mol.numbers, mol.positions)
        for a, b in pairs:
            atoms.append((BOND_LABEL, tuple(map(float, 0.5 * (bohr[a] + bohr[b])))))
        if len(pairs):
            table[BOND_LABEL] = _grouped(bond_basis or BOND_BASIS)
    aux = gto.Mole()
    aux.atom = atoms
    aux.unit = "Bohr"
    aux.basis = table
    aux.cart = False
    aux.charge = 0
    aux.spin = int(mol.numbers.sum()) % 2
    aux.verbose = 0
    aux.build(parse_arg=False)
    return aux


def _grouped(shells: list) -> list:
    """The same functions with all shells of one l merged into one generally contracted shell
    (block-diagonal coefficients): libcint's cost per shell triple is mostly set-up, so the
    three-centre projections get cheaper."""
    by_l: dict[int, list] = {}
    for shell in shells:
        by_l.setdefault(shell[0], []).append(np.asarray(shell[1:], dtype=float))
    out = []
    for l, blocks in sorted(by_l.items()):
        nprim = sum(len(b) for b in blocks)
        nctr = sum(b.shape[1] - 1 for b in blocks)
        coef = np.zeros((nprim, nctr))
        exps, r, c = [], 0, 0
        for b in blocks:
            exps.extend(b[:, 0])
            coef[r : r + len(b), c : c + b.shape[1] - 1] = b[:, 1:]
            r, c = r + len(b), c + b.shape[1] - 1
        out.append([l] + [[e, *row] for e, row in zip(exps, coef, strict=True)])
    return out


@lru_cache(maxsize=256)
def _element_basis(basis: str, symbol: str) -> list:
    """PySCF's parsed basis ``basis`` of one element (parsing the file costs milliseconds)."""
    from pyscf import gto

    return gto.basis.load(basis, symbol)


@dataclass
class EspFit:
    """A fitted density's potential, ready to evaluate.

    Attributes:
        nuclear_charges: (n_atoms,) e; nuclear_positions: (n_atoms, 3) Bohr.
        prims: per angular momentum l, (centres (P, 3) Bohr, exponents (P,) Bohr⁻², weights
            (P, ncart) (contraction × normalisation × fit coefficient per Cartesian monomial,
            PySCF's Cartesian order)).
        coefficients: (n_aux,) fit coefficients in the order of :func:`esp_auxmol`'s functions;
        electrons: ∫ρ̃ (e).
    """

    nuclear_charges: np.ndarray
    nuclear_positions: np.ndarray
    prims: dict
    coefficients: np.ndarray
    electrons: float

    def __call__(self, points, *, dtype=None) -> np.ndarray:
        """ESP (nuclei + fitted electrons) at ``points`` (N, 3) Å → (N,) Hartree/e (float64).

        The electronic sum runs in ``dtype`` (default float32: ~1e-5 Hartree/e from float64,
        twice as fast); the nuclear term in float64."""
        import torch

        dtype = dtype or torch.float32
        bohr = np.asarray(points, dtype=np.float64).reshape(-1, 3) * ANGSTROM_IN_BOHR
        dist = np.linalg.norm(bohr[:, None, :] - self.nuclear_positions[None], axis=-1)
        with np.errstate(divide="ignore"):
            out = (self.nuclear_charges[None] / dist).sum(1)
        pts = torch.as_tensor(bohr, dtype=dtype)
        n_prim = sum(len(p[1]) for p in self.prims.values())
        step = max(1, _POINT_CHUNK // max(1, n_prim))
        tensors = {l: tuple(torch.as_tensor(a, dtype=dtype) for a in v)
                   for l, v in self.prims.items()}  # fmt: skip
        for s in range(0, len(pts), step):
            p = pts[s : s + step]
            v = torch.zeros(len(p), dtype=dtype)
            for l, (centres, alpha, weights) in tensors.items():
                v += _potential(l, p, centres, alpha, weights)
            out[s : s + step] -= v.double().numpy()
        return out


def fit_esp(
    density,
    basis: str = DEFAULT_ATOM_BASIS,
    lmax: int = 2,
    bonds: bool = True,
    lmax_h: int | None = 1,
    bond_basis=None,
    max_functions: int | None = None,
) -> EspFit:
    """Fit ``density`` (any :class:`~rhoml.density.base.Density`) in the Coulomb metric onto
    :func:`esp_auxmol` (same arguments), preserving its electron count, and return the
    evaluable potential. Cost on a QM9 molecule in the xTB basis: ~0.05 s, mostly PySCF's
    three-centre integrals. Raises :class:`FitTooLargeError` (before any integral) when the
    auxiliary basis has more than ``max_functions`` (default :data:`MAX_AUX_FUNCTIONS`)
    functions."""
    import scipy.linalg
    from pyscf.gto.mole import PTR_EXPCUTOFF

    from rhoml.density.fit import auxiliary_projections
    from rhoml.density.regular_grid import _c2s

    aux = esp_auxmol(density, basis, lmax, bonds, lmax_h, bond_basis)
    max_functions = MAX_AUX_FUNCTIONS if max_functions is None else max_functions
    if aux.nao_nr() > max_functions:
        gb = 2 * aux.nao_nr() ** 2 * 8 / 1e9
        raise FitTooLargeError(
            f"{density.molecule.id}: the ESP fit needs {aux.nao_nr()} auxiliary functions "
            f"(> {max_functions}; dense metric ~{gb:.0f} GB)"
        )
    metric = aux.intor("int2c2e", hermi=1)  # symmetric: libcint fills one triangle
    # libcint skips primitive pairs whose Gaussian-product prefactor is below e^-EXPCUTOFF:
    # e^-20 instead of e^-60 changes the projections by ~1e-11 and saves ~10 % of their time
    env = density.mol._env
    saved = env[PTR_EXPCUTOFF]
    env[PTR_EXPCUTOFF] = aux._env[PTR_EXPCUTOFF] = EXPCUTOFF
    try:
        b = auxiliary_projections(density, aux)
    finally:
        env[PTR_EXPCUTOFF] = saved
    shells = _aux_shells(aux)
    q = np.zeros(aux.nao_nr())  # ∫ of every auxiliary function (only s functions integrate)
    for _, l, exps, coef, off in shells:
        if l == 0:
            q[off : off + coef.shape[1]] = ((math.pi / exps) ** 1.5) @ coef
    cho = scipy.linalg.cho_factor(metric, overwrite_a=True, check_finite=False)
    coeff, jq = scipy.linalg.cho_solve(cho, np.stack([b, q], axis=1), check_finite=False).T
    coeff = coeff + (density.electron_count() - q @ coeff) / (q @ jq) * jq
    prims: dict[int, list] = {}
    for centre, l, exps, coef, off in shells:
        nsph = 2 * l + 1
        entry = prims.setdefault(l, [[], [], []])
        for k in range(coef.shape[1]):
            cart = _c2s(l) @ coeff[off + k * nsph : off + (k + 1) * nsph]  # (ncart,)
            for a, c in zip(exps, coef[:, k], strict=True):
                if c == 0.0:  # generally contracted shells (see _grouped)
                    continue
                entry[0].append(centre)
                entry[1].append(a)
                entry[2].append(c * (math.pi / a) ** 1.5 * cart)
    return EspFit(
        np.asarray(density.nuclear_charges, dtype=np.float64),
        density.mol.atom_coords(),
        {l: tuple(np.asarray(x, dtype=np.float64) for x in v) for l, v in sorted(prims.items())},
        coeff,
        float(q @ coeff),
    )


def _aux_shells(mol):
    """Per shell: centre (Bohr), l, exponents, coefficients (nprim, nctr) of the normalised
    primitives (libcint's s and p factors included, as :mod:`rhoml.density.regular_grid`),
    AO offset."""
    loc = mol.ao_loc_nr()
    fac = {0: 0.282094791773878143, 1: 0.488602511902919921}
    out = []
    env, bas = mol._env, mol._bas
    for b in range(mol.nbas):
        l, nprim, nctr = int(bas[b, 1]), int(bas[b, 2]), int(bas[b, 3])
        exps = env[bas[b, 5] : bas[b, 5] + nprim]
        # libcint stores coefficients with the radial normalisation folded in
        coef = env[bas[b, 6] : bas[b, 6] + nprim * nctr].reshape(nctr, nprim).T * fac.get(l, 1.0)
        ptr = int(mol._atm[bas[b, 0], 1])  # the shell's centre in env (Bohr)
        out.append((env[ptr : ptr + 3], l, exps, coef, loc[b]))
    return out


def _potential(l: int, p, centres, alpha, weights):
    """Σ over primitives of the potential of w · monomials · exp(−α r²) / (π/α)^{3/2} at points
    ``p`` (N, 3) Bohr → (N,); ``weights`` (P, ncart) already include (π/α)^{3/2}. Polynomial
    factors are formed as matrix products, so each (point, primitive) pair costs a few
    elementwise operations (one sqrt, erf and exp)."""
    import torch

    pc = p @ centres.T  # (N, P)
    r2 = ((p * p).sum(1)[:, None] - 2.0 * pc + (centres * centres).sum(1)[None]).clamp_(min=0.0)
    u = r2 * alpha
    amp = 2.0 * torch.sqrt(alpha / math.pi)  # (P,)
    small = u < 1e-4  # near a centre: series, where the closed forms cancel
    any_small = bool(small.any())
    r2_safe = torch.where(small, torch.ones_like(r2), r2) if any_small else r2
    f = torch.erf(torch.sqrt(u)).div_(torch.sqrt(r2_safe))  # erf(√α r) / r
    if any_small:
        f = torch.where(small, amp * (1.0 - u / 3.0 + u * u / 10.0), f)
    if l == 0:
        return f @ weights[:, 0]
    g = torch.exp(-u).mul_(amp)
    fp_r = (g - f).div_(r2_safe)  # f'(r) / r
    if any_small:
        fp_r = torch.where(small, amp * alpha * (-2.0 / 3.0 + 0.4 * u), fp_r)
    if l == 1:
        dw = p @ weights.T - (centres * weights).sum(1)[None]  # (r − c) · w
        return (fp_r * dw) @ (-0.5 / alpha)
    h = (-2.0 * alpha * g - 3.0 * fp_r).div_(r2_safe)  # (f'' − f'/r) / r²
    if any_small:
        h = torch.where(small, amp * alpha * alpha * (0.8 - 4.0 * u / 7.0), h)
    # (r − c)ᵀ M (r − c) with M from the six Cartesian weights (xx, xy, xz, yy, yz, zz)
    w = weights
    m = torch.stack([torch.stack([w[:, 0], w[:, 1] / 2, w[:, 2] / 2], -1),
                     torch.stack([w[:, 1] / 2, w[:, 3], w[:, 4] / 2], -1),
                     torch.stack([w[:, 2] / 2, w[:, 4] / 2, w[:, 5]], -1)], -2)  # fmt: skip
    mc = torch.einsum("pij,pj->pi", m, centres)  # (P, 3)
    quad_pp = torch.stack([p[:, 0] ** 2, p[:, 0] * p[:, 1], p[:, 0] * p[:, 2], p[:, 1] ** 2,
                           p[:, 1] * p[:, 2], p[:, 2] ** 2], -1)  # fmt: skip
    quad = quad_pp @ w.T - 2.0 * (p @ mc.T) + (mc * centres).sum(1)[None]
    trace = w[:, 0] + w[:, 3] + w[:, 5]
    inv = 1.0 / (4.0 * alpha * alpha)
    return (h * quad) @ inv + fp_r @ (trace * inv) + f @ (trace / (2.0 * alpha))
