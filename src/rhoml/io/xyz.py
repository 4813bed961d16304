"""XYZ and extended XYZ: multi-frame reading and writing.

A frame is an atom count line, a comment line and one line per atom (``symbol x y z`` in Å; an
atomic number is accepted in place of the symbol). If the comment line is a list of
``key=value`` pairs (extended XYZ, as written by ASE), these keys are understood:

* ``charge=`` total charge (integer);
* ``multiplicity=`` / ``mult=`` 2S+1; ``spin=`` the number of unpaired electrons 2S (the PySCF
  convention; a half-integer value is read as S); without any of them the lowest multiplicity
  consistent with the electron count is used;
* ``id=`` / ``name=`` the molecule id;
* ``Properties=species:S:1:pos:R:3:forces:R:3...`` per-atom columns (``Z:I:1`` may replace
  ``species``; an integer column ``group``/``groups`` becomes :attr:`Molecule.groups`; other
  columns become per-atom labels);
* ``<key>_unit=<unit>`` the unit of label ``key``;
* any other key becomes a label. Numbers and quoted lists of numbers become scalars / arrays,
  ``T``/``F`` booleans, anything else a string (unit ``"text"``).

Units where the file gives none: energy-like keys (``energy``, ``free_energy``, ``*_energy``...)
take ``energy_unit`` (default ``"eV"``, the ASE convention), a per-atom ``forces`` column takes
``force_unit`` (default ``"eV/angstrom"``), other numeric labels ``"unknown"``;
``label_units={...}`` overrides all of these. :func:`write_xyz` writes every unit explicitly, so
files written by rhoml read back with the same labels and units.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from rhoml.elements import atomic_number
from rhoml.errors import InputError
from rhoml.io import StrPath, default_multiplicity, existing_file
from rhoml.molecule import Molecule

ENERGY_KEY = re.compile(
    r"^(energy|free_energy|total_energy|e|etot|e_tot|.+_energy|energy_.+)$", re.I
)
FORCE_KEY = re.compile(r"^(forces?|.+_forces?|forces?_.+)$", re.I)

# key[=value] where value is "quoted", {braced} or a bare token
_TOKEN = re.compile(
    r'\s*(?P<key>"[^"]*"|[^\s="{}]+)'
    r'(?:\s*=\s*(?P<val>"(?:[^"\\]|\\.)*"|\{[^}]*\}|[^\s"{}]*))?'
)
_TRUE = {"t", "true"}
_FALSE = {"f", "false"}


# -- reading ----------------------------------------------------------------------------------
def read_xyz(
    path: StrPath,
    *,
    energy_unit: str = "eV",
    force_unit: str = "eV/angstrom",
    label_units: dict[str, str] | None = None,
    charge: int | None = None,
    multiplicity: int | None = None,
) -> Iterator[Molecule]:
    """Iterate over the frames of an XYZ / extended XYZ file (lazily).

    ``charge`` / ``multiplicity`` given here override (or supply) the values of every frame.
    """
    p = existing_file(path)
    return _iter_xyz(p, energy_unit, force_unit, dict(label_units or {}), charge, multiplicity)


class _Lines:
    """Line iterator with 1-based line numbers and one line of look-ahead."""

    def __init__(self, fh: IO[str]):
        self._fh = fh
        self.lineno = 0
        self._peeked: str | None = None

    def next(self) -> str | None:
        if self._peeked is not None:
            line, self._peeked = self._peeked, None
            self.lineno += 1
            return line
        line = self._fh.readline()
        if not line:
            return None
        self.lineno += 1
        return line.rstrip("\r\n")

    def skip_blank(self) -> bool:
        """Skip blank lines; True if a non-blank line follows."""
        while True:
            if self._peeked is None:
                line = self._fh.readline()
                if not line:
                    return False
                self._peeked = line.rstrip("\r\n")
            if self._peeked.strip():
                return True
            self._peeked = None
            self.lineno += 1


def _iter_xyz(p: Path, energy_unit, force_unit, label_units, charge, multiplicity):
    with open(p, encoding="utf-8", errors="replace") as fh:
        lines = _Lines(fh)
        if not lines.skip_blank():
            raise InputError(f"{p}: empty file")
        record = 0
        while True:
            mol, explicit_id = _read_frame(
                lines, p, record, energy_unit, force_unit, label_units, charge, multiplicity
            )
            more = lines.skip_blank()
            if not explicit_id:
                mol.id = p.stem if (record == 0 and not more) else f"{p.stem}#{record}"
            yield mol
            if not more:
                return
            record += 1


def _read_frame(lines: _Lines, p, record, energy_unit, force_unit, label_units, charge, mult):
    src = f"{p}#{record}"
    head = lines.next()
    assert head is not None  # guaranteed by skip_blank()
    fields = head.split()
    try:
        n_atoms = int(fields[0])
        if len(fields) != 1:
            raise ValueError
    except ValueError:
        raise InputError(
            f"{src}: line {lines.lineno}: expected the atom count, got {head.strip()!r}"
        ) from None
    if n_atoms < 1:
        raise InputError(f"{src}: line {lines.lineno}: atom count {n_atoms} (must be >= 1)")
    comment = lines.next()
    if comment is None:
        raise InputError(f"{src}: line {lines.lineno}: file ends before the comment line")
    info = _parse_comment(comment)
    where_comment = f"{src}: line {lines.lineno}: "

    columns = [("species", "S", 1), ("pos", "R", 3)]
    if info is not None and "properties" in {k.lower() for k in info}:
        key = next(k for k in info if k.lower() == "properties")
        columns = _parse_properties(str(info[key]), where_comment)
    n_fields = sum(c[2] for c in columns)

    rows: list[list[str]] = []
    first_atom_line = lines.lineno + 1
    for k in range(n_atoms):
        line = lines.next()
        if line is None:
            raise InputError(
                f"{src}: line {lines.lineno}: file ends after {k} of {n_atoms} atoms "
                f"(atom count on line {first_atom_line - 2})"
            )
        parts = line.split()
        if len(parts) < n_fields:
            raise InputError(
                f"{src}: line {lines.lineno}: expected {n_fields} fields, got {len(parts)}"
            )
        rows.append(parts)

    numbers = None
    positions = None
    groups = None
    per_atom: dict[str, np.ndarray] = {}
    col = 0
    for name, typ, width in columns:
        cells = [r[col : col + width] for r in rows]
        if name == "species" or (name.lower() == "z" and typ == "I" and numbers is None):
            numbers = np.array(
                [
                    atomic_number(c[0], f"{src}: line {first_atom_line + i}: ")
                    for i, c in enumerate(cells)
                ]
            )
        else:
            values = _column(cells, typ, name, src, first_atom_line)
            if name == "pos":
                positions = values.reshape(n_atoms, 3)
            elif name.lower() in ("group", "groups") and typ == "I":
                groups = values.reshape(n_atoms)
            else:
                per_atom[name] = values.reshape(n_atoms, width) if width > 1 else values
        col += width
    if numbers is None:
        raise InputError(f"{where_comment}Properties has no species (or Z) column")
    if positions is None:
        raise InputError(f"{where_comment}Properties has no pos column")

    labels: dict[str, Any] = {}
    units: dict[str, str] = {}
    explicit_units: dict[str, str] = {}
    q = 0 if charge is None else int(charge)
    m = None if mult is None else int(mult)
    info = info or {}
    id_key = next((k for k in info if k.lower() == "id"), None) or next(
        (k for k in info if k.lower() == "name"), None
    )
    mol_id = None if id_key is None else str(info[id_key])
    for key, value in info.items():
        low = key.lower()
        if key == id_key or low == "properties":
            continue
        if low.endswith("_unit") and len(key) > 5 and isinstance(value, str):
            explicit_units[key[:-5]] = value
        elif low == "charge":
            if charge is None:
                q = _integer(value, f"{where_comment}charge=")
        elif low in ("multiplicity", "mult"):
            if mult is None:
                m = _integer(value, f"{where_comment}{key}=")
        elif low == "spin":
            if mult is None:
                m = _spin_to_multiplicity(value, where_comment)
        else:
            labels[key] = value
    labels.update(per_atom)
    for key, value in labels.items():
        units[key] = _unit_for(
            key, value, key in per_atom, explicit_units, label_units, energy_unit, force_unit
        )
    if m is None:
        m = default_multiplicity(numbers, q)
    mol = Molecule(
        numbers, positions, charge=q, multiplicity=m, id=mol_id or src, labels=labels,
        label_units=units, groups=groups, source=src,
    )  # fmt: skip
    return mol, mol_id is not None


def _unit_for(key, value, per_atom, explicit, overrides, energy_unit, force_unit) -> str:
    if key in overrides:
        return overrides[key]
    if key in explicit:
        return explicit[key]
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind in "US"):
        return "text"
    if isinstance(value, bool | np.bool_) or (
        isinstance(value, np.ndarray) and value.dtype == bool
    ):
        return "dimensionless"
    if key.lower() == "lattice":
        return "angstrom"
    if per_atom and FORCE_KEY.match(key):
        return force_unit
    if not per_atom and ENERGY_KEY.match(key):
        return energy_unit
    return "unknown"


def _integer(value, where: str) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if np.isfinite(value) and float(value) == int(value):
            return int(value)
    raise InputError(f"{where}{value!r} is not an integer")


def _spin_to_multiplicity(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise InputError(f"{where}spin={value!r} is not a non-negative number")
    if float(value) == int(value):
        return int(value) + 1  # number of unpaired electrons 2S
    if float(2 * value) == int(2 * value):
        return int(2 * value) + 1  # half-integer: S
    raise InputError(f"{where}spin={value!r} is neither 2S (integer) nor S (half-integer)")


def _column(cells: list[list[str]], typ: str, name: str, src: str, first_line: int) -> np.ndarray:
    if typ == "S":
        return np.array([c if len(c) > 1 else c[0] for c in cells])
    if typ == "L":
        out = []
        for i, c in enumerate(cells):
            row = []
            for s in c:
                if s.lower() not in _TRUE | _FALSE:
                    raise InputError(
                        f"{src}: line {first_line + i}: {name}: expected T or F, got {s!r}"
                    )
                row.append(s.lower() in _TRUE)
            out.append(row)
        return np.array(out, dtype=bool).squeeze(-1) if len(cells[0]) == 1 else np.array(out)
    conv = int if typ == "I" else float
    out = np.empty((len(cells), len(cells[0])), dtype=np.int64 if typ == "I" else np.float64)
    for i, c in enumerate(cells):
        try:
            out[i] = [conv(s) for s in c]
        except ValueError:
            what = "coordinate" if name == "pos" else f"{name} value"
            bad = next(s for s in c if not _convertible(conv, s))
            raise InputError(f"{src}: line {first_line + i}: non-numeric {what} {bad!r}") from None
    if typ == "R" and not np.all(np.isfinite(out)):
        i = int(np.argwhere(~np.isfinite(out))[0, 0])
        what = "coordinate" if name == "pos" else f"{name} value"
        raise InputError(f"{src}: line {first_line + i}: non-finite {what}")
    return out.squeeze(-1) if out.shape[1] == 1 else out


def _convertible(conv, s: str) -> bool:
    try:
        conv(s)
        return True
    except ValueError:
        return False


def _parse_properties(spec: str, where: str) -> list[tuple[str, str, int]]:
    parts = spec.split(":")
    if len(parts) % 3:
        raise InputError(f"{where}Properties={spec!r} is not name:type:count triples")
    cols = []
    for i in range(0, len(parts), 3):
        name, typ, count = parts[i], parts[i + 1].upper(), parts[i + 2]
        if typ not in ("S", "R", "I", "L") or not count.isdigit() or int(count) < 1:
            raise InputError(f"{where}Properties: bad column {name}:{parts[i + 1]}:{count}")
        cols.append((name, typ, int(count)))
    if ("pos", "R", 3) not in cols:
        raise InputError(f"{where}Properties={spec!r} has no pos:R:3 column")
    return cols


def _parse_comment(comment: str) -> dict[str, Any] | None:
    """``key=value`` pairs of an extended XYZ comment line; None for a plain comment."""
    text = comment.strip()
    if "=" not in text:
        return None
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None  # not key=value syntax: a free-text comment that contains '='
        key = m.group("key").strip('"')
        raw = m.group("val")
        out[key] = True if raw is None else _value(raw)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if all(v is True for v in out.values()):
        return None  # no key=value pair at all
    return out


def _value(raw: str) -> Any:
    quoted = len(raw) >= 2 and raw[0] in '"{' and raw[-1] in '"}'
    s = raw[1:-1].replace('\\"', '"') if quoted else raw
    tokens = s.replace(",", " ").split()
    if quoted and len(tokens) > 1:
        for conv in (int, float):
            try:
                return np.array([conv(t) for t in tokens])
            except ValueError:
                pass
        if all(t.lower() in _TRUE | _FALSE for t in tokens):
            return np.array([t.lower() in _TRUE for t in tokens])
        return s
    if s.lower() in _TRUE:
        return True
    if s.lower() in _FALSE:
        return False
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


# -- writing ----------------------------------------------------------------------------------
def format_xyz(mol: Molecule, extended: bool = True) -> str:
    """One frame as text. With ``extended`` the comment line carries id, charge,
    multiplicity, labels and their units, and per-atom labels become columns."""
    n = mol.n_atoms
    lines = [str(n)]
    columns: list[tuple[str, np.ndarray]] = []
    if not extended:
        lines.append(mol.id)
    else:
        info = [
            f"id={_fmt_value(mol.id)}",
            f"charge={mol.charge}",
            f"multiplicity={mol.multiplicity}",
        ]
        props = "species:S:1:pos:R:3"
        for key, value in mol.labels.items():
            if not re.fullmatch(r"[A-Za-z_][\w.\-]*", key):
                raise InputError(f"{mol.source or mol.id}: label {key!r} is not a valid XYZ key")
            arr = np.asarray(value)
            if arr.ndim >= 2 and arr.shape[0] == n and arr.dtype.kind in "biuf":
                arr = arr.reshape(n, -1)
                typ = "L" if arr.dtype == bool else "I" if arr.dtype.kind in "iu" else "R"
                props += f":{key}:{typ}:{arr.shape[1]}"
                columns.append((typ, arr))
            else:
                info.append(f"{key}={_fmt_value(value)}")
            unit = mol.label_units.get(key)
            if unit is not None:
                info.append(f"{key}_unit={_fmt_value(unit)}")
        if mol.groups is not None:
            props += ":group:I:1"
            columns.append(("I", mol.groups.reshape(n, 1)))
        info.append(f"Properties={props}")
        lines.append(" ".join(info))
    for i, (sym, xyz) in enumerate(zip(mol.symbols, mol.positions, strict=True)):
        row = f"{sym:<2s} {xyz[0]:16.10f} {xyz[1]:16.10f} {xyz[2]:16.10f}"
        for typ, arr in columns:
            row += " " + " ".join(_fmt_cell(typ, v) for v in arr[i])
        lines.append(row)
    return "\n".join(lines) + "\n"


def write_xyz(path_or_file: StrPath | IO[str], molecules: Molecule | Iterable[Molecule], *,
              extended: bool = True, append: bool = False) -> None:  # fmt: skip
    """Write one or more molecules as a (multi-frame) XYZ file (see :func:`format_xyz`)."""
    mols = [molecules] if isinstance(molecules, Molecule) else molecules
    if hasattr(path_or_file, "write"):
        for mol in mols:
            path_or_file.write(format_xyz(mol, extended))
        return
    with open(path_or_file, "a" if append else "w", encoding="utf-8") as fh:
        for mol in mols:
            fh.write(format_xyz(mol, extended))


def _fmt_cell(typ: str, v) -> str:
    if typ == "L":
        return "T" if v else "F"
    if typ == "I":
        return str(int(v))
    return repr(float(v))


def _fmt_value(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "T" if value else "F"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, str):
        if value and re.fullmatch(r"[^\s\"{}=]+", value):
            return value
        return '"' + value.replace('"', '\\"') + '"'
    arr = np.asarray(value).reshape(-1)
    if arr.dtype == bool:
        return '"' + " ".join("T" if v else "F" for v in arr) + '"'
    if arr.dtype.kind in "iu":
        return '"' + " ".join(str(int(v)) for v in arr) + '"'
    if arr.dtype.kind == "f":
        return '"' + " ".join(repr(float(v)) for v in arr) + '"'
    return _fmt_value(str(value))
