"""Molecule readers: every reader yields :class:`rhoml.Molecule` objects.

Conventions shared by all readers:

* positions in Å; ``charge`` in e; ``multiplicity`` = 2S+1;
* ``id``: the file stem for a single-record file, ``<stem>#<record>`` for multi-record files
  (records counted from 0), the QM9 index (``qm9_000001``), the PDBbind code;
* ``source``: ``<file>#<record>`` (or the complex folder for PDBbind), used in error messages;
* every label ``k`` has its unit in ``label_units[k]`` (``"text"`` for string labels,
  ``"unknown"`` where the file does not say and the format has no convention);
* where a file gives no multiplicity, the lowest one consistent with the electron count is used
  (1 for an even number of electrons, 2 for an odd one: :func:`default_multiplicity`);
* bad input raises :class:`rhoml.errors.InputError` (or a subclass) with a one-line message
  naming the file and the record, e.g. ``water.xyz#3: line 5: expected 4 fields, got 2``.

:func:`read_molecules` dispatches on the extension or the folder layout; :data:`SUPPORTED` lists
what it understands: rhoml's own readers first, then any other format ASE reads
(:mod:`rhoml.io.ase_io`). Readers are lazy iterators where the format allows; the path is checked
when the reader is called, the content when it is iterated.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from rhoml.errors import InputError
from rhoml.molecule import Molecule

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: A file or folder argument: a string or any path-like object.
StrPath: TypeAlias = str | os.PathLike[str]

#: What :func:`read_molecules` reads: extension (or pattern) -> description.
SUPPORTED: dict[str, str] = {
    ".xyz": "XYZ / extended XYZ, multi-frame (rhoml.io.xyz.read_xyz)",
    ".extxyz": "extended XYZ, multi-frame (rhoml.io.xyz.read_xyz)",
    ".sdf": "MDL SD file, multi-record, via RDKit (rhoml.io.rdkit_io.read_sdf)",
    ".sd": "MDL SD file (rhoml.io.rdkit_io.read_sdf)",
    ".mol": "MDL molfile (rhoml.io.rdkit_io.read_sdf)",
    ".mol2": "Tripos MOL2, multi-record, via RDKit (rhoml.io.rdkit_io.read_mol2)",
    ".pdb": "PDB via gemmi: first model, highest-occupancy altlocs, hydrogens kept, waters "
    "dropped (rhoml.io.pdb.read_pdb)",
    ".ent": "PDB (rhoml.io.pdb.read_pdb)",
    ".npz": "rMD17 / MD17 NumPy archive (rhoml.io.rmd17.read_npz)",
    "<folder>": "PDBbind layout <code>/<code>_ligand.sdf (rhoml.io.pdbbind.iter_pdbbind)",
    "qm9[:N]": "QM9 from qm9pack, optionally the first N molecules (rhoml.io.qm9.iter_qm9)",
    "<ase>": "any other file ase.io.read reads: ASE .db/.json databases, .traj, .cif, POSCAR, "
    "program outputs... (rhoml.io.ase_io.read_ase)",
}

_EXT_READERS: dict[str, tuple[str, str]] = {
    ".xyz": ("rhoml.io.xyz", "read_xyz"),
    ".extxyz": ("rhoml.io.xyz", "read_xyz"),
    ".sdf": ("rhoml.io.rdkit_io", "read_sdf"),
    ".sd": ("rhoml.io.rdkit_io", "read_sdf"),
    ".mol": ("rhoml.io.rdkit_io", "read_sdf"),
    ".mol2": ("rhoml.io.rdkit_io", "read_mol2"),
    ".pdb": ("rhoml.io.pdb", "read_pdb"),
    ".ent": ("rhoml.io.pdb", "read_pdb"),
    ".npz": ("rhoml.io.rmd17", "read_npz"),
}

# public names re-exported lazily (so that ``import rhoml.io`` does not import RDKit)
_LAZY: dict[str, str] = {
    "read_xyz": "rhoml.io.xyz",
    "write_xyz": "rhoml.io.xyz",
    "format_xyz": "rhoml.io.xyz",
    "read_sdf": "rhoml.io.rdkit_io",
    "read_mol2": "rhoml.io.rdkit_io",
    "read_pdb": "rhoml.io.pdb",
    "load_qm9": "rhoml.io.qm9",
    "iter_qm9": "rhoml.io.qm9",
    "QM9_TARGETS": "rhoml.io.qm9",
    "load_rmd17": "rhoml.io.rmd17",
    "read_npz": "rhoml.io.rmd17",
    "load_pdbbind": "rhoml.io.pdbbind",
    "iter_pdbbind": "rhoml.io.pdbbind",
    "read_pdbbind_index": "rhoml.io.pdbbind",
    "read_ase": "rhoml.io.ase_io",
    "write_ase": "rhoml.io.ase_io",
    "atoms_to_molecule": "rhoml.io.ase_io",
    "molecules_to_atoms": "rhoml.io.ase_io",
}

__all__ = ["SUPPORTED", "StrPath", "default_multiplicity", "read_molecules", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rhoml.io' has no attribute {name!r}")


# -- helpers shared by the readers ------------------------------------------------------------
def default_multiplicity(numbers: ArrayLike, charge: int = 0) -> int:
    """Lowest multiplicity consistent with the electron count: 1 if even, 2 if odd."""
    n = int(np.asarray(numbers, dtype=np.int64).sum()) - int(charge)
    return 1 if n % 2 == 0 else 2


def existing_file(path: StrPath) -> Path:
    """``path`` as a :class:`Path`; :class:`InputError` unless it is an existing file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a file")
    return p


def _is_pdbbind_folder(p: Path) -> bool:
    return any(p.glob("*/*_ligand.sdf")) or any(p.glob("*/*_ligand.mol2"))


_QM9_NAME = re.compile(r"^qm9(?::(\d+))?$", re.IGNORECASE)


def read_molecules(path: StrPath, **kw: Any) -> Iterator[Molecule]:
    """Iterate over the molecules in ``path``, choosing the reader by extension or layout.

    ``path`` is a file (see :data:`SUPPORTED`), a PDBbind-style folder, or the name ``qm9`` /
    ``qm9:N`` (the first N molecules of QM9). Keyword arguments go to the chosen reader.
    The path is checked now (:class:`InputError` if it does not exist or its format is
    unknown); the content is read while iterating.
    """
    text = str(path)
    p = Path(path)
    m = _QM9_NAME.match(text)
    if m and not p.exists():
        from rhoml.io.qm9 import iter_qm9

        limit = int(m.group(1)) if m.group(1) else kw.pop("limit", None)
        return iter_qm9(limit=limit, **kw)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.is_dir():
        if _is_pdbbind_folder(p):
            from rhoml.io.pdbbind import iter_pdbbind

            return iter_pdbbind(p, **kw)
        raise InputError(
            f"{p}: folder is not a recognised layout (expected PDBbind "
            "<code>/<code>_ligand.sdf or .mol2)"
        )
    ext = p.suffix.lower()
    if ext in _EXT_READERS:
        module, func = _EXT_READERS[ext]
        return getattr(importlib.import_module(module), func)(p, **kw)
    from rhoml.io.ase_io import ase_format, read_ase

    fmt = ase_format(p)
    if fmt is None:
        raise InputError(
            f"{p}: unknown file extension {p.suffix or '(none)'!r}: neither rhoml "
            f"({', '.join(sorted(_EXT_READERS))}) nor ASE (ase.io.read) reads it"
        )
    return read_ase(p, format=fmt, **kw)
