"""Structures through ASE: every format ``ase.io.read`` reads for which rhoml has no reader of
its own (ASE databases ``.db`` and ``.json``, trajectories ``.traj``, CIF, POSCAR, Gaussian and
ORCA output, ...), and the way back to ASE.

:func:`read_ase` (what :func:`rhoml.io.read_molecules` falls back to) turns each structure into
a :class:`~rhoml.molecule.Molecule` with :func:`atoms_to_molecule`:

* numbers, positions in Å;
* ``charge`` from ``atoms.info["charge"]`` (default 0); ``multiplicity`` from ``"multiplicity"``
  / ``"mult"``, else ``"spin"`` read as in rhoml's XYZ reader (the number of unpaired electrons
  2S, a half-integer value as S), else the lowest one consistent with the electron count;
* ``id``: ``info["id"]``, else ``info["name"]``; else the file stem for a file with one
  structure, ``<stem>#<i>`` (counted from 0) for several. Database rows (``.db``, ASE JSON
  ``.json``) take their ``id`` data entry or ``name`` key, else ``<stem>#<row id>`` (ASE row ids
  count from 1);
* labels: the calculator results in ASE's units (:data:`ASE_RESULT_UNITS`: energies eV, forces
  eV/Å, dipole e·Å, ...), then the other scalars, strings and arrays of ``atoms.info`` (for a
  database row: its key-value pairs and data). ``<key>_unit`` entries give the unit of ``key``;
  without one, energy-like keys are in eV (ASE's convention), strings ``"text"``, booleans
  ``"dimensionless"``, other numbers ``"unknown"`` (``label_units=`` overrides);
* a periodic structure (CIF, POSCAR) keeps its cell as label ``cell`` (Å) and ``pbc``; the
  molecule itself is not periodic. Non-zero ASE ``tags`` become :attr:`Molecule.groups`.

:func:`molecules_to_atoms` goes the other way (energies and forces onto a single-point
calculator in eV and eV/Å, everything else into ``info`` with ``<key>_unit`` entries, groups as
tags); :func:`write_ase` writes molecules to any format ASE writes, a database row per molecule
for ``.db`` / ``.json``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rhoml.errors import InputError, UnitError
from rhoml.io import StrPath, default_multiplicity, existing_file
from rhoml.molecule import Molecule
from rhoml.units import convert

if TYPE_CHECKING:
    from ase import Atoms

#: Units of ASE calculator results (ASE's unit system: eV, Å, e).
ASE_RESULT_UNITS: dict[str, str] = {
    "energy": "eV",
    "free_energy": "eV",
    "energies": "eV",
    "forces": "eV/angstrom",
    "stress": "eV/angstrom^3",
    "stresses": "eV/angstrom^3",
    "dipole": "e*angstrom",
    "charges": "e",
    "magmom": "bohr_magneton",
    "magmoms": "bohr_magneton",
}
_DATABASE_FORMATS = ("db", "json")
_COMPRESSION = (".gz", ".bz2", ".xz")
_SPIN_KEYS = ("multiplicity", "mult", "spin")


def ase_format(path: StrPath) -> str | None:
    """The ASE format that reads ``path`` (by extension, else by ASE's name and content rules),
    or None when ASE reads no such file."""
    from ase.io.formats import extension2format, filetype, ioformats

    p = Path(path)
    name = p.name.lower()
    for ext in _COMPRESSION:
        if name.endswith(ext):
            name = name[: -len(ext)]
    ext = name.rsplit(".", 1)[1] if "." in name else ""
    fmt = None
    if ext in extension2format:
        fmt = extension2format[ext].name
    elif ext in ioformats:
        fmt = ext
    else:
        try:
            fmt = filetype(str(p), read=True, guess=False)
        except Exception:  # ASE raises several types for files it does not recognise
            return None
    io = ioformats.get(fmt)
    return fmt if io is not None and io.can_read else None


def read_ase(
    path: StrPath,
    *,
    format: str | None = None,
    index: str | int = ":",
    selection: str | None = None,
    label_units: dict[str, str] | None = None,
) -> Iterator[Molecule]:
    """Iterate over the structures of ``path`` read with ASE (see the module docstring).

    Args:
        path: any file ``ase.io.read`` reads.
        format: ASE format name (default: from the file name and content, :func:`ase_format`).
        index: which structures (ASE's index syntax, default all).
        selection: for databases, an ASE database query (e.g. ``"natoms<20"``).
        label_units: units overriding those of the file or the defaults.

    The path and format are checked now (:class:`InputError`); the file is read while iterating,
    and an ASE read error becomes an :class:`InputError` naming the file.
    """
    p = existing_file(path)
    fmt = format or ase_format(p)
    if fmt is None:
        raise InputError(f"{p}: not a structure format that ASE reads")
    overrides = dict(label_units or {})
    if fmt in _DATABASE_FORMATS:
        return _iter_database(p, fmt, selection, overrides)
    return _iter_file(p, fmt, index, overrides)


def _iter_file(p: Path, fmt: str, index, overrides: dict) -> Iterator[Molecule]:
    import ase.io

    try:
        images = ase.io.read(str(p), index=index, format=fmt)
    except Exception as exc:  # ASE's readers raise many types; the message names the cause
        raise InputError(f"{p}: ASE could not read it as {fmt}: {_reason(exc)}") from None
    if not isinstance(images, list):
        images = [images]
    if not images:
        raise InputError(f"{p}: no structures ({fmt})")
    single = len(images) == 1
    for i, atoms in enumerate(images):
        src = f"{p}#{i}"
        yield atoms_to_molecule(
            atoms, id=p.stem if single else f"{p.stem}#{i}", source=src, label_units=overrides
        )


def _iter_database(p: Path, fmt: str, selection, overrides: dict) -> Iterator[Molecule]:
    import ase.db

    try:
        db = ase.db.connect(str(p), type=fmt)
        rows = list(db.select(selection))
    except Exception as exc:
        raise InputError(
            f"{p}: ASE could not read it as a {fmt} database: {_reason(exc)}"
        ) from None
    if not rows:
        raise InputError(f"{p}: no rows" + (f" matching {selection!r}" if selection else ""))
    for row in rows:
        info = dict(row.key_value_pairs)  # incl. ASE's "charge" when the row has initial charges
        info.update(row.data)
        src = f"{p}#{row.id}"
        yield atoms_to_molecule(
            row.toatoms(), id=f"{p.stem}#{row.id}", source=src, info=info, label_units=overrides
        )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text[:200]}"


def atoms_to_molecule(
    atoms: Atoms,
    *,
    id: str = "molecule",
    source: str = "",
    info: dict[str, Any] | None = None,
    label_units: dict[str, str] | None = None,
) -> Molecule:
    """One ASE ``Atoms`` as a :class:`Molecule` (rules in the module docstring).

    ``id`` is used when ``info`` has no ``id`` / ``name``; ``info`` defaults to ``atoms.info``.
    """
    from rhoml.io.xyz import _integer, _spin_to_multiplicity, _unit_for

    where = f"{source or id}: "
    info = dict(atoms.info if info is None else info)
    overrides = dict(label_units or {})
    labels: dict[str, Any] = {}
    units: dict[str, str] = {}
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", None) or {}
    for key, value in results.items():
        value = _plain(value)
        if value is not None:
            labels[key] = value
            units[key] = overrides.get(key, ASE_RESULT_UNITS.get(key, "unknown"))

    key_of = {k.lower(): k for k in reversed(list(info))}  # first spelling of each key wins
    id_key = next((key_of[k] for k in ("id", "name") if isinstance(info.get(key_of.get(k)), str)
                   or isinstance(info.get(key_of.get(k)), int)), None)  # fmt: skip
    charge = 0
    if "charge" in key_of:
        charge = _integer(_plain(info[key_of["charge"]]), f"{where}charge=")
    multiplicity = None
    if mult_key := key_of.get("multiplicity") or key_of.get("mult"):
        multiplicity = _integer(_plain(info[mult_key]), f"{where}{mult_key}=")
    elif "spin" in key_of:
        multiplicity = _spin_to_multiplicity(_plain(info[key_of["spin"]]), where)
    explicit: dict[str, str] = {}
    for key, value in info.items():
        low = key.lower()
        if key == id_key or low in ("charge", "multiplicity", "mult", "spin"):
            continue
        if low.endswith("_unit") and len(key) > 5 and isinstance(value, str):
            explicit[key[:-5]] = value
        elif key not in labels:
            value = _plain(value)
            if value is not None:
                labels[key] = value
    for key, value in labels.items():
        if key not in units:
            per_atom = isinstance(value, np.ndarray) and value.shape[:1] == (len(atoms),)
            units[key] = _unit_for(key, value, per_atom, explicit, overrides, "eV", "eV/angstrom")
        elif key in explicit and key not in overrides:
            units[key] = explicit[key]

    if atoms.pbc.any():
        labels["cell"], units["cell"] = np.array(atoms.cell.array, dtype=float), "angstrom"
        labels["pbc"], units["pbc"] = np.array(atoms.pbc, dtype=bool), "dimensionless"
    tags = atoms.get_tags()
    groups = np.asarray(tags, dtype=np.int64) if np.any(tags != 0) else None
    numbers = atoms.get_atomic_numbers()
    if multiplicity is None:
        multiplicity = default_multiplicity(numbers, charge)
    return Molecule(
        numbers, atoms.get_positions(), charge=charge, multiplicity=multiplicity,
        id=str(info[id_key]) if id_key else id, labels=labels, label_units=units, groups=groups,
        source=source,
    )  # fmt: skip


def _plain(value: Any) -> Any:
    """A label value: Python scalars and strings, NumPy arrays; None for anything else."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        arr = np.asarray(value)
        return arr if arr.dtype.kind in "biufU" else None
    return None


# -- writing --------------------------------------------------------------------------------
def molecules_to_atoms(molecules: Molecule | Iterable[Molecule]) -> list[Atoms]:
    """Molecules as ASE ``Atoms`` (positions in Å).

    ``info`` gets ``id``, ``charge``, ``multiplicity`` and every label with its unit
    as ``<key>_unit``; labels ``energy`` / ``free_energy`` in an energy unit and ``forces``
    (n, 3) in a force unit go onto a single-point calculator instead, converted to eV and eV/Å;
    groups become tags.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    mols = [molecules] if isinstance(molecules, Molecule) else list(molecules)
    out = []
    for mol in mols:
        atoms = Atoms(numbers=mol.numbers, positions=mol.positions)
        if mol.groups is not None:
            atoms.set_tags(mol.groups)
        info: dict[str, Any] = {
            "id": mol.id, "charge": mol.charge, "multiplicity": mol.multiplicity,
        }  # fmt: skip
        results: dict[str, Any] = {}
        for key, value in mol.labels.items():
            unit = mol.label_units.get(key)
            target = _calculator_unit(key, value, unit, mol.n_atoms)
            if target is not None:
                results[key] = convert(np.asarray(value, dtype=float), unit, target)
                if results[key].ndim == 0:
                    results[key] = float(results[key])
                continue
            info[key] = value
            if unit is not None:
                info[f"{key}_unit"] = unit
        atoms.info.update(info)
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        out.append(atoms)
    return out


def _calculator_unit(key: str, value: Any, unit: str | None, n_atoms: int) -> str | None:
    """ASE's unit for a label that goes onto the calculator, else None."""
    if key in ("energy", "free_energy") and np.ndim(value) == 0:
        target = "eV"
    elif key == "forces" and np.shape(value) == (n_atoms, 3):
        target = "eV/angstrom"
    else:
        return None
    try:
        convert(1.0, unit or "", target)
    except UnitError:
        return None
    return target


def write_ase(path: StrPath, molecules: Molecule | Iterable[Molecule], *, format: str | None = None,
              append: bool = False) -> None:  # fmt: skip
    """Write molecules with ASE (:func:`molecules_to_atoms`): ``ase.io.write`` for files, one
    row per molecule for databases (``.db``, ``.json``), with the scalar labels as key-value
    pairs where ASE allows the key and the rest (arrays, units of reserved keys) as row data."""
    import ase.io

    p = Path(path)
    images = molecules_to_atoms(molecules)
    fmt = format or (p.suffix.lower().lstrip(".") if p.suffix else None)
    if fmt in _DATABASE_FORMATS:
        import ase.db

        if p.exists() and not append:
            p.unlink()
        with ase.db.connect(str(p), type=fmt) as db:
            for atoms in images:
                pairs, data = _split_row(atoms.info)
                db.write(atoms, key_value_pairs=pairs, data=data)
        return
    ase.io.write(str(p), images, format=format, append=append)


def _split_row(info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``info`` as database key-value pairs (what ASE accepts there) and row data (the rest)."""
    from ase.db.core import check

    pairs: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in info.items():
        value = _plain(value)
        # a "charge" key reads back as ASE's own charge column (the sum of initial charges)
        if key == "charge" or isinstance(value, float) and not math.isfinite(value):
            data[key] = value
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # keys that read as chemical formulas
                check({key: value})
        except (ValueError, UserWarning):
            data[key] = value
        else:
            pairs[key] = value
    return pairs, data
