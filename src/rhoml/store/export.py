"""Export a store's records with their properties and units: CSV, extended XYZ or an ASE
database.

One row (CSV) or frame (extxyz, ASE db) per record, i.e. per molecule and record key; with
``method`` one per molecule for that key. A molecule without any record gets one row with status
``none``. Each row keeps the molecule's source id (``source_id``: QM9 index ``qm9_000001``, PDB
code, ``<file>#<frame>``...), its store index and source, the record key (``method``), engine,
level of theory, status and failure reason, the calculation's wall time, the molecule's labels
(prefixed ``label_``) and the record's properties (:data:`rhoml.store.schema.PROPERTIES`):
energies, dipole, forces, HOMO/LUMO...

Units. CSV: in the header, ``energy [hartree]``; vectors and per-atom arrays are one cell of
space-separated numbers (row-major); an empty cell is an absent value. extxyz and ASE db: in the
key names (``energy_hartree``, ``dipole_debye``, ``forces_hartree_bohr``; ``/`` and ``^`` dropped
from the unit) and, exactly, in a units entry: the ``units`` key of every extxyz comment line
(JSON), the ``units`` entry of the database's metadata; empty texts (no failure reason) are left
out. Records with an energy also carry ASE's own convention, read by
``atoms.get_potential_energy()`` / ``get_forces()``: energy in eV and forces in eV/Å, converted
with :mod:`rhoml.units`. In an ASE database scalars are key-value pairs and arrays go to
``row.data``, as do texts ASE refuses as key-value pairs (texts that read as numbers, such as
the PDB code ``1e66``, and ASE's reserved names such as ``formula``); ``source_id`` is always in
``row.data``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import InputError
from rhoml.molecule import Molecule
from rhoml.store import schema
from rhoml.units import convert

FORMATS = ("csv", "extxyz", "ase-db")
NO_RECORD = "none"  # status of a molecule without a record


@dataclass
class ExportRow:
    """One exported record: the molecule and its named values, each with a unit."""

    index: int
    molecule: Molecule
    values: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (value, unit)
    per_atom: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)

    def energy_forces(self) -> tuple[float | None, np.ndarray | None]:
        """Energy (eV) and forces (eV/Å) of the record for ASE's calculator convention."""
        e = self.values.get(schema.ENERGY)
        f = self.per_atom.get(schema.FORCES)
        energy = None if e is None else float(convert(e[0], e[1], "eV"))
        forces = None if f is None else convert(f[0], f[1], "eV/angstrom")
        return energy, forces


def _text(value) -> str:
    return "" if value is None else str(value)


def _one_line(text: str) -> str:
    """Line breaks become spaces (a text is one line in every format)."""
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _split(name: str, value, unit: str, n_atoms: int, row: ExportRow) -> None:
    if value is None:
        return
    if isinstance(value, str):
        row.values[name] = (_one_line(value), unit)
        return
    if isinstance(value, bool | np.bool_):
        row.values[name] = (bool(value), unit)
        return
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        row.values[name] = (str(value), "text")
    elif arr.ndim == 0:
        row.values[name] = (arr.item(), unit)
    elif (arr.ndim >= 2 and arr.shape[0] == n_atoms) or _per_atom_property(name):
        row.per_atom[name] = (arr if arr.ndim <= 2 else arr.reshape(n_atoms, -1), unit)
    else:
        row.values[name] = (arr, unit)


def _per_atom_property(name: str) -> bool:
    f = schema.PROPERTIES.get(name)
    return f is not None and f.dims[:1] == ("n_atoms",)


