"""SDF / molfile and MOL2 through RDKit (PDB files: :mod:`rhoml.io.pdb`).

SDF and MOL2 (multi-record, lazy):

* hydrogens are kept (``removeHs=False``); by default molecules are *not* sanitized
  (``sanitize=False``): only elements, coordinates and formal charges are needed, and many
  real files (e.g. PDBbind ligands) fail RDKit's valence checks. ``sanitize=True`` turns such a
  failure into an :class:`InputError` with RDKit's reason;
* ``charge`` = sum of the atoms' formal charges; ``multiplicity`` = radical electrons + 1 if the
  file marks radicals, else the lowest one consistent with the electron count;
* SD data fields (``> <name>``) become labels: numbers as floats (unit ``"unknown"`` unless given
  in ``label_units`` or by a ``<name>_unit`` field), other values as strings (unit ``"text"``);
  the record title, if any, becomes label ``name`` (``"text"``);
* before RDKit sees a record, the V2000 counts line and atom block (or the MOL2 ATOM section) are
  checked, so truncated files, non-numeric coordinates and unknown elements are reported with a
  line number; when RDKit still returns None its logged reason is captured (RDKit's own stderr
  logging is silenced while parsing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.elements import atomic_number
from rhoml.errors import InputError, UnknownElementError
from rhoml.io import StrPath, default_multiplicity, existing_file
from rhoml.molecule import Molecule

_ISOTOPES = {"D": 1, "T": 1}


# -- RDKit plumbing ---------------------------------------------------------------------------
def _rdkit_call(fn: Callable, *args, **kwargs):
    """Call an RDKit parser with its logging silenced; return (result, reason or '')."""
    from rdkit import RDLogger, rdBase

    capture = getattr(rdBase, "CaptureErrorLog", None)
    block = getattr(rdBase, "BlockLogs", None)
    if capture is not None and block is not None:
        with block(), capture() as cap:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # RDKit raises for some malformed input
                result, exc_text = None, str(exc)
            else:
                exc_text = ""
        return result, _reason(cap.messages) or _reason(exc_text)
    RDLogger.DisableLog("rdApp.*")  # older RDKit: silence, no reason available
    try:
        return fn(*args, **kwargs), ""
    except Exception as exc:
        return None, _reason(str(exc))
    finally:
        RDLogger.EnableLog("rdApp.error")
        RDLogger.EnableLog("rdApp.warning")


def _reason(messages: str) -> str:
    """First meaningful line(s) of an RDKit log or exception text."""
    out = []
    for line in str(messages).splitlines():
        line = re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", line).strip()
        if line.startswith(("Violation occurred", "Stacktrace", "Failed Expression")):
            break
        if not line or set(line) <= set("*-") or line.startswith("Post-condition"):
            continue
        if line.startswith(("Pre-condition", "Invariant")):
            continue
        out.append(line)
    return "; ".join(out[:2])


def _with_last(items: Iterable) -> Iterator[tuple[Any, bool]]:
    """Yield (item, is_last) with one item of look-ahead."""
    it = iter(items)
    try:
        prev = next(it)
    except StopIteration:
        return
    for item in it:
        yield prev, False
        prev = item
    yield prev, True


def _convert_label(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _molecule_from_rdkit(rdmol, src: str, mol_id: str, labels: dict, units: dict) -> Molecule:
    if rdmol.GetNumConformers() == 0:
        raise InputError(f"{src}: record has no coordinates")
    atoms = list(rdmol.GetAtoms())
    numbers = np.array([a.GetAtomicNum() for a in atoms], dtype=np.int64)
    if np.any(numbers < 1):
        bad = atoms[int(np.argmin(numbers))].GetSymbol()
        raise UnknownElementError(f"{src}: unknown element {bad!r} (query or dummy atom)")
    positions = np.asarray(rdmol.GetConformer().GetPositions(), dtype=np.float64)
    charge = int(sum(a.GetFormalCharge() for a in atoms))
    radicals = int(sum(a.GetNumRadicalElectrons() for a in atoms))
    mult = radicals + 1 if radicals else default_multiplicity(numbers, charge)
    return Molecule(
        numbers, positions, charge=charge, multiplicity=mult, id=mol_id, labels=labels,
        label_units=units, source=src,
    )  # fmt: skip


def _label_units(labels: dict, explicit: dict, overrides: dict) -> dict[str, str]:
    units = {}
    for key, value in labels.items():
        if key in overrides:
            units[key] = overrides[key]
        elif key in explicit:
            units[key] = explicit[key]
        else:
            units[key] = "text" if isinstance(value, str) else "unknown"
    return units


def _check_element(sym: str, where: str) -> None:
    if sym not in _ISOTOPES:
        atomic_number(sym, where)


# -- SDF ----------------------------------------------------------------------------------------
def read_sdf(
    path: StrPath, *, sanitize: bool = False, label_units: dict[str, str] | None = None
) -> Iterator[Molecule]:
    """Iterate over the records of an SD file (or a single molfile), lazily."""
    p = existing_file(path)
    return _iter_sdf(p, sanitize, dict(label_units or {}))


def _sdf_records(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each ``$$$$``-terminated record."""
    with open(p, encoding="utf-8", errors="replace") as fh:
        lines: list[str] = []
        start = 1
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.startswith("$$$$"):
                yield start, lines
                lines, start = [], n + 1
            else:
                lines.append(line)
        if any(s.strip() for s in lines):
            yield start, lines


