"""tblite's GFN2-xTB STO-nG basis, rebuilt as Gaussians in PySCF's per-element basis format.

tblite expands each Slater function (principal quantum number n, angular momentum l, exponent
ζ) in ``ngauss`` Gaussians from Stewart's least-squares tables (R. F. Stewart, J. Chem. Phys.
52, 431 (1970)), shipped here as ``data/stewart1970.json``: exponents ``α_i(ζ=1)·ζ²`` and
coefficients on normalised primitives. The per-element ζ, n, l and ngauss come from
``tblite.library.export_gfn2_param``.

Three details make the rebuilt basis reproduce tblite's overlap matrix to ~1e-11:

* **Normalisation.** tblite multiplies Stewart's coefficients by the primitive norms but does
  not renormalise the contraction, so its functions have norms 1 ± 1e-10 (the tables are fits
  given to 10 digits). PySCF always renormalises contractions. :func:`ao_scale` gives the
  per-function factor ``s`` with ``χ_tblite = s · χ_pyscf``; a tblite density matrix becomes
  ``s P s`` in the PySCF functions (:func:`tblite_to_pyscf`).
* **Orthogonalisation.** A shell with the same l as an earlier shell on the same element (in
  GFN1/IPEA1: hydrogen's 2s, the diffuse 3s of B–F; GFN2 has none) is Schmidt-orthogonalised
  by tblite against that shell and renormalised. It is stored as one contracted shell holding
  the primitives of both (``χ₂ − ⟨χ₁|χ₂⟩ χ₁``).
* **Order.** tblite orders a p shell as m = −1, 0, 1, i.e. (y, z, x); PySCF as (x, y, z). d (and
  higher) shells use the same real-harmonic order m = −l..l in both (dxy, dyz, dz², dxz,
  dx²−y²), with the same signs (checked against tblite's overlap matrix, including S and Cl d
  shells). Atoms come in the same order in both, but PySCF sorts each element's shells by l
  while tblite keeps the parameter order (3d before 4s for the transition metals);
  :func:`gfn2_basis` returns the shells already sorted, and :func:`tblite_order` maps the AOs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from rhoml.elements import symbol
from rhoml.errors import UnknownElementError

METHODS = ("GFN2-xTB", "GFN1-xTB", "IPEA1-xTB")
MAX_Z = 86  # GFN2-xTB (and GFN1/IPEA1) are parametrised for H..Rn
_L = "spdfg"


@dataclass(frozen=True)
class Shell:
    """One contracted shell of an element as tblite builds it.

    ``coeffs`` refer to normalised primitives (PySCF's convention); ``norm`` is the norm of
    tblite's function (1 up to the ~1e-10 error of the Stewart fits; exactly 1 for an
    orthogonalised shell, which tblite renormalises).
    """

    n: int
    l: int
    zeta: float
    ngauss: int
    refocc: float
    exponents: tuple[float, ...]
    coeffs: tuple[float, ...]
    norm: float
    orthogonalised: bool = False

    def pyscf(self) -> list:
        """The shell as PySCF's ``[l, [exp, coeff], ...]``."""
        return [self.l] + [[e, c] for e, c in zip(self.exponents, self.coeffs, strict=True)]


@lru_cache(maxsize=1)
def stewart_tables() -> dict:
    """The Stewart (1970) expansions: ``{ngauss: {"2p": {"alpha": [...], "coeff": [...]}}}``."""
    text = resources.files("rhoml").joinpath("data/stewart1970.json").read_text()
    data = json.loads(text)
    convention = data.get("convention", "")
    # the code below relies on both halves of the stated convention
    if "zeta**2" not in convention or "NORMALISED primitive" not in convention:
        raise RuntimeError(f"stewart1970.json: unexpected convention {convention!r}")
    return {int(k): v for k, v in data["expansions"].items()}


