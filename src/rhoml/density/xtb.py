"""The GFN2-xTB density engine (tblite), returned as a valence density in the rebuilt STO-nG basis.

tblite returns the density matrix in its own AO functions and order; :mod:`rhoml.density.sto_ng`
rebuilds that basis as Gaussians and maps the matrix into PySCF's order and normalisation, so the
result is an ordinary :class:`~rhoml.density.base.Density` (evaluation, gradient, dipole, ESP).
The density is valence-only: it neutralises the valence charges ``valence_electrons(Z)``.
"""

from __future__ import annotations

import numpy as np

from rhoml.density.base import Density
from rhoml.density.sto_ng import gfn2_basis, tblite_to_pyscf, valence_electrons
from rhoml.errors import CalculationError
from rhoml.molecule import Molecule
from rhoml.units import angstrom_to_bohr, convert

LEVEL = "GFN2-xTB"
# Boltzmann constant in Hartree/K (CODATA 2018: 1.380649e-23 J/K / 4.3597447222071e-18 J).
# tblite takes the electronic temperature in Hartree; rhoml.units has no temperature dimension.
KELVIN_IN_HARTREE = 3.166811563455546e-06


def compute_xtb(
    molecule: Molecule,
    *,
    accuracy: float = 1.0,
    max_iterations: int = 250,
    electronic_temperature: float = 300.0,
    mixer_damping: float = 0.4,
    solvent: str | None = None,
) -> Density:
    """Run a GFN2-xTB single point with tblite and return its valence density.

    Args:
        molecule: geometry in Å, charge and multiplicity (``uhf = multiplicity − 1`` unpaired
            electrons).
        accuracy: tblite's numerical accuracy (smaller is tighter).
        max_iterations: SCC iteration limit.
        electronic_temperature: Fermi smearing temperature in K (a higher one, e.g. 1000–3000 K,
            helps large systems with small gaps converge; it changes the density slightly).
        mixer_damping: tblite's Broyden mixer damping (default 0.4; smaller is more cautious).
        solvent: ALPB implicit solvent name (e.g. ``"water"``), or None for the gas phase.
            Charged systems such as protein pockets converge far better in a solvent, which also
            screens their charges as in solution.

    Returns:
        A ``density_matrix`` :class:`Density` in :func:`~rhoml.density.sto_ng.gfn2_basis`, with
        ``nuclear_charges`` the valence charges and ``properties``: ``energy``, ``homo``,
        ``lumo`` (Hartree), ``dipole_tblite`` (tblite's own dipole, Debye: Mulliken charges plus
        atomic dipoles, not the exact moment of the density), ``charges`` (tblite's Mulliken
        charges, e).

    Raises:
        CalculationError: tblite failed (SCF not converged, electron count, library error).

    HOMO/LUMO follow the aufbau count, not the smeared occupations: HOMO is orbital
    n_α − 1, LUMO orbital n_α (with spin-resolved orbitals, the max/min over both spins). For
    the lanthanides whose GFN2 valence count has the other parity than Z (f-in-core), the
    multiplicity cannot be passed through; the lowest spin that fits is used and recorded as
    ``provenance["uhf"]``.
    """
    numbers = [int(z) for z in molecule.numbers]
    basis = gfn2_basis(numbers)  # raises UnknownElementError outside H..Rn
    valence = np.array([valence_electrons(z) for z in numbers], dtype=float)
    n_valence = int(valence.sum()) - molecule.charge
    uhf = molecule.multiplicity - 1
    if n_valence < 0 or uhf > n_valence:
        raise CalculationError(
            f"{molecule.id}: {LEVEL} has {n_valence} valence electrons for charge "
            f"{molecule.charge:+d}, too few for multiplicity {molecule.multiplicity}"
        )
    if (n_valence - uhf) % 2:
        uhf = n_valence % 2

    try:
        from tblite.interface import Calculator
        from tblite.library import get_version
    except ImportError as exc:  # pragma: no cover - tblite is a dependency
        raise CalculationError(f"{molecule.id}: tblite is not available ({exc})") from None

    tblite_version = ".".join(map(str, get_version()))
    calc = res = None
    try:
        calc = Calculator(
            LEVEL,
            np.asarray(numbers, dtype=np.int32),
            angstrom_to_bohr(molecule.positions),
            charge=float(molecule.charge),
            uhf=uhf,
            color=False,
            logger=_silent,
        )
        calc.set("verbosity", 0)
        calc.set("accuracy", float(accuracy))
        calc.set("max-iter", int(max_iterations))
        calc.set("temperature", float(electronic_temperature) * KELVIN_IN_HARTREE)
        calc.set("mixer-damping", float(mixer_damping))
        if solvent:
            calc.add("alpb-solvation", str(solvent))
        res = calc.singlepoint()
        energy = float(res.get("energy"))
        density = np.asarray(res.get("density-matrix"), dtype=float)
        dipole_au = np.asarray(res.get("dipole"), dtype=float).reshape(3)
        charges = np.asarray(res.get("charges"), dtype=float)
        eps = np.asarray(res.get("orbital-energies"), dtype=float)
    except Exception as exc:  # tblite raises TBLiteRuntimeError/ValueError, ffi errors...
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise CalculationError(f"{molecule.id}: {LEVEL} (tblite) failed: {message}") from None
    finally:
        del res, calc  # before interpreter exit, or tblite prints ffi errors

    if density.ndim == 3:  # spin-resolved (alpha, beta)
        density = density.sum(axis=0)
    p = tblite_to_pyscf(density, numbers, kind="density")
    homo, lumo = _frontier(eps, n_valence, uhf)

    return Density(
        molecule,
        basis,
        "density_matrix",
        p,
        nuclear_charges=valence,
        engine="xtb",
        level=LEVEL,
        valence=True,
        properties={
            "energy": energy,
            "dipole_tblite": convert(dipole_au, "e*bohr", "debye"),
            "homo": homo,
            "lumo": lumo,
            "charges": charges,
        },
        property_units={
            "energy": "hartree",
            "dipole_tblite": "debye",
            "homo": "hartree",
            "lumo": "hartree",
            "charges": "e",
        },
        provenance={
            "tblite": tblite_version,
            "method": LEVEL,
            "basis": "GFN2-xTB STO-nG (Stewart 1970) rebuilt as Gaussians (rhoml.density.sto_ng)",
            "accuracy": float(accuracy),
            "max_iterations": int(max_iterations),
            "electronic_temperature_K": float(electronic_temperature),
            "mixer_damping": float(mixer_damping),
            "solvent": f"ALPB {solvent}" if solvent else None,
            "charge": molecule.charge,
            "uhf": uhf,
            "valence_electrons": n_valence,
        },
    )


def _silent(message: str) -> None:
    """tblite context logger that drops everything."""


def _frontier(eps: np.ndarray, n_electrons: int, uhf: int) -> tuple[float, float]:
    """HOMO and LUMO energies (Hartree) from orbital energies by aufbau count."""
    n_alpha = (n_electrons + uhf) // 2
    n_beta = n_electrons - n_alpha
    sets = [(eps, n_alpha)] if eps.ndim == 1 else [(eps[0], n_alpha), (eps[1], n_beta)]
    occupied = [float(np.sort(e)[n - 1]) for e, n in sets if n > 0]
    virtual = [float(np.sort(e)[n]) for e, n in sets if n < len(e)]
    return (max(occupied) if occupied else float("nan"), min(virtual) if virtual else float("nan"))
