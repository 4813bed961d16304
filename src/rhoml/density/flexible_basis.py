"""The flexible auxiliary Gaussian basis of DenSNet and its e3nn irreps.

A :class:`FlexibleBasis` is a standard density-fitting basis (default def2-universal-jfit, shells up
to ``lmax`` per element) whose exponents are multiplied by per-element, per-shell scales
exp(log_scale). The scales are the basis' trainable parameters (:mod:`.fit_scales` optimises
them against the Coulomb fit error); every comparison between densities goes through real-space
or Coulomb integrals in one basis, never through coefficients of two different bases.

Ordering: coefficients of a molecule are stored in PySCF's AO order (atom by atom, shell by
shell, spherical components in PySCF's order; p is (x, y, z)). The networks work with e3nn irreps
whose components follow e3nn's real spherical harmonics (l=1 is (y, z, x) up to e3nn's axis
convention). :func:`pyscf_from_e3nn` gives, per l, the matrix A_l with c_pyscf = A_l c_e3nn,
derived numerically by evaluating both sets of harmonics at random directions (so no sign or
order convention is hard-coded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from rhoml.elements import atomic_number, symbol

PARITY = {0: "e", 1: "o", 2: "e", 3: "o", 4: "e", 5: "o", 6: "e"}  # real solid harmonics: (-1)^l


@dataclass
class FlexibleBasis:
    """Per-element shells ``[(l, exponents (Bohr⁻²), contraction coefficients)]`` and log-scales.

    ``log_scales[element]`` has one entry per shell; exponents used are exps·exp(log_scale).
    """

    name: str
    shells: dict[str, list[tuple[int, list[float], list[float]]]]
    log_scales: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for el, sh in self.shells.items():
            self.log_scales.setdefault(el, [0.0] * len(sh))
            if len(self.log_scales[el]) != len(sh):
                raise ValueError(
                    f"basis {self.name}: {el} has {len(sh)} shells but "
                    f"{len(self.log_scales[el])} scales"
                )

    @classmethod
    def from_pyscf(cls, name: str, elements, lmax: dict[str, int] | int = 3) -> FlexibleBasis:
        """Shells of PySCF basis ``name`` for ``elements`` (symbols or Z), keeping l ≤ lmax.

        ``name`` is a PySCF basis name, or a basis generated from an orbital basis:
        ``autoaux:<orbital>`` (PySCF's AutoAux, Stoychev et al. JCTC 2017) or
        ``etb:<orbital>[:beta]`` (PySCF's even-tempered ``aug_etb``, default beta 2.0).
        """
        shells = {}
        for e in elements:
            el = symbol(atomic_number(e)) if not isinstance(e, str) else e
            lm = lmax if isinstance(lmax, int) else lmax[el]
            out = []
            for shell in load_shells(name, el):
                l, prims = shell[0], shell[1:]
                if isinstance(prims[0], (int, float)):  # kappa entry
                    prims = prims[1:]
                if l > lm:
                    continue
                arr = np.asarray(prims, dtype=float)
                for k in range(1, arr.shape[1]):  # split general contractions
                    out.append((int(l), arr[:, 0].tolist(), arr[:, k].tolist()))
            out.sort(key=lambda s: s[0])  # stable: by l, file order within l
            shells[el] = out
        return cls(name=f"{name}(lmax={lmax})", shells=shells)

    def orthogonalised(self, metric: str = "coulomb", rel_tol: float = 0.0) -> FlexibleBasis:
        """Same-centre orthogonal contractions: per element and l, the distinct primitive
        exponents (current scales applied) are recombined into shells orthogonal in the
        one-centre ``metric`` ("coulomb" or "overlap"; canonical orthogonalisation, dropping
        eigen-directions below ``rel_tol`` × the largest). Spans the decontracted basis (less
        what is dropped) with better-conditioned coefficients; scales reset to 0."""
        from pyscf import gto

        intor = {"coulomb": "int2c2e", "overlap": "int1e_ovlp"}.get(metric)
        if intor is None:
            raise ValueError(f"metric must be 'coulomb' or 'overlap', got {metric!r}")
        shells = {}
        for el, sh in self.shells.items():
            out = []
            for l in sorted(set(self.ls(el))):
                exps = sorted(
                    {
                        round(float(a) * float(np.exp(s)), 12)
                        for (sl, e, _), s in zip(sh, self.log_scales[el], strict=True)
                        if sl == l
                        for a in e
                    },
                    reverse=True,
                )
                atom = gto.M(
                    atom=[("He", (0.0, 0.0, 0.0))],
                    basis={"He": [[l, [a, 1.0]] for a in exps]},
                    spin=0,
                    verbose=0,
                )
                m = atom.intor(intor)[:: 2 * l + 1, :: 2 * l + 1]  # one component per shell
                w, u = np.linalg.eigh(m)
                keep = w > rel_tol * w.max()
                for k in np.nonzero(keep)[0][::-1]:  # largest eigenvalue first
                    out.append((l, list(exps), (u[:, k] / np.sqrt(w[k])).tolist()))
            shells[el] = out
        return FlexibleBasis(f"{self.name}+orth({metric},{rel_tol:g})", shells)

    # -- views ---------------------------------------------------------------------------------
    @property
    def elements(self) -> list[str]:
        return sorted(self.shells, key=atomic_number)

    def pyscf_basis(self) -> dict:
        """Per-element basis dict in PySCF's format with the scaled exponents."""
        out = {}
        for el, sh in self.shells.items():
            rows = []
            for (l, exps, coefs), s in zip(sh, self.log_scales[el], strict=True):
                e = np.asarray(exps) * np.exp(s)
                rows.append([l] + [[float(a), float(c)] for a, c in zip(e, coefs, strict=True)])
            out[el] = rows
        return out

    def ls(self, element: str) -> list[int]:
        """Angular momentum of each shell of ``element``."""
        return [s[0] for s in self.shells[element]]

    def irreps(self, element: str) -> str:
        """e3nn irreps string of one atom's coefficients, shell by shell (not simplified)."""
        return "+".join(f"1x{l}{PARITY[l]}" for l in self.ls(element))

    def n_functions(self, element: str) -> int:
        return sum(2 * l + 1 for l in self.ls(element))

    def lmax(self) -> int:
        return max(max(self.ls(el)) for el in self.shells)

    def to_dict(self) -> dict:
        return {"name": self.name, "shells": self.shells, "log_scales": self.log_scales}

    @classmethod
    def from_dict(cls, d: dict) -> FlexibleBasis:
        shells = {
            el: [(int(l), list(e), list(c)) for l, e, c in sh] for el, sh in d["shells"].items()
        }
        return cls(d["name"], shells, {k: list(v) for k, v in d["log_scales"].items()})

    def key(self) -> str:
        """Short hash of shells and scales (cache key of fitted targets)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def load_shells(name: str, element: str) -> list:
    """PySCF-format shells of ``element`` in ``name`` (see :meth:`FlexibleBasis.from_pyscf`)."""
    from pyscf import gto

    kind, _, rest = name.partition(":")
    if kind not in ("autoaux", "etb") or not rest:
        return gto.basis.load(name, element)
    from pyscf.df import addons

    orbital, _, beta = rest.partition(":")
    z = atomic_number(element)
    atom = gto.M(atom=[(element, (0.0, 0.0, 0.0))], basis=orbital, spin=z % 2, verbose=0)
    try:
        made = addons.autoaux(atom) if kind == "autoaux" else addons.aug_etb(atom, float(beta or 2))
    except ValueError as exc:
        raise ValueError(f"basis {name}: cannot generate for {element}: {exc}") from None
    return made[element]


def default_basis(elements=("H", "C", "O")) -> FlexibleBasis:
    """def2-universal-jfit with l ≤ 3 on heavy atoms and l ≤ 2 on H (drops the g shells)."""
    lmax = {symbol(atomic_number(e)) if not isinstance(e, str) else e: 3 for e in elements}
    lmax["H"] = 2
    return FlexibleBasis.from_pyscf("def2-universal-jfit", elements, lmax)


@lru_cache(maxsize=8)
def pyscf_from_e3nn(l: int) -> np.ndarray:
    """(2l+1, 2l+1) matrix A with c_pyscf = A @ c_e3nn for one shell of angular momentum l.

    Both harmonic sets span the same space; we find B with Y_pyscf(r̂) = B Y_e3nn(r̂) by least
    squares at random directions. A density Σ c_p·Y_p = Σ c_e·Y_e then needs c_e = Bᵀ c_p, so
    c_p = B⁻ᵀ c_e.
    """
    import torch
    from e3nn import o3
    from pyscf import gto

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(64, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    mol = gto.M(
        atom=[("He", (0.0, 0.0, 0.0))],
        basis={"He": [[l, [1.0, 1.0]]]},
        unit="Bohr",
        spin=0,
        charge=0,
        verbose=0,
    )
    y_p = mol.eval_gto("GTOval_sph", pts)  # (n, 2l+1), radial part constant on the sphere
    y_e = o3.spherical_harmonics(l, torch.from_numpy(pts), normalize=True).numpy()
    b, *_ = np.linalg.lstsq(y_e, y_p, rcond=None)  # y_p ≈ y_e @ b, i.e. Y_p = bᵀ Y_e
    resid = np.abs(y_e @ b - y_p).max()
    if resid > 1e-8 * np.abs(y_p).max():
        raise RuntimeError(f"e3nn and PySCF l={l} harmonics do not span one space ({resid:.1e})")
    big_b = b.T  # Y_p = B Y_e
    return np.linalg.inv(big_b).T


def element_integrals(basis: FlexibleBasis, element: str) -> tuple[np.ndarray, np.ndarray]:
    """∫χ_k and ∫r χ_k (Bohr) of one atom's functions centred at the origin, PySCF order.

    Returns q (nfun,) and m (nfun, 3); for an atom at R the s moments gain q_k·R.
    """
    from rhoml.density.basis import basis_only_mol, function_integrals
    from rhoml.molecule import Molecule

    z = atomic_number(element)
    mol = basis_only_mol(
        Molecule([z], [[0.0, 0.0, 0.0]], multiplicity=1 + z % 2),
        {element: basis.pyscf_basis()[element]},
    )
    return function_integrals(mol)