def _iter_sdf(p: Path, sanitize: bool, overrides: dict) -> Iterator[Molecule]:
    from rdkit import Chem

    empty = True
    for record, ((start, lines), last) in enumerate(_with_last(_sdf_records(p))):
        empty = False
        src = f"{p}#{record}"
        if not any(s.strip() for s in lines):
            raise InputError(f"{src}: line {start}: empty record")
        end = _check_molblock(lines, src, start)
        block = "\n".join(lines[:end]) + "\n"
        rdmol, reason = _rdkit_call(
            Chem.MolFromMolBlock, block, sanitize=sanitize, removeHs=False, strictParsing=True
        )
        if rdmol is None:
            raise InputError(
                f"{src}: RDKit could not parse the record: {reason or 'no reason given'}"
            )
        labels, explicit = _sd_fields(lines[end:])
        title = lines[0].strip()
        if title and "name" not in labels:
            labels = {"name": title, **labels}
        mol_id = p.stem if (record == 0 and last) else f"{p.stem}#{record}"
        units = _label_units(labels, explicit, overrides)
        yield _molecule_from_rdkit(rdmol, src, mol_id, labels, units)
    if empty:
        raise InputError(f"{p}: empty file")


def _check_molblock(lines: list[str], src: str, start: int) -> int:
    """Validate a V2000 header and atom block; return the index just past ``M  END``."""
    end = next((i + 1 for i, s in enumerate(lines) if s.startswith("M  END")), None)
    if len(lines) < 4:
        raise InputError(
            f"{src}: line {start + len(lines) - 1}: record ends after {len(lines)} lines "
            "(a molfile header needs 3 lines and a counts line)"
        )
    counts = lines[3]
    if "V3000" in counts:
        if end is None:
            raise InputError(f"{src}: record has no 'M  END' line (truncated?)")
        return end
    try:
        n_atoms, n_bonds = int(counts[0:3]), int(counts[3:6])
    except ValueError:
        raise InputError(
            f"{src}: line {start + 3}: bad counts line {counts.strip()!r} "
            "(expected atom and bond counts)"
        ) from None
    if n_atoms < 1:
        raise InputError(f"{src}: line {start + 3}: atom count {n_atoms} (must be >= 1)")
    body = lines[4 : end - 1] if end is not None else lines[4:]
    for k in range(n_atoms):
        lineno = start + 4 + k
        if k >= len(body):
            raise InputError(f"{src}: line {lineno - 1}: record ends after {k} of {n_atoms} atoms")
        line = body[k]
        if len(line) < 34:
            raise InputError(
                f"{src}: line {lineno}: atom {k + 1} of {n_atoms}: line too short "
                f"({len(line)} columns, need 34; atom count larger than the atoms present?)"
            )
        for a, b in ((0, 10), (10, 20), (20, 30)):
            try:
                v = float(line[a:b])
            except ValueError:
                raise InputError(
                    f"{src}: line {lineno}: non-numeric coordinate {line[a:b].strip()!r}"
                ) from None
            if not np.isfinite(v):
                raise InputError(f"{src}: line {lineno}: non-finite coordinate")
        _check_element(line[31:34].strip(), f"{src}: line {lineno}: ")
    if len(body) < n_atoms + n_bonds:
        raise InputError(
            f"{src}: line {start + 3 + len(body)}: record ends after "
            f"{len(body) - n_atoms} of {n_bonds} bonds"
        )
    if end is None:
        raise InputError(f"{src}: record has no 'M  END' line (truncated?)")
    return end


