"""Basis-function tables per element, built once and reused for every molecule.

A molecule's functions are its atoms' functions in atom order (PySCF's order), and an atom's
functions depend only on its element's basis entry. So the normalised primitive exponents and
contraction coefficients, Cartesian powers, Cartesian → spherical factors and screening radii
are computed once per (element, basis entry) from a one-atom PySCF molecule
(:func:`element_shells`, cached) and tiled over the atoms (:func:`molecule_shells`): no PySCF
molecule of the whole system is built, and no per-shell PySCF call is made per molecule.

Conventions (as PySCF's ``eval_gto``, checked against ``Density.evaluate`` in the tests): a
shell's radial part is R(r) = Σ_p c_p exp(−a_p r²) with c_p = PySCF's contraction coefficient ×
``gto_norm(l, a_p)`` × libcint's s/p factor; Cartesian component x^i y^j z^k R(r) in PySCF's
order, turned into real spherical functions with ``pyscf.gto.cart2sph(l, normalized="sp")``.
Exponents in Bohr⁻², radii in Bohr, centres in Bohr.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rhoml.elements import symbol
from rhoml.molecule import Molecule
from rhoml.units import ANGSTROM_IN_BOHR

# libcint's extra factors for s and p shells (PySCF's ``gto.mole._FAC``-style convention)
_FAC_SP = {0: 0.282094791773878143, 1: 0.488602511902919921}
CUTOFF = 1e-14  # default screening threshold on |R(r)| per shell


def _cart_powers(l: int) -> list[tuple[int, int, int]]:
    """PySCF's Cartesian component order for angular momentum ``l``."""
    return [(lx, ly, l - lx - ly) for lx in range(l, -1, -1) for ly in range(l - lx, -1, -1)]


def shell_radius(exps: np.ndarray, coef: np.ndarray, l: int, cutoff: float) -> float:
    """Radius in Bohr beyond which Σ_p |c_p| r^l exp(−a_p r²) < cutoff (generous bound)."""
    r = np.linspace(0.0, 60.0, 6001)[1:]
    bound = (np.abs(coef).sum(axis=1)[None, :] * np.exp(-np.outer(r * r, exps))).sum(1)
    bound = bound * np.maximum(r, 1.0) ** l * (1.0 + l)
    above = np.nonzero(bound > cutoff)[0]
    return float(r[min(above[-1] + 1, len(r) - 1)]) if len(above) else 0.0


@dataclass(frozen=True)
class ElementShells:
    """The functions of one atom of an element at the origin (indices local to the atom).

    Rows: ``prim_*`` one per (primitive, contraction) — exponent (Bohr⁻²), coefficient, shell,
    radial function; ``col_*`` one per Cartesian function — radial function, powers (Q, 3),
    shell; ``c2s_rows/cols/vals`` the nonzero Cartesian → spherical factors (column, function);
    ``ao_shell`` the shell of each function; ``rad_ao`` the first function of each radial
    function; ``shell_l`` and ``shell_radius`` (Bohr) per shell.
    """

    nao: int
    shell_l: np.ndarray
    shell_radius: np.ndarray
    prim_exp: np.ndarray
    prim_coef: np.ndarray
    prim_shell: np.ndarray
    prim_rad: np.ndarray
    col_rad: np.ndarray
    col_pow: np.ndarray
    col_shell: np.ndarray
    c2s_rows: np.ndarray
    c2s_cols: np.ndarray
    c2s_vals: np.ndarray
    ao_shell: np.ndarray
    rad_ao: np.ndarray

    @property
    def n_shell(self) -> int:
        return len(self.shell_l)

    @property
    def n_rad(self) -> int:
        return len(self.rad_ao)

    @property
    def n_col(self) -> int:
        return len(self.col_rad)


def _entry(basis: dict | str, sym: str):
    """The basis entry of element ``sym`` (a PySCF shell list or a basis name)."""
    if isinstance(basis, str):
        return basis
    try:
        return basis[sym]
    except KeyError:
        raise KeyError(f"basis has no entry for element {sym}") from None


