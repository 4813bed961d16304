"""Writing per-molecule predictions: CSV or extended XYZ, quantities named with their units.

CSV: ``#`` comment lines (run, family, units), then a header ``id,<quantity> [<unit>],...``.
Extended XYZ: one frame per molecule, each prediction a key of the comment line, with
``units=<quantity>:<unit>,...`` so that ``ase.io.read`` gives the values in ``atoms.info``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rhoml.errors import InputError
from rhoml.io import StrPath
from rhoml.molecule import Molecule


def _cell(value) -> str:
    a = np.asarray(value)
    if a.ndim == 0:
        return repr(float(a)) if a.dtype.kind == "f" else str(a.item())
    return " ".join(repr(float(x)) for x in a.ravel())


def predictions_csv(rows: Sequence[dict], outputs: dict[str, str], meta: dict | None = None) -> str:
    """CSV text: ``# key: value`` lines from ``meta``, header with units, one row per molecule.
    Vector quantities (e.g. a dipole) are space-separated within their cell."""
    buf = io.StringIO()
    for key, value in (meta or {}).items():
        buf.write(f"# {key}: {value}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", *[f"{q} [{u}]" for q, u in outputs.items()]])
    for row in rows:
        w.writerow([row["id"], *[_cell(row[q]) for q in outputs]])
    return buf.getvalue()


def write_predictions(
    path: StrPath, rows: Sequence[dict], outputs: dict[str, str],
    molecules: Sequence[Molecule] = (), meta: dict | None = None,
) -> Path:  # fmt: skip
    """Write predictions to ``path``: ``.csv`` or ``.xyz``/``.extxyz`` (needs ``molecules``,
    aligned with ``rows``). The file is written to a temporary name and renamed."""
    from rhoml.io.atomic import atomic_write

    p = Path(path)
    ext = p.suffix.lower()
    if not p.parent.is_dir():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    if ext == ".csv":
        atomic_write(p, predictions_csv(rows, outputs, meta))
        return p
    if ext not in (".xyz", ".extxyz"):
        raise InputError(f"{p}: write predictions as .csv, .xyz or .extxyz")
    if len(molecules) != len(rows):
        raise InputError(f"{p}: extxyz output needs the molecules of every prediction")
    from rhoml.io.xyz import format_xyz

    frames = []
    for mol, row in zip(molecules, rows, strict=True):
        labels = {**mol.labels}
        units = {**mol.label_units}
        for q, u in outputs.items():
            labels[f"pred_{q}"] = np.asarray(row[q]).tolist()
            units[f"pred_{q}"] = u
        frames.append(format_xyz(Molecule(mol.numbers, mol.positions, mol.charge,
                                          mol.multiplicity, mol.id, labels, units)))  # fmt: skip
    atomic_write(p, "".join(frames))
    return p