_SD_FIELD = re.compile(r"^>.*<([^>]+)>")


def _sd_fields(lines: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    labels: dict[str, Any] = {}
    units: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _SD_FIELD.match(lines[i])
        i += 1
        if not m:
            continue
        value = []
        while i < len(lines) and lines[i].strip():
            value.append(lines[i])
            i += 1
        name, text = m.group(1), "\n".join(value).strip()
        if name.endswith("_unit") and len(name) > 5:
            units[name[:-5]] = text
        else:
            labels[name] = _convert_label(text)
    return labels, units


# -- MOL2 -------------------------------------------------------------------------------------
def read_mol2(
    path: StrPath, *, sanitize: bool = False, label_units: dict[str, str] | None = None
) -> Iterator[Molecule]:
    """Iterate over the ``@<TRIPOS>MOLECULE`` records of a MOL2 file, lazily."""
    p = existing_file(path)
    return _iter_mol2(p, sanitize, dict(label_units or {}))


def _mol2_records(p: Path) -> Iterator[tuple[int, list[str]]]:
    with open(p, encoding="utf-8", errors="replace") as fh:
        lines: list[str] | None = None
        start = 0
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.strip().upper().startswith("@<TRIPOS>MOLECULE"):
                if lines is not None:
                    yield start, lines
                lines, start = [line], n
            elif lines is not None:
                lines.append(line)
            elif line.strip() and not line.lstrip().startswith("#"):
                raise InputError(
                    f"{p}: line {n}: expected '@<TRIPOS>MOLECULE', got {line.strip()[:40]!r}"
                )
        if lines is not None:
            yield start, lines


def _iter_mol2(p: Path, sanitize: bool, overrides: dict) -> Iterator[Molecule]:
    from rdkit import Chem

    empty = True
    for record, ((start, lines), last) in enumerate(_with_last(_mol2_records(p))):
        empty = False
        src = f"{p}#{record}"
        _check_mol2(lines, src, start)
        block = "\n".join(lines) + "\n"
        rdmol, reason = _rdkit_call(Chem.MolFromMol2Block, block, sanitize=sanitize, removeHs=False)
        if rdmol is None:
            raise InputError(
                f"{src}: RDKit could not parse the record: {reason or 'no reason given'}"
            )
        title = lines[1].strip() if len(lines) > 1 else ""
        labels: dict[str, Any] = {"name": title} if title else {}
        mol_id = p.stem if (record == 0 and last) else f"{p.stem}#{record}"
        yield _molecule_from_rdkit(rdmol, src, mol_id, labels, _label_units(labels, {}, overrides))
    if empty:
        raise InputError(f"{p}: empty file (no @<TRIPOS>MOLECULE record)")


def _check_mol2(lines: list[str], src: str, start: int) -> None:
    if len(lines) < 3:
        raise InputError(f"{src}: line {start + len(lines) - 1}: record ends in its header")
    try:
        n_atoms = int(lines[2].split()[0])
    except (ValueError, IndexError):
        raise InputError(f"{src}: line {start + 2}: bad counts line {lines[2].strip()!r}") from None
    at = next((i for i, s in enumerate(lines) if s.strip().upper() == "@<TRIPOS>ATOM"), None)
    if at is None:
        raise InputError(f"{src}: record has no @<TRIPOS>ATOM section")
    body = []
    for s in lines[at + 1 :]:
        if s.strip().startswith("@<TRIPOS>"):
            break
        body.append(s)
    while body and not body[-1].strip():
        body.pop()
    for k in range(n_atoms):
        lineno = start + at + 1 + k
        if k >= len(body):
            raise InputError(f"{src}: line {lineno - 1}: record ends after {k} of {n_atoms} atoms")
        parts = body[k].split()
        if len(parts) < 6:
            raise InputError(f"{src}: line {lineno}: expected 6 or more fields, got {len(parts)}")
        for s in parts[2:5]:
            try:
                v = float(s)
            except ValueError:
                raise InputError(f"{src}: line {lineno}: non-numeric coordinate {s!r}") from None
            if not np.isfinite(v):
                raise InputError(f"{src}: line {lineno}: non-finite coordinate")
        _check_element(parts[5].split(".")[0], f"{src}: line {lineno}: ")
