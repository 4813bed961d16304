"""PDBbind-style protein–ligand complexes with binding affinities.

Layout: ``<root>/<code>/<code>_protein.pdb`` (or ``_pocket.pdb``, the residues near the ligand) and
``<code>_ligand.sdf`` / ``.mol2``. Each complex becomes one :class:`Molecule`:

* atoms: the protein (or pocket) atoms first, then the ligand atoms; ``groups`` is 0 for the
  protein/pocket and 1 for the ligand. Protein hydrogens are kept when present, waters dropped
  (``keep_waters=True`` keeps them), of alternate locations the highest-occupancy conformer is
  kept, elements come from the PDB element columns (see :mod:`rhoml.io.pdb`);
* ``id`` is the PDB code, ``source`` the complex folder;
* labels: ``pK`` (= -log10 of Kd/Ki/IC50 in M; unit ``"dimensionless"``) when a label source is
  found, ``ligand_charge`` (e), ``charge_assumed`` and, if a core set is given, ``in_core_set``.

Charge and spin: PDB files of proteins rarely carry formal charges (PDBbind's do not), and
protonation states are not encoded otherwise. The total charge is the ligand's formal charge
(from the SDF / MOL2) plus the protein's formal charges from PDB columns 79-80 if any are present;
if none are, the protein is taken as neutral and label ``charge_assumed`` is True. The
multiplicity is then 1 or 2 by electron parity. Metal ions without charges in the PDB count as
neutral atoms. Treat the charge of such complexes as a bookkeeping value, not as chemistry.

Affinity labels come from ``labels=`` (a file or a ``{code: pK}`` dict) or, by default, from the
first of ``<root>/labels_pK.csv`` or the standard index files ``<root>/index/INDEX_*data*``
(also ``<root>/../index``); see :func:`read_pdbbind_index`. A core-set list (e.g. CASF-2016
``CoreSet.dat`` or a plain list of codes) given as ``core_set=`` adds label ``in_core_set`` and
allows ``subset="core"`` / ``"noncore"``.

Known data caveat: PDBbind SDF files often omit the formal charges of phosphates and similar
groups (their MOL2 files, read with RDKit, carry them); RDKit cannot read some MOL2 ligands
(e.g. metal-containing ones). Which ``ligand_format`` is best depends on the complexes.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import InputError
from rhoml.io import StrPath, default_multiplicity
from rhoml.molecule import Molecule

_CODE = re.compile(r"^[0-9][A-Za-z0-9]{3}$")
_CSV_CODE_COLUMNS = ("pdb_code", "code", "pdb", "pdbid", "pdb_id", "PDB code", "PDB")
_CSV_PK_COLUMNS = ("pK", "pk", "pKd", "-logKd/Ki", "logKa", "affinity", "label", "y")


# -- label files --------------------------------------------------------------------------------
def read_pdbbind_index(path: StrPath) -> dict[str, float]:
    """``{code: pK}`` from a PDBbind index file or a labels CSV.

    Index files (``INDEX_refined_data.2020``, ``INDEX_general_PL_data.2020``, CASF
    ``CoreSet.dat``...): whitespace-separated lines ``code resolution year pK ...``; lines
    starting with ``#`` are comments. CSV files need a header with a code column (``pdb_code``,
    ``code``...) and a pK column (``pK``, ``-logKd/Ki``...). Codes are returned lower-case.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    with open(p, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    first = next((s for s in lines if s.strip() and not s.lstrip().startswith("#")), None)
    if first is None:
        raise InputError(f"{p}: empty file (no label lines)")
    if "," in first and not _CODE.match(first.split(",")[0].strip()):
        return _read_label_csv(p, lines)
    out: dict[str, float] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 4:
            raise InputError(f"{p}: line {n}: expected 4 or more fields, got {len(fields)}")
        code = fields[0].lower()
        if not _CODE.match(code):
            raise InputError(f"{p}: line {n}: {fields[0]!r} is not a PDB code")
        try:
            out[code] = float(fields[3])
        except ValueError:
            raise InputError(
                f"{p}: line {n}: pK (4th field) {fields[3]!r} is not a number"
            ) from None
    return out


def _read_label_csv(p: Path, lines: list[str]) -> dict[str, float]:
    numbered = [
        (n, s) for n, s in enumerate(lines, 1) if s.strip() and not s.lstrip().startswith("#")
    ]
    header_line, header_text = numbered[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    code_col = next((header.index(c) for c in _CSV_CODE_COLUMNS if c in header), None)
    pk_col = next((header.index(c) for c in _CSV_PK_COLUMNS if c in header), None)
    if code_col is None or pk_col is None:
        raise InputError(
            f"{p}: line {header_line}: CSV header needs a code column "
            f"({', '.join(_CSV_CODE_COLUMNS[:3])}) and a pK column "
            f"({', '.join(_CSV_PK_COLUMNS[:3])})"
        )
    out: dict[str, float] = {}
    for n, text in numbered[1:]:
        row = next(csv.reader([text]))
        if len(row) <= max(code_col, pk_col):
            raise InputError(f"{p}: line {n}: expected {len(header)} fields, got {len(row)}")
        try:
            out[row[code_col].strip().lower()] = float(row[pk_col])
        except ValueError:
            raise InputError(f"{p}: line {n}: pK {row[pk_col]!r} is not a number") from None
    return out


def read_core_set(path: StrPath) -> set[str]:
    """Codes of a core-set list: the first token of every non-comment line (CASF
    ``CoreSet.dat``, ``INDEX_core_data.2016``, a plain list, or a CSV with a header line)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    codes: set[str] = set()
    first = True
    for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        token = re.split(r"[\s,]+", line.strip())[0].lower()
        if _CODE.match(token):
            codes.add(token)
        elif not first:  # a non-code first line is a header
            raise InputError(f"{p}: line {n}: {token!r} is not a PDB code")
        first = False
    if not codes:
        raise InputError(f"{p}: no PDB codes found")
    return codes


def find_label_file(root: StrPath) -> Path | None:
    """The default label source of a PDBbind folder, or None."""
    root = Path(root)
    if (root / "labels_pK.csv").is_file():
        return root / "labels_pK.csv"
    for index_dir in (root / "index", root.parent / "index"):
        if index_dir.is_dir():
            files = sorted(index_dir.glob("INDEX_*data*"))
            # the refined set first (its entries are also in the general set)
            files.sort(key=lambda f: ("refined" not in f.name, "general" not in f.name, f.name))
            if files:
                return files[0]
    return None


# -- complexes ------------------------------------------------------------------------------------
def iter_pdbbind(
    root: StrPath,
    codes: Iterable[str] | None = None,
    pocket: bool = True,
    ligand_format: str = "sdf",
    *,
    labels: StrPath | dict[str, float] | None = None,
    core_set: StrPath | Iterable[str] | None = None,
    subset: str = "all",
    keep_waters: bool = False,
    keep_hydrogens: bool = True,
    require_labels: bool = True,
    on_error: str = "raise",
) -> Iterator[Molecule]:
    """Iterate over the complexes of a PDBbind-style folder (see the module docstring).

    Args:
        root: the folder holding ``<code>/`` subfolders.
        codes: complexes to read (default: every subfolder with a ligand file, sorted).
        pocket: read ``<code>_pocket.pdb`` (True) or ``<code>_protein.pdb`` (False).
        ligand_format: ``"sdf"`` or ``"mol2"``.
        labels: a label file (:func:`read_pdbbind_index`) or a ``{code: pK}`` dict; default:
            :func:`find_label_file`. Without any source the complexes carry no ``pK``.
        core_set: a core-set list file or an iterable of codes.
        subset: ``"all"``, ``"core"`` or ``"noncore"`` (needs ``core_set``).
        require_labels: a complex missing from an existing label source is an error
            (else it just has no ``pK``).
        on_error: ``"raise"`` or ``"skip"`` (warn and go on) for complexes that fail to read.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    fmt = ligand_format.lower().lstrip(".")
    if fmt not in ("sdf", "mol2"):
        raise InputError(f"pdbbind: ligand_format must be 'sdf' or 'mol2', got {ligand_format!r}")
    if subset not in ("all", "core", "noncore"):
        raise InputError(f"pdbbind: subset must be 'all', 'core' or 'noncore', got {subset!r}")
    if on_error not in ("raise", "skip"):
        raise InputError(f"pdbbind: on_error must be 'raise' or 'skip', got {on_error!r}")

    label_source: str | None
    if labels is None:
        label_file = find_label_file(root)
        pk = read_pdbbind_index(label_file) if label_file else None
        label_source = str(label_file) if label_file else None
    elif isinstance(labels, dict):
        pk = {str(k).lower(): float(v) for k, v in labels.items()}
        label_source = "the labels dict"
    else:
        pk, label_source = read_pdbbind_index(labels), str(labels)

    core: set[str] | None = None
    if core_set is not None:
        if isinstance(core_set, str | Path):
            core = read_core_set(core_set)
        else:
            core = {str(c).lower() for c in core_set}
    elif subset != "all":
        raise InputError(f"pdbbind: subset={subset!r} needs core_set=")

    if codes is None:
        folders = sorted(
            d for d in root.iterdir() if d.is_dir() and (d / f"{d.name}_ligand.{fmt}").exists()
        )
        if not folders:
            raise InputError(f"{root}: no <code>/<code>_ligand.{fmt} files")
    else:
        codes = [codes] if isinstance(codes, str) else list(codes)
        folders = []
        for code in codes:
            d = next((root / c for c in (code, code.lower()) if (root / c).is_dir()), None)
            if d is None:
                raise InputError(f"{root}: complex {code}: no folder {root / code}")
            folders.append(d)
    if core is not None and subset != "all":
        keep = subset == "core"
        folders = [d for d in folders if (d.name.lower() in core) == keep]

    return _complexes(
        folders, pocket, fmt, pk, label_source, core, keep_waters, keep_hydrogens,
        require_labels, on_error,
    )  # fmt: skip


def _complexes(folders, pocket, fmt, pk, label_source, core, keep_waters, keep_hydrogens,
               require_labels, on_error) -> Iterator[Molecule]:  # fmt: skip
    for folder in folders:
        try:
            yield _read_complex(
                folder, pocket, fmt, pk, label_source, core, keep_waters, keep_hydrogens,
                require_labels,
            )  # fmt: skip
        except InputError as exc:
            if on_error == "raise":
                raise
            warnings.warn(f"skipped: {exc}", stacklevel=2)


def _read_complex(folder: Path, pocket, fmt, pk, label_source, core, keep_waters,
                  keep_hydrogens, require_labels) -> Molecule:  # fmt: skip
    from rhoml.io.pdb import parse_pdb
    from rhoml.io.rdkit_io import read_mol2, read_sdf

    code = folder.name
    prot_file = folder / f"{code}_{'pocket' if pocket else 'protein'}.pdb"
    lig_file = folder / f"{code}_ligand.{fmt}"
    for f in (prot_file, lig_file):
        if not f.is_file():
            raise InputError(f"pdbbind {code}: missing file {f}")
    try:
        prot = parse_pdb(prot_file, keep_waters=keep_waters, keep_hydrogens=keep_hydrogens)
        reader = read_sdf if fmt == "sdf" else read_mol2
        lig = next(iter(reader(lig_file)))
    except InputError as exc:
        raise type(exc)(f"pdbbind {code}: {exc}") from None

    labels: dict = {}
    units: dict = {}
    key = code.lower()
    if pk is not None:
        if key in pk:
            labels["pK"], units["pK"] = pk[key], "dimensionless"
        elif require_labels:
            raise InputError(f"pdbbind {code}: no pK for {code} in {label_source}")
    labels["ligand_charge"], units["ligand_charge"] = lig.charge, "e"
    labels["charge_assumed"], units["charge_assumed"] = not prot.has_charges, "dimensionless"
    if core is not None:
        labels["in_core_set"], units["in_core_set"] = key in core, "dimensionless"

    numbers = np.concatenate([prot.numbers, lig.numbers])
    positions = np.concatenate([prot.positions, lig.positions])
    groups = np.concatenate(
        [np.zeros(len(prot.numbers), dtype=np.int64), np.ones(lig.n_atoms, dtype=np.int64)]
    )
    charge = int(prot.formal_charges.sum()) + lig.charge
    return Molecule(
        numbers, positions, charge=charge, multiplicity=default_multiplicity(numbers, charge),
        id=code, labels=labels, label_units=units, groups=groups, source=str(folder),
    )  # fmt: skip


def load_pdbbind(
    root: StrPath,
    codes: Iterable[str] | None = None,
    pocket: bool = True,
    ligand_format: str = "sdf",
    **kw: Any,
) -> list[Molecule]:
    """The complexes of a PDBbind-style folder as a list (see :func:`iter_pdbbind`)."""
    return list(iter_pdbbind(root, codes, pocket, ligand_format, **kw))
