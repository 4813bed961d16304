"""PDBbind-style protein–ligand complexes with binding affinities.

Layout: ``<root>/<code>/<code>_protein.pdb`` (or ``_pocket.pdb``, the residues near the ligand) and
``<code>_ligand.sdf`` / ``.mol2``. Each complex becomes one :class:`Molecule`:

* atoms: the protein (or pocket) atoms first, then the ligand atoms; ``groups`` is 0 for the
  protein/pocket and 1 for the ligand. Protein hydrogens are kept when present, waters dropped
  (``keep_waters=True`` keeps them), of alternate locations the highest-occupancy conformer is
  kept, elements come from the PDB element columns (see :mod:`rhoml.io.pdb`);
* ``id`` is the PDB code, ``source`` the complex folder;
* labels: ``pK`` (= -log10 of Kd/Ki/IC50 in M; unit ``"dimensionless"``), ``measure`` (Kd, Ki
  or IC50, when the label source states it) and ``qualifier`` (``=`` or ``<``, ``>``, ``~``,
  ``<=``, ``>=``) when a label source is found, ``ligand_charge`` (e), ``charge_assumed`` and,
  if a core set is given, ``in_core_set``.

Charge and spin: PDB files of proteins rarely carry formal charges (PDBbind's do not), and
protonation states are not encoded otherwise. The total charge is the ligand's formal charge
(from the SDF / MOL2) plus the protein's formal charges from PDB columns 79-80 if any are present;
if none are, the protein is taken as neutral and label ``charge_assumed`` is True. The
multiplicity is then 1 or 2 by electron parity. Metal ions without charges in the PDB count as
neutral atoms. Treat the charge of such complexes as a bookkeeping value, not as chemistry.

Affinity labels come from ``labels=`` (a file or a ``{code: pK}`` dict) or, by default, from the
first of ``<root>/labels_pK.csv`` or the standard index files ``<root>/index/INDEX_*``
(also ``<root>/../index``): index files of PDBbind v2016–v2020 (with a pK column) and of later
releases (binding data such as ``Ki=0.068nM`` converted to pK); see :func:`read_affinities`.
A core-set list (e.g. CASF-2016 ``CoreSet.dat`` or a plain list of codes) given as
``core_set=`` adds label ``in_core_set`` and allows ``subset="core"`` / ``"noncore"``.

Known data caveat: PDBbind SDF files often omit the formal charges of phosphates and similar
groups (their MOL2 files, read with RDKit, carry them); RDKit cannot read some MOL2 ligands
(e.g. metal-containing ones). Which ``ligand_format`` is best depends on the complexes.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import InputError, RhomlError
from rhoml.io import StrPath, default_multiplicity
from rhoml.molecule import Molecule

_CODE = re.compile(r"^[0-9][A-Za-z0-9]{3}$")
_CSV_CODE_COLUMNS = ("pdb_code", "code", "pdb", "pdbid", "pdb_id", "PDB code", "PDB")
_CSV_PK_COLUMNS = ("pK", "pk", "pKd", "-logKd/Ki", "logKa", "affinity", "label", "y")
_CSV_MEASURE_COLUMNS = ("measure", "affinity_measure", "type")
_CSV_QUALIFIER_COLUMNS = ("qualifier", "relation")

#: concentration units of PDBbind binding data → factor to mol/L
UNITS_M: dict[str, float] = {
    "fM": 1e-15, "pM": 1e-12, "nM": 1e-9, "uM": 1e-6, "µM": 1e-6, "μM": 1e-6, "mM": 1e-3,
    "M": 1.0,
}  # fmt: skip
#: affinity measures (canonical spelling)
MEASURES = ("Kd", "Ki", "IC50")
#: qualifiers, longest first so that ``<=`` is not read as ``<``
QUALIFIERS = ("<=", ">=", "=", "<", ">", "~")
_AFFINITY = re.compile(
    r"^(?P<measure>(?i:Kd|Ki|IC50))\s*(?P<qualifier><=|>=|=|<|>|~)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>fM|pM|nM|uM|µM|μM|mM|M)$"
)


@dataclass(frozen=True)
class Affinity:
    """One complex's binding datum from an index file or a labels CSV.

    ``pK`` = −log10(value in M); ``measure`` is ``"Kd"``, ``"Ki"``, ``"IC50"`` or ``""`` (not
    stated, e.g. a plain ``code,pK`` CSV); ``qualifier`` is ``"="`` for an exact value or one of
    ``<``, ``>``, ``~``, ``<=``, ``>=`` as written in the file; ``text`` is the binding datum as
    written (``Ki=0.068nM``), ``line`` the line number in ``source``.
    """

    code: str
    pK: float
    measure: str = ""
    qualifier: str = "="
    text: str = ""
    resolution: str = ""
    year: str = ""
    reference: str = ""
    ligand: str = ""
    source: str = ""
    line: int = 0

    @property
    def qualified(self) -> bool:
        """True for a bound or approximate value (any qualifier but ``=``)."""
        return self.qualifier != "="


def parse_affinity(text: str) -> tuple[str, str, float]:
    """``"Ki=0.068nM"`` → ``("Ki", "=", 6.8e-11)``: measure (Kd, Ki, IC50), qualifier (``=``,
    ``<``, ``>``, ``~``, ``<=``, ``>=``) and the value in mol/L (units fM, pM, nM, uM/µM, mM,
    M). Raises ValueError for anything else."""
    m = _AFFINITY.match(text.strip())
    if m is None:
        raise ValueError(
            f"binding datum {text!r} is not measure (Kd, Ki, IC50), qualifier (= < > ~ <= >=), "
            "number and unit (fM pM nM uM mM M), e.g. Ki=0.068nM"
        )
    measure = next(x for x in MEASURES if x.lower() == m["measure"].lower())
    value = float(m["value"]) * UNITS_M[m["unit"]]
    if not value > 0:
        raise ValueError(f"binding datum {text!r}: the value must be positive")
    return measure, m["qualifier"], value


def _pk(molar: float) -> float:
    return float(-np.log10(molar))


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# -- label files --------------------------------------------------------------------------------
def read_affinities(path: StrPath) -> dict[str, Affinity]:
    """``{code: Affinity}`` from a PDBbind index file or a labels CSV (codes lower-case).

    Index files, lines ``code resolution year [pK] binding-datum // reference (ligand)``, lines
    starting with ``#`` are comments:

    * PDBbind v2016–v2020 (``INDEX_general_PL_data.2020``, ``INDEX_refined_data.2020``, CASF
      ``CoreSet.dat``): a pK column (−logKd/Ki) before the binding datum; the pK is taken from
      that column, measure and qualifier from the datum when it parses.
    * later releases (``INDEX_general_PL.2021`` ...): no pK column; the datum (``Kd=…``,
      ``Ki=0.068nM``, ``IC50>10uM``; units fM, pM, nM, uM, mM, M; qualifiers ``=``, ``<``,
      ``>``, ``~``, ``<=``, ``>=``) is converted to pK = −log10(value in M).

    CSV files need a header with a code column (``pdb_code``, ``code``...) and a pK column
    (``pK``, ``-logKd/Ki``...); optional ``measure`` and ``qualifier`` columns.

    Raises:
        InputError: one line naming the file and the line that cannot be read.
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
    out: dict[str, Affinity] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        body, _, tail = line.partition("//")
        fields = body.split()
        if len(fields) < 4:
            raise InputError(f"{p}: line {n}: expected 4 or more fields, got {len(fields)}")
        code = fields[0].lower()
        if not _CODE.match(code):
            raise InputError(f"{p}: line {n}: {fields[0]!r} is not a PDB code")
        pk_column = _float(fields[3])
        datum = fields[4] if pk_column is not None and len(fields) > 4 else fields[3]
        measure, qualifier = "", "="
        try:
            measure, qualifier, molar = parse_affinity(datum)
        except ValueError as exc:
            if pk_column is None:
                raise InputError(f"{p}: line {n}: 4th field: {exc}") from None
            molar = None  # a pK column with an unreadable datum: the pK column is used
        pk = pk_column if pk_column is not None else _pk(molar)  # type: ignore[arg-type]
        ref = tail.strip()
        lig = re.findall(r"\(([^()]*)\)", ref)
        out[code] = Affinity(
            code, float(pk), measure, qualifier, datum if measure else "", fields[1], fields[2],
            ref.split("(")[0].strip(), lig[-1] if lig else "", str(p), n,
        )  # fmt: skip
    return out


