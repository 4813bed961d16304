"""PDB files through gemmi: the one PDB reader behind :func:`read_pdb`, PDBbind complexes
(:mod:`rhoml.io.pdbbind`) and pocket preparation (:mod:`rhoml.io.pocket`).

:func:`read_pdb_structure` returns a cleaned :class:`gemmi.Structure` (residues, atom names,
elements, formal charges); :func:`parse_pdb` flattens it to arrays; :func:`read_pdb` makes one
:class:`~rhoml.molecule.Molecule` of it. The rules, the same everywhere:

* the first model only;
* of alternate locations, per residue the conformer with the highest mean occupancy (the first
  one listed on a tie); atoms without an alternate location are always kept;
* hydrogens kept (``keep_hydrogens=False`` drops H and D); waters dropped
  (:data:`WATER_RESIDUES` or what gemmi calls water) unless ``keep_waters=True``;
* elements from columns 77-78, else gemmi's guess from the atom name; formal charges from
  columns 79-80 (``2+``, ``1-``, also ``+1``). PDB files rarely carry formal charges: if no kept
  atom has one, :func:`read_pdb` sets label ``charge_assumed`` True (charge 0, multiplicity by
  electron parity).

gemmi accepts malformed records silently (a non-numeric coordinate reads as 0, an unknown
element as ``X``), so the ATOM/HETATM records of the first model are checked first; what is
refused raises :class:`~rhoml.errors.InputError` (or :class:`~rhoml.errors.UnknownElementError`)
with one line naming the file and the line: records shorter than the coordinates (54 columns),
records ending inside the occupancy or B-factor field, non-numeric or non-finite coordinates,
unknown elements, bad charge fields, and a file that ends inside a record (last line without a
line end and no ``END`` record: a truncated download or copy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rhoml.elements import atomic_number
from rhoml.errors import InputError, UnknownElementError
from rhoml.io import StrPath, default_multiplicity, existing_file
from rhoml.molecule import Molecule

if TYPE_CHECKING:
    import gemmi

WATER_RESIDUES = frozenset({"HOH", "WAT", "H2O", "DOD", "D2O", "TIP", "TIP3", "TIP4", "SOL", "SPC"})
_ISOTOPES = frozenset({"D", "T"})
_CHARGE = re.compile(r"\d[+-]|[+-]\d|[+-]")
_NO_ALTLOC = "\x00"


@dataclass
class PDBAtoms:
    """Atoms of a PDB file as arrays (see :func:`parse_pdb`)."""

    numbers: np.ndarray  # (n,) int atomic numbers
    positions: np.ndarray  # (n, 3) float, Å
    formal_charges: np.ndarray  # (n,) int, e
    has_charges: bool  # whether any kept atom carries a formal charge in columns 79-80
    residue_names: list[str]


def read_pdb(
    path: StrPath, *, keep_waters: bool = False, keep_hydrogens: bool = True
) -> Iterator[Molecule]:
    """The first model of a PDB file as one :class:`Molecule` (an iterator of one).

    The path is checked now, the content when the iterator is advanced.
    """
    p = existing_file(path)

    def gen() -> Iterator[Molecule]:
        atoms = parse_pdb(p, keep_waters=keep_waters, keep_hydrogens=keep_hydrogens)
        charge = int(atoms.formal_charges.sum())
        yield Molecule(
            atoms.numbers, atoms.positions, charge=charge,
            multiplicity=default_multiplicity(atoms.numbers, charge), id=p.stem,
            labels={"charge_assumed": not atoms.has_charges},
            label_units={"charge_assumed": "dimensionless"}, source=str(p),
        )  # fmt: skip

    return gen()


def parse_pdb(path: StrPath, *, keep_waters: bool = False, keep_hydrogens: bool = True) -> PDBAtoms:
    """Atoms of :func:`read_pdb_structure` in file order, as arrays."""
    st = read_pdb_structure(path, keep_waters=keep_waters, keep_hydrogens=keep_hydrogens)
    numbers: list[int] = []
    positions: list[tuple[float, float, float]] = []
    charges: list[int] = []
    resnames: list[str] = []
    for chain in st[0]:
        for res in chain:
            for a in res:
                numbers.append(a.element.atomic_number)
                positions.append((a.pos.x, a.pos.y, a.pos.z))
                charges.append(a.charge)
                resnames.append(res.name)
    q = np.array(charges, dtype=np.int64)
    return PDBAtoms(
        np.array(numbers, dtype=np.int64), np.array(positions, dtype=np.float64).reshape(-1, 3),
        q, bool(np.any(q != 0)), resnames,
    )  # fmt: skip


def read_pdb_structure(
    path: StrPath, *, keep_waters: bool = False, keep_hydrogens: bool = True
) -> gemmi.Structure:
    """A checked PDB file as a gemmi structure of one model, cleaned by the module's rules.

    Raises:
        InputError: missing, empty, malformed or truncated file, or no atoms left.
        UnknownElementError: an element column or atom name that names no element.
    """
    import gemmi

    p = existing_file(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise InputError(f"{p}: empty file")
    guessed, restarts = _check_records(p, text)
    if restarts:  # a TER before each residue that restarts a chain, so gemmi keeps it apart
        lines = text.splitlines(keepends=True)
        for i in reversed(restarts):
            lines.insert(i, "TER\n")
        text = "".join(lines)
    try:
        st = gemmi.read_pdb_string(text, split_chain_on_ter=True)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{p}: gemmi cannot read the file: {' '.join(str(exc).split())}") from None
    if len(st) == 0:
        raise InputError(f"{p}: no ATOM/HETATM records")
    while len(st) > 1:
        del st[len(st) - 1]
    model = st[0]
    _keep_best_altlocs(model)
    for chain in model:
        for i in reversed(range(len(chain))):
            res = chain[i]
            if not keep_waters and (res.name in WATER_RESIDUES or res.is_water()):
                del chain[i]
            elif not keep_hydrogens:
                for k in reversed(range(len(res))):
                    if res[k].is_hydrogen():
                        del res[k]
                if len(res) == 0:
                    del chain[i]
    st.remove_empty_chains()
    n_atoms = 0
    for chain in model:
        for res in chain:
            for a in res:
                n_atoms += 1
                if a.element.atomic_number == 0:  # element columns blank, name gives none
                    line = guessed.get(str(a.serial))
                    where = f"line {line}: " if line else f"atom {a.serial}: "
                    raise UnknownElementError(
                        f"{p}: {where}no element columns and atom name {a.name!r} names no element"
                    )
    if n_atoms == 0:
        raise InputError(f"{p}: no ATOM/HETATM records (after dropping waters)")
    return st


def _keep_best_altlocs(model: gemmi.Model) -> None:
    """Per residue, keep the atoms without altloc and those of the highest-occupancy conformer."""
    occupancy: dict[tuple, dict[str, list[float]]] = {}

    def key(chain, res) -> tuple:
        return chain.name, res.seqid.num, res.seqid.icode

    for chain in model:
        for res in chain:
            for a in res:
                if a.altloc != _NO_ALTLOC:
                    occupancy.setdefault(key(chain, res), {}).setdefault(a.altloc, []).append(a.occ)
    if not occupancy:
        return
    # max() keeps the first of equal values: ties go to the conformer listed first
    best = {k: max(conf, key=lambda c: float(np.mean(conf[c]))) for k, conf in occupancy.items()}
    for chain in model:
        for i in reversed(range(len(chain))):
            res = chain[i]
            keep = best.get(key(chain, res))
            if keep is None:
                continue
            for k in reversed(range(len(res))):
                if res[k].altloc not in (_NO_ALTLOC, keep):
                    del res[k]
            if len(res) == 0:  # a residue-level alternative (microheterogeneity) not chosen
                del chain[i]


def _check_records(p: Path, text: str) -> tuple[dict[str, int], list[int]]:
    """Check the ATOM/HETATM records of the first model (see the module docstring).

    Returns ``{serial: line number}`` of the records without element columns (for messages
    about the element gemmi guesses from the atom name), and the 0-based indices of the lines
    where a residue seen before reappears after other residues, with no TER in between, with an
    atom name it already has: a second chain with the same chain ID (e.g. a homodimer with blank
    chain IDs), which gemmi would otherwise merge into the first one residue by residue. (A
    residue that reappears with new atom names, e.g. hydrogens listed after all heavy atoms as
    RDKit writes them, is one residue.)
    """
    guessed: dict[str, int] = {}
    restarts: list[int] = []
    seen: dict[str, set[str]] = {}
    last = ""
    known_fields: set[str] = {"  ", "    "}  # element + charge columns already checked
    lines = text.splitlines(keepends=True)
    has_end = False
    in_first_model = True
    for n, raw in enumerate(lines, 1):
        rec = raw[:6]
        if rec not in ("ATOM  ", "HETATM"):
            if rec.startswith("END"):
                has_end = True
                in_first_model = in_first_model and not rec.startswith("ENDMDL")
            elif rec.startswith("TER"):
                seen, last = {}, ""
            continue
        if not in_first_model:
            continue
        line = raw.rstrip("\r\n")
        residue = line[17:27]  # name, chain, sequence number, insertion code
        atom = line[12:17]  # atom name and alternate location
        names = seen.setdefault(residue, set())
        if residue != last and atom in names:
            restarts.append(n - 1)
            seen = {residue: set()}
            names = seen[residue]
        names.add(atom)
        last = residue
        try:  # the common, well-formed record; anything else is looked at closely below
            if not math.isfinite(float(line[30:38]) + float(line[38:46]) + float(line[46:54])):
                raise ValueError
            if len(line) >= 66:
                float(line[54:60]) + float(line[60:66])
            elif len(line) > 54:
                raise ValueError
        except ValueError:
            _check_numbers(line, f"{p}: line {n}: ")
        tail = line[76:80]
        if tail not in known_fields:
            _check_element_charge(tail, f"{p}: line {n}: ")
            known_fields.add(tail)
        if not tail[:2].strip():
            guessed.setdefault(line[6:11].strip(), n)
    if lines and not lines[-1].endswith(("\n", "\r")) and lines[-1].strip() and not has_end:
        raise InputError(
            f"{p}: line {len(lines)}: file ends inside a record (no line end and no END "
            "record; truncated?)"
        )
    return guessed, restarts


def _check_numbers(line: str, where: str) -> None:
    """Length, coordinates, occupancy and B-factor of one ATOM/HETATM record."""
    rec = line[:6].strip()
    if len(line) < 54:
        raise InputError(
            f"{where}{rec} record too short ({len(line)} columns, need 54; truncated?)"
        )
    for a, b in ((30, 38), (38, 46), (46, 54)):
        try:
            v = float(line[a:b])
        except ValueError:
            raise InputError(f"{where}non-numeric coordinate {line[a:b].strip()!r}") from None
        if not math.isfinite(v):
            raise InputError(f"{where}non-finite coordinate {line[a:b].strip()!r}")
    for name, a, b in (("occupancy", 54, 60), ("B-factor", 60, 66)):
        field = line[a:b]
        if 0 < len(field) < b - a or (field.strip() and not _is_float(field)):
            raise InputError(
                f"{where}{rec} record ends inside or has a bad {name} field {field.strip()!r} "
                "(truncated?)"
            )


def _check_element_charge(tail: str, where: str) -> None:
    """Element (columns 77-78) and formal charge (columns 79-80) of one record."""
    element = tail[:2].strip()
    if element and element.upper() not in _ISOTOPES:
        atomic_number(element, where)
    charge = tail[2:].strip()
    if charge and not _CHARGE.fullmatch(charge):
        raise InputError(f"{where}bad formal charge {charge!r} in columns 79-80")


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