def element_shells(sym: str, basis: dict | str, cutoff: float = CUTOFF) -> ElementShells:
    """The (cached) :class:`ElementShells` of element ``sym`` in ``basis`` (a per-element dict
    in PySCF's format or a basis name)."""
    entry = _entry(basis, sym)
    if isinstance(entry, str):
        return _element_shells(sym, entry, cutoff)
    # the same entry object again (e.g. the promolecule's shared shell lists): skip the JSON key
    hit = _BY_OBJECT.get((id(entry), sym, cutoff))
    if hit is not None and hit[0] is entry:
        return hit[1]
    out = _element_shells(sym, json.dumps(entry), cutoff)
    if len(_BY_OBJECT) > 512:
        _BY_OBJECT.clear()
    _BY_OBJECT[(id(entry), sym, cutoff)] = (entry, out)  # keeps entry alive: ids stay unique
    return out


_BY_OBJECT: dict = {}


@lru_cache(maxsize=512)
def _element_shells(sym: str, entry: str, cutoff: float) -> ElementShells:
    from pyscf import gto

    from rhoml.elements import atomic_number

    value = entry if not entry.lstrip().startswith("[") else json.loads(entry)
    mol = gto.Mole()
    mol.atom = [(sym, (0.0, 0.0, 0.0))]
    mol.unit = "Bohr"
    mol.basis = {sym: value}
    mol.cart = False
    mol.charge = 0
    mol.spin = atomic_number(sym) % 2
    mol.verbose = 0
    mol.build(parse_arg=False)
    ao_loc = mol.ao_loc_nr()
    rows: dict[str, list] = {k: [] for k in ("pe", "pc", "ps", "pr", "cr", "cp", "cs", "r", "c",
                                              "v", "rad_ao")}  # fmt: skip
    shell_l, radii = [], []
    ao_shell = np.zeros(int(ao_loc[-1]), dtype=np.int64)
    n_rad = n_col = 0
    for b in range(mol.nbas):
        l = int(mol.bas_angular(b))
        exps = np.asarray(mol.bas_exp(b), dtype=float)
        coef = np.asarray(mol.bas_ctr_coeff(b)) * gto.gto_norm(l, exps)[:, None]
        coef = coef * _FAC_SP.get(l, 1.0)
        c2s = np.asarray(gto.cart2sph(l, normalized="sp"))  # (ncart, nsph)
        powers = _cart_powers(l)
        shell_l.append(l)
        radii.append(shell_radius(exps, coef, l, cutoff))
        nsph = 2 * l + 1
        for k in range(coef.shape[1]):
            ao0 = int(ao_loc[b]) + k * nsph
            rows["pe"] += list(exps)
            rows["pc"] += list(coef[:, k])
            rows["ps"] += [b] * len(exps)
            rows["pr"] += [n_rad] * len(exps)
            rows["rad_ao"].append(ao0)
            for q, pw in enumerate(powers):
                rows["cr"].append(n_rad)
                rows["cp"].append(pw)
                rows["cs"].append(b)
                for s in range(nsph):
                    if c2s[q, s] != 0.0:
                        rows["r"].append(n_col + q)
                        rows["c"].append(ao0 + s)
                        rows["v"].append(c2s[q, s])
            n_col += len(powers)
            ao_shell[ao0 : ao0 + nsph] = b
            n_rad += 1
    i64, f64 = np.int64, np.float64
    out = ElementShells(
        nao=int(ao_loc[-1]), shell_l=np.array(shell_l, i64), shell_radius=np.array(radii, f64),
        prim_exp=np.array(rows["pe"], f64), prim_coef=np.array(rows["pc"], f64),
        prim_shell=np.array(rows["ps"], i64), prim_rad=np.array(rows["pr"], i64),
        col_rad=np.array(rows["cr"], i64), col_pow=np.array(rows["cp"], f64).reshape(-1, 3),
        col_shell=np.array(rows["cs"], i64), c2s_rows=np.array(rows["r"], i64),
        c2s_cols=np.array(rows["c"], i64), c2s_vals=np.array(rows["v"], f64),
        ao_shell=ao_shell, rad_ao=np.array(rows["rad_ao"], i64),
    )  # fmt: skip
    for a in vars(out).values():
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return out


