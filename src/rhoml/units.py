"""The one place where units are converted.

Conventions: positions in Å at every public boundary, Bohr inside the density engines (PySCF and
tblite work in Bohr); energies stored in Hartree; dipoles in Debye; densities in e/Bohr³.
Constants are CODATA 2018 as used by PySCF (``pyscf.data.nist``).
"""

from __future__ import annotations

import numpy as np

from rhoml.errors import UnitError

BOHR_IN_ANGSTROM = 0.529177210903  # CODATA 2018
ANGSTROM_IN_BOHR = 1.0 / BOHR_IN_ANGSTROM
HARTREE_IN_EV = 27.211386245988  # CODATA 2018
HARTREE_IN_KCAL_PER_MOL = 627.5094740631  # CODATA 2018
EV_IN_KCAL_PER_MOL = HARTREE_IN_KCAL_PER_MOL / HARTREE_IN_EV
# 1 e·Bohr in Debye: e * a0 / (1e-21 / c) with c in m/s (CODATA 2018)
AU_DIPOLE_IN_DEBYE = 2.541746473
PLANCK_J_S = 6.62607015e-34  # exact (SI 2019)
LIGHT_CM_PER_S = 2.99792458e10  # exact
AMU_KG = 1.66053906660e-27  # CODATA 2018

# unit name -> (dimension, factor to the dimension's base unit)
# bases: length Å, energy Hartree, dipole Debye, density e/Bohr^3, force Hartree/Å
_UNITS: dict[str, tuple[str, float]] = {
    "angstrom": ("length", 1.0),
    "Å": ("length", 1.0),
    "bohr": ("length", BOHR_IN_ANGSTROM),
    "hartree": ("energy", 1.0),
    "Ha": ("energy", 1.0),
    "eV": ("energy", 1.0 / HARTREE_IN_EV),
    "meV": ("energy", 1e-3 / HARTREE_IN_EV),
    "kcal/mol": ("energy", 1.0 / HARTREE_IN_KCAL_PER_MOL),
    "debye": ("dipole", 1.0),
    "D": ("dipole", 1.0),
    "e*bohr": ("dipole", AU_DIPOLE_IN_DEBYE),
    "e/bohr^3": ("density", 1.0),
    "e/angstrom^3": ("density", BOHR_IN_ANGSTROM**3),
    "hartree/angstrom": ("force", 1.0),
    "hartree/bohr": ("force", ANGSTROM_IN_BOHR),
    "eV/angstrom": ("force", 1.0 / HARTREE_IN_EV),
    "kcal/mol/angstrom": ("force", 1.0 / HARTREE_IN_KCAL_PER_MOL),
    "hartree/e": ("potential", 1.0),
    "bohr^3": ("volume", 1.0),
    "angstrom^3": ("volume", ANGSTROM_IN_BOHR**3),
    "bohr^2": ("area", 1.0),
    "angstrom^2": ("area", ANGSTROM_IN_BOHR**2),
    "cal/mol/K": ("heat_capacity", 1.0),
    "e": ("charge", 1.0),
    "s": ("time", 1.0),
    "dimensionless": ("none", 1.0),
    "text": ("text", 1.0),  # string labels
    "unknown": ("unknown", 1.0),  # a file gave no unit and its format has no convention
}


def known_units() -> list[str]:
    """Names accepted by :func:`convert`."""
    return sorted(_UNITS)


def convert(value, from_unit: str, to_unit: str):
    """Convert ``value`` (scalar or array) between two units of the same dimension.

    >>> round(convert(1.0, "bohr", "angstrom"), 6)
    0.529177
    """
    try:
        dim_a, fa = _UNITS[from_unit]
        dim_b, fb = _UNITS[to_unit]
    except KeyError as exc:
        raise UnitError(
            f"unknown unit {exc.args[0]!r}; known: {', '.join(known_units())}"
        ) from None
    if dim_a != dim_b:
        raise UnitError(f"cannot convert {from_unit} ({dim_a}) to {to_unit} ({dim_b})")
    if from_unit == to_unit:
        return value
    factor = fa / fb
    return value * factor if not isinstance(value, list) else [v * factor for v in value]


def check_unit(found: str | None, expected: str, what: str) -> None:
    """Raise :class:`UnitError` unless a stored unit equals the expected one."""
    if found is None:
        raise UnitError(f"{what}: no unit recorded (expected {expected})")
    if found != expected:
        raise UnitError(f"{what}: stored in {found}, expected {expected}")


def angstrom_to_bohr(x):
    """Å → Bohr (arrays or scalars)."""
    return np.asarray(x, dtype=float) * ANGSTROM_IN_BOHR


def bohr_to_angstrom(x):
    """Bohr → Å (arrays or scalars)."""
    return np.asarray(x, dtype=float) * BOHR_IN_ANGSTROM


def rotational_constant_cm(moment):
    """Rotational constant B = h / (8π² c I) in cm⁻¹ of a moment of inertia ``moment`` in
    amu·Å² (scalar or array; B·I ≈ 16.8576 cm⁻¹·amu·Å²)."""
    import numpy as np

    i_si = np.asarray(moment, dtype=float) * AMU_KG * 1e-20
    return PLANCK_J_S / (8.0 * np.pi**2 * LIGHT_CM_PER_S * i_si)