def export_rows(store, method: str | None = None) -> Iterator[ExportRow]:
    """The rows of an open :class:`~rhoml.store.sqlite_store.Store` (see the module doc)."""
    records: dict[int, list[dict]] = {}
    for rec in store.records(method):
        records.setdefault(rec["molecule"], []).append(rec)
    for idx in store.indices():
        mol = store.molecule(idx)
        recs = records.get(idx) or [None]
        for rec in recs:
            row = ExportRow(idx, mol)
            v = row.values
            v["store_index"] = (idx, "dimensionless")
            v["source_id"] = (mol.id, "text")
            v["source"] = (mol.source, "text")
            v["formula"] = (_formula(mol), "text")
            v["n_atoms"] = (mol.n_atoms, "dimensionless")
            v["charge"] = (mol.charge, "e")
            v["multiplicity"] = (mol.multiplicity, "dimensionless")
            v["method"] = (method if rec is None and method else _text(rec and rec["method"]),
                           "text")  # fmt: skip
            v["engine"] = (_text(rec and rec["engine"]), "text")
            v["level"] = (_text(rec and rec["level"]), "text")
            v["status"] = (rec["status"] if rec else NO_RECORD, "text")
            v["reason"] = (_one_line(_text(rec and rec["reason"])), "text")
            if rec is not None and rec["seconds"] is not None:
                v["compute_seconds"] = (float(rec["seconds"]), "s")
            for key, value in mol.labels.items():
                unit = mol.label_units.get(key, "unknown")
                _split(f"label_{key}", value, unit, mol.n_atoms, row)
            if rec is not None:
                units = rec["property_units"]
                for key, value in rec["properties"].items():
                    _split(key, value, units.get(key, "unknown"), mol.n_atoms, row)
            yield row


def _formula(mol: Molecule) -> str:
    """Hill formula: C, then H, then the other elements alphabetically (all alphabetical
    without carbon)."""
    from collections import Counter

    counts = Counter(mol.symbols)
    first = ["C", "H"] if "C" in counts else []
    order = [s for s in first if s in counts] + sorted(s for s in counts if s not in first)
    return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in order)


def unit_slug(unit: str) -> str:
    """The unit as a key suffix: ``hartree/bohr`` → ``hartree_bohr``, ``e/bohr^3`` →
    ``e_bohr3``; empty for ``dimensionless`` and ``text``."""
    if unit in ("dimensionless", "text"):
        return ""
    return re.sub(r"[^A-Za-z0-9]+", "_", unit.replace("^", "")).strip("_")


def key_name(name: str, unit: str) -> str:
    """Key of a value in extxyz / ASE db: ``name`` + ``_`` + :func:`unit_slug` (when any)."""
    slug = unit_slug(unit)
    return f"{name}_{slug}" if slug else name


def _header(name: str, unit: str) -> str:
    return name if unit in ("dimensionless", "text") else f"{name} [{unit}]"


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    a = np.asarray(value)
    if a.ndim == 0:
        return repr(float(a)) if a.dtype.kind == "f" else str(a.item())
    return " ".join(repr(float(x)) for x in a.ravel())


def write_csv(rows: list[ExportRow], out: Path) -> None:
    """CSV, header ``name [unit]`` (a quantity found in two units gets two columns); arrays
    are one cell of space-separated numbers, row-major."""
    columns: dict[str, None] = {}
    for row in rows:
        for name, (_, unit) in [*row.values.items(), *row.per_atom.items()]:
            columns.setdefault(_header(name, unit))
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            cells = {_header(n, u): v for n, (v, u) in [*row.values.items(), *row.per_atom.items()]}
            w.writerow([_cell(cells[c]) if c in cells else "" for c in columns])


_TYPED = re.compile(r"^([+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?|[TtFf]|true|false|True|False)$")


def _ase_string(text: str) -> str:
    """A string ASE's extxyz reader returns unchanged: ASE reads bare tokens that look like
    numbers or booleans as such, so those are written in ASE's ``_JSON`` form."""
    return "_JSON " + json.dumps(text) if _TYPED.match(text.strip()) else text


def _atoms(row: ExportRow, *, extxyz: bool):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    mol = row.molecule
    atoms = Atoms(numbers=mol.numbers, positions=mol.positions)
    info, data, units = {}, {}, {}
    for name, (value, unit) in row.values.items():
        key = key_name(name, unit)
        if isinstance(value, str) and not value:
            continue  # ASE's extxyz parser misreads empty values; absent means empty
        units[key] = unit
        if isinstance(value, str):
            info[key] = _ase_string(value) if extxyz else value
        elif isinstance(value, np.ndarray):
            (info if extxyz else data)[key] = value
        else:
            info[key] = value
    for name, (arr, unit) in row.per_atom.items():
        key = key_name(name, unit)
        units[key] = unit
        if extxyz:
            atoms.arrays[key] = np.asarray(arr, dtype=float if arr.dtype.kind == "f" else None)
        else:
            data[key] = arr
    energy, forces = row.energy_forces()
    if energy is not None:
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        units["energy"] = "eV"
        if forces is not None:
            units["forces"] = "eV/angstrom"
    return atoms, info, data, units