def read_pdbbind_index(path: StrPath, *, exclude_ic50: bool = False,
                       exclude_qualified: bool = False) -> dict[str, float]:  # fmt: skip
    """``{code: pK}`` from a PDBbind index file or a labels CSV (see :func:`read_affinities`);
    ``exclude_ic50`` / ``exclude_qualified`` leave out IC50 values and bounds or approximate
    values (``<``, ``>``, ``~``, ``<=``, ``>=``)."""
    return {
        code: a.pK
        for code, a in read_affinities(path).items()
        if not (exclude_ic50 and a.measure == "IC50") and not (exclude_qualified and a.qualified)
    }


def _read_label_csv(p: Path, lines: list[str]) -> dict[str, Affinity]:
    numbered = [
        (n, s) for n, s in enumerate(lines, 1) if s.strip() and not s.lstrip().startswith("#")
    ]
    header_line, header_text = numbered[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]

    def column(names):
        return next((header.index(c) for c in names if c in header), None)

    code_col, pk_col = column(_CSV_CODE_COLUMNS), column(_CSV_PK_COLUMNS)
    measure_col, qual_col = column(_CSV_MEASURE_COLUMNS), column(_CSV_QUALIFIER_COLUMNS)
    if code_col is None or pk_col is None:
        raise InputError(
            f"{p}: line {header_line}: CSV header needs a code column "
            f"({', '.join(_CSV_CODE_COLUMNS[:3])}) and a pK column "
            f"({', '.join(_CSV_PK_COLUMNS[:3])})"
        )
    out: dict[str, Affinity] = {}
    for n, text in numbered[1:]:
        row = next(csv.reader([text]))
        if len(row) <= max(code_col, pk_col):
            raise InputError(f"{p}: line {n}: expected {len(header)} fields, got {len(row)}")
        pk = _float(row[pk_col])
        if pk is None or not np.isfinite(pk):
            raise InputError(f"{p}: line {n}: pK {row[pk_col]!r} is not a number")
        measure = row[measure_col].strip() if measure_col is not None else ""
        if measure and measure.lower() not in {m.lower() for m in MEASURES}:
            raise InputError(
                f"{p}: line {n}: measure {measure!r} is not one of {', '.join(MEASURES)}"
            )
        measure = next((m for m in MEASURES if m.lower() == measure.lower()), "")
        qualifier = (row[qual_col].strip() if qual_col is not None else "") or "="
        if qualifier not in QUALIFIERS:
            raise InputError(
                f"{p}: line {n}: qualifier {qualifier!r} is not one of {' '.join(QUALIFIERS)}"
            )
        code = row[code_col].strip().lower()
        out[code] = Affinity(code, pk, measure, qualifier, source=str(p), line=n)
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
    """The default label source of a PDBbind folder, or None: ``<root>/labels_pK.csv``, else
    an index file in ``<root>/index`` or ``<root>/../index`` (``INDEX_*``, the refined set
    first, then the general set; the protein-name lists ``INDEX_*_name*`` are not label
    files)."""
    root = Path(root)
    if (root / "labels_pK.csv").is_file():
        return root / "labels_pK.csv"
    for index_dir in (root / "index", root.parent / "index"):
        if index_dir.is_dir():
            files = [f for f in index_dir.glob("INDEX_*") if f.is_file() and "name" not in f.name]
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
    labels: StrPath | dict[str, float] | dict[str, Affinity] | bool | None = None,
    core_set: StrPath | Iterable[str] | None = None,
    subset: str = "all",
    keep_waters: bool = False,
    keep_hydrogens: bool = True,
    require_labels: bool = False,
    on_error: str | Callable[[str, Exception], None] = "raise",
) -> Iterator[Molecule]:
    """Iterate over the complexes of a PDBbind-style folder (see the module docstring).

    Args:
        root: the folder holding ``<code>/`` subfolders.
        codes: complexes to read (default: every subfolder with a ligand file, sorted).
        pocket: read ``<code>_pocket.pdb`` (True) or ``<code>_protein.pdb`` (False).
        ligand_format: ``"sdf"`` or ``"mol2"``.
        labels: a label file (:func:`read_affinities`), a ``{code: pK}`` or ``{code:
            Affinity}`` dict, ``False`` (read no labels: prediction) or None (default:
            :func:`find_label_file`). Without any source the complexes carry no ``pK``.
        core_set: a core-set list file or an iterable of codes.
        subset: ``"all"``, ``"core"`` or ``"noncore"`` (needs ``core_set``).
        require_labels: a complex missing from an existing label source is an error
            (default: it just has no ``pK``).
        on_error: for complexes that fail to read (missing file, unreadable structure, unknown
            element): ``"raise"``, ``"skip"`` (warn and go on) or a callable ``(code, error)``
            that records them (and the rest go on).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    fmt = ligand_format.lower().lstrip(".")
    if fmt not in ("sdf", "mol2"):
        raise InputError(f"pdbbind: ligand_format must be 'sdf' or 'mol2', got {ligand_format!r}")
    if subset not in ("all", "core", "noncore"):
        raise InputError(f"pdbbind: subset must be 'all', 'core' or 'noncore', got {subset!r}")
    if not callable(on_error) and on_error not in ("raise", "skip"):
        raise InputError(f"pdbbind: on_error must be 'raise' or 'skip', got {on_error!r}")

    label_source: str | None
    pk: dict[str, Affinity] | None
    if labels is False:
        pk, label_source = None, None
    elif labels is None or labels is True:
        label_file = find_label_file(root)
        pk = read_affinities(label_file) if label_file else None
        label_source = str(label_file) if label_file else None
    elif isinstance(labels, dict):
        pk = {
            str(k).lower(): v if isinstance(v, Affinity) else Affinity(str(k).lower(), float(v))
            for k, v in labels.items()
        }
        label_source = "the labels dict"
    else:
        pk, label_source = read_affinities(labels), str(labels)

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
        except (RhomlError, ValueError, KeyError) as exc:
            if on_error == "raise":
                if isinstance(exc, RhomlError):
                    raise
                raise InputError(f"pdbbind {folder.name}: {exc}") from exc
            if callable(on_error):
                on_error(folder.name, exc)
            else:
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
            a = pk[key]
            labels["pK"], units["pK"] = a.pK, "dimensionless"
            if a.measure:
                labels["measure"], units["measure"] = a.measure, "dimensionless"
            labels["qualifier"], units["qualifier"] = a.qualifier, "dimensionless"
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