@lru_cache(maxsize=len(METHODS))
def _tblite_elements(method: str) -> dict:
    """tblite's per-element parameters (shells, slater, ngauss, refocc...) for ``method``."""
    from tblite import library

    exporters = {
        "GFN2-xTB": library.export_gfn2_param,
        "GFN1-xTB": library.export_gfn1_param,
        "IPEA1-xTB": library.export_ipea1_param,
    }
    if method not in exporters:
        raise ValueError(f"unknown xTB method {method!r}; known: {', '.join(METHODS)}")
    param = library.new_param()
    exporters[method](param)
    table = library.new_table()
    library.dump_param(param, table)
    elements = library.table_to_dict(table)["element"]
    del param, table
    return elements


def _check_z(z: int, method: str) -> int:
    z = int(z)
    if not 1 <= z <= MAX_Z:
        name = symbol(z) if 1 <= z <= 118 else str(z)
        raise UnknownElementError(
            f"{method} covers Z = 1..{MAX_Z} (H..Rn); element {name} (Z={z}) is not parametrised"
        )
    return z


def _primitive_overlap(l: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap of normalised same-centre primitives r^l exp(-a r²) Y_lm: (2√(ab)/(a+b))^(l+3/2)."""
    return (2.0 * np.sqrt(np.outer(a, b)) / np.add.outer(a, b)) ** (l + 1.5)


def _expand(n: int, l: int, zeta: float, ngauss: int) -> tuple[np.ndarray, np.ndarray]:
    tables = stewart_tables()
    key = f"{n}{_L[l]}"
    try:
        entry = tables[ngauss][key]
    except KeyError:
        raise KeyError(
            f"no STO-{ngauss}G expansion for a {key} shell in stewart1970.json"
        ) from None
    return np.asarray(entry["alpha"]) * zeta**2, np.asarray(entry["coeff"], dtype=float)


@cache
def element_shells(z: int, method: str = "GFN2-xTB") -> tuple[Shell, ...]:
    """The shells of element ``z`` in tblite's order, as Gaussian contractions."""
    z = _check_z(z, method)
    par = _tblite_elements(method)[symbol(z)]
    shells: list[Shell] = []
    raw: list[tuple[int, np.ndarray, np.ndarray]] = []  # (l, exps, coeffs) as tblite holds them
    for name, zeta, ng, occ in zip(
        par["shells"], par["slater"], par["ngauss"], par["refocc"], strict=True
    ):
        n, l = int(name[:-1]), _L.index(name[-1])
        exps, coef = _expand(n, l, float(zeta), int(ng))
        earlier = [k for k, (lk, _, _) in enumerate(raw) if lk == l]
        ortho = bool(earlier)
        if ortho:
            # tblite: χ_j ← (χ_j − ⟨χ_i|χ_j⟩ χ_i) / norm, against the first shell with this l
            _, ei, ci = raw[earlier[0]]
            overlap = ci @ _primitive_overlap(l, ei, exps) @ coef
            exps = np.concatenate([exps, ei])
            coef = np.concatenate([coef, -overlap * ci])
            coef = coef / np.sqrt(coef @ _primitive_overlap(l, exps, exps) @ coef)
        norm = float(np.sqrt(coef @ _primitive_overlap(l, exps, exps) @ coef))
        raw.append((l, exps, coef))
        shells.append(
            Shell(n, l, float(zeta), int(ng), float(occ), tuple(map(float, exps)),
                  tuple(map(float, coef)), norm, ortho)
        )  # fmt: skip
    return tuple(shells)


def basis(elements: Iterable[int], method: str = "GFN2-xTB") -> dict:
    """Per-element basis (keys element symbols) in PySCF's format for an xTB ``method``, shells
    sorted by l as PySCF would sort them (so the stored basis lists functions in AO order).

    GFN2-xTB reproduces tblite's overlap to ≤ 2e-10 for all of H..Rn. For GFN1/IPEA1 only
    H..Ar and Cs..Rn do: their STO-6G 4s/4p/5s/5p shells (K..Ba) differ from tblite's by
    ~1e-5 in the overlap (tblite's STO-6G table there is not the one in stewart1970.json)."""
    out = {}
    for z in sorted({int(z) for z in elements}):
        shells = element_shells(_check_z(z, method), method)
        out[symbol(z)] = [shells[k].pyscf() for k in _pyscf_order(shells)]
    return out


def gfn2_basis(elements: Iterable[int]) -> dict:
    """The GFN2-xTB basis for atomic numbers ``elements`` (repeats allowed), in PySCF's
    per-element format ``{"C": [[l, [exp, coeff], ...], ...]}``.

    Raises :class:`~rhoml.errors.UnknownElementError` for Z outside 1..86.
    """
    return basis(elements, "GFN2-xTB")


def reference_occupation(z: int, method: str = "GFN2-xTB") -> tuple[float, ...]:
    """tblite's per-shell reference occupation of element ``z`` (its neutral-atom valence)."""
    return tuple(sh.refocc for sh in element_shells(z, method))


def valence_electrons(z: int, method: str = "GFN2-xTB") -> int:
    """Valence electrons of a neutral atom as tblite counts them (sum of reference occupations).

    This is also the core charge the valence density neutralises: 4 for C, 7 for Cl, 8 for Fe,
    3 for the lanthanides (f-in-core).
    """
    return int(round(sum(reference_occupation(z, method))))


def _pyscf_order(shells: tuple[Shell, ...]) -> list[int]:
    """PySCF sorts an element's shells by l (stable); tblite keeps the parameter order
    (3d before 4s for the transition metals)."""
    return sorted(range(len(shells)), key=lambda k: shells[k].l)


def n_functions(numbers: Iterable[int], method: str = "GFN2-xTB") -> int:
    """Number of (spherical) basis functions of a molecule."""
    return sum(2 * sh.l + 1 for z in numbers for sh in element_shells(int(z), method))


def tblite_order(numbers: Iterable[int], method: str = "GFN2-xTB") -> np.ndarray:
    """Index array ``idx`` with ``pyscf_ao[k] = tblite_ao[idx[k]]`` for a molecule.

    Atoms keep their order; within an atom PySCF sorts shells by l; within a p shell tblite's
    (y, z, x) becomes PySCF's (x, y, z). d shells keep their order and all signs are +1.
    """
    idx: list[int] = []
    start = 0
    for z in numbers:
        shells = element_shells(int(z), method)
        offsets = np.cumsum([0] + [2 * sh.l + 1 for sh in shells])
        for k in _pyscf_order(shells):
            l = shells[k].l
            local = (2, 0, 1) if l == 1 else range(2 * l + 1)
            idx.extend(start + int(offsets[k]) + m for m in local)
        start += int(offsets[-1])
    return np.asarray(idx, dtype=np.int64)


def ao_scale(numbers: Iterable[int], method: str = "GFN2-xTB") -> np.ndarray:
    """Per-function factor ``s`` (PySCF order) with ``χ_tblite = s · χ_pyscf``."""
    out: list[float] = []
    for z in numbers:
        shells = element_shells(int(z), method)
        for k in _pyscf_order(shells):
            out.extend([shells[k].norm] * (2 * shells[k].l + 1))
    return np.asarray(out)


def tblite_to_pyscf(matrix: np.ndarray, numbers: Iterable[int], *, kind: str = "density",
                    method: str = "GFN2-xTB") -> np.ndarray:  # fmt: skip
    """Convert an AO matrix from tblite's functions and order to PySCF's.

    ``kind="density"`` (coefficients of χχ products: density matrix) gives ``s P s``;
    ``kind="integral"`` (matrix elements ⟨χ|·|χ⟩: overlap, Hamiltonian) gives ``M / (s s)``.
    Leading axes (e.g. spin) are kept.
    """
    numbers = list(numbers)
    idx = tblite_order(numbers, method)
    s = ao_scale(numbers, method)
    m = np.asarray(matrix)[..., idx[:, None], idx[None, :]]
    if kind == "density":
        return m * np.outer(s, s)
    if kind == "integral":
        return m / np.outer(s, s)
    raise ValueError(f"kind must be 'density' or 'integral', not {kind!r}")