@dataclass(frozen=True)
class MoleculeShells(ElementShells):
    """The functions of a whole molecule (the fields of :class:`ElementShells`, indices global
    in PySCF's order) plus ``centres`` (n_shell, 3) Bohr and ``shell_atom`` (n_shell,)."""

    centres: np.ndarray = None  # type: ignore[assignment]  # always given by molecule_shells
    shell_atom: np.ndarray = None  # type: ignore[assignment]


def _tiled(parts: list[np.ndarray], offsets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate per-atom index arrays, each shifted by its atom's offset."""
    return np.concatenate(parts) + np.repeat(offsets, counts)


def molecule_shells(molecule: Molecule, basis: dict | str, cutoff: float = CUTOFF
                    ) -> MoleculeShells:  # fmt: skip
    """The basis functions of ``molecule`` (positions Å) in ``basis``, tiled from the cached
    per-element tables; the same functions, in the same order, as PySCF's molecule built by
    :func:`rhoml.density.basis.build_mol`."""
    zs = np.asarray(molecule.numbers, dtype=np.int64)
    kinds = {int(z): element_shells(symbol(int(z)), basis, cutoff) for z in np.unique(zs)}
    per_atom = [kinds[int(z)] for z in zs]

    def counts(attr: str) -> np.ndarray:
        c = {z: len(getattr(e, attr)) for z, e in kinds.items()}
        return np.array([c[int(z)] for z in zs], dtype=np.int64)

    def starts(c: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64)

    def cat(attr: str) -> np.ndarray:
        return np.concatenate([getattr(e, attr) for e in per_atom])

    n_shell, n_rad, n_col, n_prim = (counts(a) for a in ("shell_l", "rad_ao", "col_rad",
                                                          "prim_exp"))  # fmt: skip
    n_ao = np.array([e.nao for e in per_atom], dtype=np.int64)
    n_c2s = counts("c2s_rows")
    s0, r0, c0, a0 = starts(n_shell), starts(n_rad), starts(n_col), starts(n_ao)

    def tiled(attr: str, offsets: np.ndarray, c: np.ndarray) -> np.ndarray:
        return _tiled([getattr(e, attr) for e in per_atom], offsets, c)

    bohr = np.asarray(molecule.positions, dtype=np.float64) * ANGSTROM_IN_BOHR
    return MoleculeShells(
        nao=int(n_ao.sum()), centres=np.repeat(bohr, n_shell, axis=0),
        shell_atom=np.repeat(np.arange(len(zs), dtype=np.int64), n_shell),
        shell_l=cat("shell_l"), shell_radius=cat("shell_radius"),
        prim_exp=cat("prim_exp"), prim_coef=cat("prim_coef"),
        prim_shell=tiled("prim_shell", s0, n_prim), prim_rad=tiled("prim_rad", r0, n_prim),
        col_rad=tiled("col_rad", r0, n_col), col_pow=cat("col_pow").reshape(-1, 3),
        col_shell=tiled("col_shell", s0, n_col), c2s_rows=tiled("c2s_rows", c0, n_c2s),
        c2s_cols=tiled("c2s_cols", a0, n_c2s), c2s_vals=cat("c2s_vals"),
        ao_shell=tiled("ao_shell", s0, n_ao), rad_ao=tiled("rad_ao", a0, n_rad),
    )  # fmt: skip


def n_functions(molecule: Molecule, basis: dict | str) -> int:
    """Number of (spherical) basis functions of ``molecule`` in ``basis``, from the cached
    per-element tables (no PySCF molecule built)."""
    zs, n = np.unique(np.asarray(molecule.numbers, dtype=np.int64), return_counts=True)
    return int(sum(element_shells(symbol(int(z)), basis).nao * int(c)
                   for z, c in zip(zs, n, strict=True)))  # fmt: skip