def _extxyz_frame(atoms, info: dict, units: dict) -> str:
    """One extended-XYZ frame with every number at full precision (``repr``): ASE's own writer
    rounds per-atom columns to 8 decimals. The calculator's energy and forces are written as
    ``energy`` and a ``forces`` column, which ``ase.io.read`` turns back into its calculator."""
    from ase.io.extxyz import key_val_dict_to_str

    info = dict(info)
    columns = [("species", "S", [[s] for s in atoms.get_chemical_symbols()]),
               ("pos", "R", atoms.positions)]  # fmt: skip
    for key, arr in atoms.arrays.items():
        if key not in ("numbers", "positions"):
            columns.append((key, "I" if arr.dtype.kind in "iu" else "R", arr))
    if atoms.calc is not None:
        info["energy"] = atoms.calc.results["energy"]
        if "forces" in atoms.calc.results:
            columns.append(("forces", "R", atoms.calc.results["forces"]))
    info["units"] = json.dumps(units, sort_keys=True)
    n = len(atoms)
    props = []
    cells: list[list[str]] = [[] for _ in range(n)]
    for name, typ, arr in columns:
        width = 1 if typ == "S" else int(np.prod(np.shape(arr)[1:], dtype=int))
        props.append(f"{name}:{typ}:{width}")
        for i in range(n):
            vals = np.ravel(arr[i]) if typ != "S" else arr[i]
            cells[i].extend(str(v) if typ == "S" else str(int(v)) if typ == "I"
                            else repr(float(v)) for v in vals)  # fmt: skip
    comment = f'Properties={":".join(props)} {key_val_dict_to_str(info)} pbc="F F F"'
    return "\n".join([str(n), comment, *(" ".join(c) for c in cells)]) + "\n"


def write_extxyz(rows: list[ExportRow], out: Path) -> None:
    """Extended XYZ: one frame per row, values in the comment line, per-atom arrays as
    columns, ``units`` (JSON) in every comment line."""
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            atoms, info, _, units = _atoms(row, extxyz=True)
            fh.write(_extxyz_frame(atoms, info, units))


def write_ase_db(rows: list[ExportRow], out: Path, meta: dict) -> None:
    """An ASE database (SQLite): one row per record, scalars as key-value pairs, arrays in
    ``data``, and ``units`` in the database metadata."""
    import ase.db
    from ase.db.core import reserved_keys

    all_units: dict[str, str] = {}
    with ase.db.connect(out, type="db", append=False) as db:
        for row in rows:
            atoms, kvp, data, units = _atoms(row, extxyz=False)
            all_units.update(units)
            data["source_id"] = row.molecule.id
            for k, v in list(kvp.items()):
                if k in reserved_keys or (isinstance(v, str) and _TYPED.match(v.strip())):
                    data[k] = kvp.pop(k)  # ASE refuses these as key-value pairs
                elif isinstance(v, np.bool_):
                    kvp[k] = bool(v)
            db.write(atoms, key_value_pairs=kvp, data=data)
    db = ase.db.connect(out, type="db")
    db.metadata = {**meta, "units": all_units}


def export_store(store_path, out, fmt: str, *, method: str | None = None) -> int:
    """Write the records of the store at ``store_path`` to ``out`` as ``fmt`` (``csv``,
    ``extxyz`` or ``ase-db``; see the module doc). Returns the number of rows. An existing
    ``out`` is replaced."""
    from rhoml import __version__
    from rhoml.store.sqlite_store import Store

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    with Store.open(store_path, readonly=True) as st:
        if method is not None and method not in st.methods():
            raise InputError(
                f"{store_path}: no records of {method!r} (has {', '.join(st.methods()) or 'none'})"
            )
        rows = list(export_rows(st, method))
    if not rows:
        raise InputError(f"{store_path}: the store holds no molecules")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        if fmt == "csv":
            write_csv(rows, tmp)
        elif fmt == "extxyz":
            write_extxyz(rows, tmp)
        else:
            meta = {"store": str(store_path), "rhoml_version": __version__, "method": method}
            write_ase_db(rows, tmp, meta)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)
