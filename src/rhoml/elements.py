"""Element symbols and atomic numbers (Z = 1..118)."""

from __future__ import annotations

from rhoml.errors import UnknownElementError

SYMBOLS: tuple[str, ...] = (
    "X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S",
    "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge",
    "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd",
    "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm",
    "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn",
    "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)  # fmt: skip
_BY_SYMBOL = {s.lower(): z for z, s in enumerate(SYMBOLS) if z > 0}


def atomic_number(symbol: str | int, where: str = "") -> int:
    """Atomic number of an element symbol (case-insensitive) or a number-like string."""
    if isinstance(symbol, int | float) or str(symbol).strip().isdigit():
        z = int(symbol)
        if 1 <= z < len(SYMBOLS):
            return z
        raise UnknownElementError(f"{where}unknown atomic number {symbol!r}")
    key = str(symbol).strip().lower()
    if key in _BY_SYMBOL:
        return _BY_SYMBOL[key]
    raise UnknownElementError(f"{where}unknown element {symbol!r}")


def symbol(z: int) -> str:
    """Element symbol of atomic number ``z``."""
    if not 1 <= int(z) < len(SYMBOLS):
        raise UnknownElementError(f"unknown atomic number {z!r}")
    return SYMBOLS[int(z)]


#: Å added to the sum of covalent radii for a bond (the usual Jmol/Open Babel rule).
BOND_TOLERANCE = 0.45


def bonded_pairs(numbers, positions, tolerance: float = BOND_TOLERANCE):
    """Bonded atom pairs (n_bonds, 2) int64, i < j: distance below the sum of covalent radii
    (RDKit's periodic table) + ``tolerance`` Å. ``positions`` (n, 3) Å."""
    import numpy as np
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    rc = np.array([table.GetRcovalent(int(z)) for z in numbers])
    pos = np.asarray(positions, dtype=float)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    cut = rc[:, None] + rc[None] + tolerance
    i, j = np.nonzero(np.triu((d < cut) & (d > 0.1), k=1))
    return np.stack([i, j], axis=1).astype(np.int64)
