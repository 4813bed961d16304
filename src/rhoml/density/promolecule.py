"""Promolecule densities: the superposition of spherical neutral-atom densities (no SCF).

Each element's density is a fixed sum of s Gaussians, ``ρ_A(r) = Σ_k c_k exp(−a_k r²)``, fitted
to a spherically averaged fractional-occupation Hartree-Fock atom (uncontracted all-electron QZP
basis, H–Xe) by ``scripts/make_promolecule_tables.py`` and shipped as ``data/promolecule.json``
(exponents in Bohr⁻², amplitudes c_k in e/Bohr³ for *unnormalised* Gaussians). Each element also
has a core part (noble-gas core, plus (n−1)d¹⁰ from group 12 on: GFN2-xTB's split), so the
valence density is total − core.

The c_k have both signs (non-negative coefficients cannot follow the shell structure; see the
script), but each part integrates exactly to its electron count, is ≥ 0 (to ~1e-11 e/Bohr³) and
decreases monotonically wherever the atomic density does. Fit errors ∫|Δρ|4πr²dr/N are 4e-7 to
3e-5 (per element in the table's ``fit_error``).

The promolecule is neutral atoms: it integrates to Σ Z (or Σ (Z − n_core) for ``valence=True``)
whatever the molecule's charge, and its dipole is zero (every atom is neutral and centred on its
nucleus).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

import numpy as np

from rhoml.density.base import Density
from rhoml.elements import atomic_number, symbol
from rhoml.errors import UnknownElementError
from rhoml.molecule import Molecule

TABLE = "data/promolecule.json"
Part = Literal["total", "core", "valence"]


@lru_cache(maxsize=1)
def load_table() -> dict:
    """The parsed ``data/promolecule.json`` (``{"metadata": ..., "elements": {sym: entry}}``)."""
    text = resources.files("rhoml").joinpath(TABLE).read_text()
    table = json.loads(text)
    units = table["metadata"].get("units", {})
    # the code below relies on these conventions
    if units.get("exponents") != "bohr^-2" or units.get("coefficients") != "e/bohr^3":
        raise RuntimeError(f"{TABLE}: unexpected units {units!r}")
    if "UNNORMALISED" not in table["metadata"].get("convention", ""):
        raise RuntimeError(f"{TABLE}: unexpected coefficient convention")
    return table


def available_elements() -> list[str]:
    """Element symbols the shipped table covers (H–Xe)."""
    return list(load_table()["elements"])


@cache
def _element(z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(exponents, total, core, n_core) of element ``z`` as read-only arrays."""
    entries = load_table()["elements"]
    sym = symbol(z)
    if sym not in entries:
        raise UnknownElementError(
            f"no promolecule density for element {sym} (Z = {z}); the table covers "
            f"{next(iter(entries))}–{next(reversed(entries))}"
        )
    e = entries[sym]
    arrays = [np.asarray(e[k], dtype=np.float64) for k in ("exponents", "total", "core")]
    for a in arrays:
        a.setflags(write=False)
    return arrays[0], arrays[1], arrays[2], int(e["n_core"])


def _z(element: str | int) -> int:
    return atomic_number(element) if isinstance(element, str) else int(element)


def n_core(element: str | int) -> int:
    """Core electrons of ``element`` in the promolecule table (0 for H, He; 2 for Li–Ne...)."""
    return _element(_z(element))[3]


def atomic_coefficients(element: str | int, part: Part = "total") -> tuple[np.ndarray, np.ndarray]:
    """``(exponents, amplitudes)`` with ``ρ(r) = Σ_k c_k exp(−a_k r²)`` (Bohr⁻², e/Bohr³)."""
    exps, total, core, _ = _element(_z(element))
    if part == "total":
        return exps, total
    if part == "core":
        return exps, core
    if part == "valence":
        return exps, total - core
    raise ValueError(f"part must be 'total', 'core' or 'valence', not {part!r}")


def atomic_density_radial(element: str | int, r_bohr, part: Part = "total") -> np.ndarray:
    """Spherical density (e/Bohr³) of the neutral atom at radii ``r_bohr`` (Bohr), any shape."""
    exps, c = atomic_coefficients(element, part)
    r = np.asarray(r_bohr, dtype=np.float64)
    return np.exp(-np.multiply.outer(r * r, exps)) @ c


def _normalisation(exps: np.ndarray) -> np.ndarray:
    """Value at the origin of PySCF's normalised s function ``[0, [a, 1.0]]``: (2a/π)^{3/4}.

    PySCF scales the primitive by its radial norm and libcint by Y00 = 1/√(4π); together they
    make the function unit-normalised in 3-D (see :func:`rhoml.density.basis.function_integrals`).
    """
    return (2.0 * exps / np.pi) ** 0.75


def promolecule_basis(elements: Iterable[str | int]) -> dict:
    """Per-element PySCF basis of uncontracted s shells ``{"C": [[0, [a, 1.0]], ...], ...}``
    (each element's shell list is built once and shared between calls: do not modify it)."""
    return {symbol(_z(el)): _shells(_z(el)) for el in elements}


@cache
def _shells(z: int) -> list:
    return [[0, [float(a), 1.0]] for a in _element(z)[0]]


def pyscf_coefficients(element: str | int, part: Part = "total") -> np.ndarray:
    """Coefficients of ``element``'s density on the PySCF-normalised functions of
    :func:`promolecule_basis` (electrons: ``Σ c_k`` equals the electron count)."""
    exps, c = atomic_coefficients(element, part)
    return c / _normalisation(exps)


def compute_promolecule(molecule: Molecule, *, valence: bool = False) -> Density:
    """The promolecule density of ``molecule``: a sum of neutral spherical atoms.

    With ``valence=True`` the core densities are left out and the nuclear charges become
    Z − n_core (GFN2-xTB's valence charges), so the result compares with xTB valence densities.
    Raises :class:`~rhoml.errors.UnknownElementError` for elements beyond the table (H–Xe).
    """
    part: Part = "valence" if valence else "total"
    zs = [int(z) for z in molecule.numbers]
    unique = sorted(set(zs))
    per_element = {}
    for z in unique:
        try:
            per_element[z] = pyscf_coefficients(z, part)
        except UnknownElementError as exc:
            where = molecule.source or molecule.id
            raise UnknownElementError(f"{where}: {exc}") from None
    basis = promolecule_basis(unique)
    coeffs = np.concatenate([per_element[z] for z in zs])
    charges = np.array([z - (n_core(z) if valence else 0) for z in zs], dtype=np.float64)
    meta = load_table()["metadata"]
    return Density(
        molecule,
        basis,
        "coefficients",
        coeffs,
        nuclear_charges=charges,
        engine="promolecule",
        level=f"promolecule/{meta['level']}",
        valence=valence,
        provenance={
            "table": f"rhoml/{TABLE}",
            "method": meta["method"],
            "basis": meta["basis"],
            "configuration": meta["configuration"],
            "core_definition": meta["core_definition"],
            "fit": meta["fit"],
            "table_pyscf_version": meta["pyscf_version"],
            "neutral_atoms": True,
            "molecule_charge_ignored": molecule.charge,
        },
    )
