"""The store schema: every quantity a store holds, with its dtype, shape rule and unit.

This module is the single table of what may be written to or read from a
:class:`~rhoml.store.sqlite_store.Store`. Names are module constants with a one-line comment
(dtype, shape, unit); :data:`MOLECULE_FIELDS`, :data:`RECORD_KINDS`, :data:`PROPERTIES` and
:data:`ARRAYS` map each name to a :class:`Field` that code can query. The store checks every
write against it (name declared, dtype, shape rule, unit) and refuses to read an undeclared array
name, each with a :class:`~rhoml.errors.StoreError` naming the store and the name.

Shape rules are tuples of dimensions written as text: an integer (``3``), a symbol bound by the
context (``n_atoms``: atoms of the molecule; ``nao``: basis functions of the record), a free
symbol bound by the first dimension it meets (``n``, ``C``; the same symbol twice must be the same
size), or an arithmetic expression of bound symbols (``nao*(nao+1)/2``).

Families of array names are patterns with ``<field>`` placeholders (``voxels/<spec>/<pose>``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rhoml.errors import StoreError

# -- molecules (columns of the ``molecules`` table) --------------------------------------------
NUMBERS = "numbers"  # (n_atoms,) int64, atomic numbers
POSITIONS = "positions"  # (n_atoms, 3) float64, Å
CHARGE = "charge"  # () int64, total charge in e
MULTIPLICITY = "multiplicity"  # () int64, spin multiplicity 2S+1
GROUPS = "groups"  # (n_atoms,) int64, per-atom group (0 = protein/pocket, 1 = ligand), optional

# -- density records (``records`` table: one per molecule and method key) ----------------------
DENSITY_MATRIX = "density_matrix"  # (nao*(nao+1)/2,) float64, e; packed lower triangle of P
COEFFICIENTS = "coefficients"  # (nao,) float64, e per normalised basis function
NUCLEAR_CHARGES = "nuclear_charges"  # (n_atoms,) float64, e; Z, or valence charges (xTB)

STATUS_OK = "ok"  # record holds a density
STATUS_FAILED = "failed"  # record holds the one-line reason of a failed calculation

# -- record properties (``records.properties``, JSON; units in ``records.property_units``) ------
ENERGY = "energy"  # () float64, Hartree; total energy
ENERGY_NUCLEAR_REPULSION = "energy_nuclear_repulsion"  # () float64, Hartree
ENERGY_ONE_ELECTRON = "energy_one_electron"  # () float64, Hartree; kinetic + nuclear attraction
ENERGY_COULOMB = "energy_coulomb"  # () float64, Hartree; classical electron repulsion
ENERGY_XC = "energy_xc"  # () float64, Hartree; exchange-correlation
# () float64, Hartree; the exact (HF) exchange part of energy_xc (0 for pure functionals)
ENERGY_EXACT_EXCHANGE = "energy_exact_exchange"
HOMO = "homo"  # () float64, Hartree
LUMO = "lumo"  # () float64, Hartree; NaN when every orbital is occupied
GAP = "gap"  # () float64, Hartree; LUMO - HOMO
DIPOLE = "dipole"  # (3,) float64, Debye; from the density matrix and nuclei
DIPOLE_TBLITE = "dipole_tblite"  # (3,) float64, Debye; xTB's own dipole
CHARGES = "charges"  # (n_atoms,) float64, e; xTB Mulliken charges
FORCES = "forces"  # (n_atoms, 3) float64, Hartree/Bohr; -dE/dR, analytic
SCF_CYCLES = "scf_cycles"  # () int64, dimensionless
SECONDS = "seconds"  # () float64, s; wall time of the calculation
TARGET_ELECTRONS = "target_electrons"  # () float64, e; electron count a fit preserves
FIT_COULOMB_ERROR = "fit_coulomb_error"  # () float64, Hartree; (δρ|δρ) of a fit

# -- derived arrays (``arrays`` table: one per molecule and name) ------------------------------
EDG_DENSITY_VIEWS = "edg_density_views"  # (V, H, W, 4) uint8; RGB + depth images
EDG_STRUCTURE_VIEWS = "edg_structure_views"  # (V, H, W, 3) uint8; RGB ball-and-stick images
EDG_DENSITY_VARIANT = "edg_density_views/<variant>"  # (V, H, W, 4) uint8; other settings
EDG_STRUCTURE_VARIANT = "edg_structure_views/<variant>"  # (V, H, W, 3) uint8; other settings
# (F,) float32, dimensionless; EDG teacher features of one teacher (<teacher>: its weights
# fingerprint), provenance (teacher run, images, render settings) in the array metadata
EDG_TEACHER_FEATURES = "edg_teacher_features/<teacher>"
POINTS_XYZ = "points_xyz"  # (N, 3) float32, Å; point-cloud positions
POINTS_DENSITY = "points_density"  # (N,) float32, e/Bohr³; density at the points
VOXELS = "voxels/<spec>/<pose>"  # (C, n, n, n) float16, dimensionless; one cached pose
DENSNET_FIT = "densnet_fit:<basis>"  # (naux,) float64, e; label density fitted on a DenSNet basis
# Written by rhoml < 0.5 for DenSNet labels (format 1); read only by the format-1 migration.
LEGACY_DENSNET_FORCES = "densnet_forces"  # (n_atoms, 3) float64, kcal/mol/Å


@dataclass(frozen=True)
class Field:
    """One declared quantity: name (or ``<field>`` pattern), dtype, shape rule, unit."""

    name: str
    dtype: str  # numpy dtype name ("float64", "uint8", ...)
    shape: str  # shape rule, e.g. "(n_atoms, 3)"
    unit: str  # unit name of rhoml.units
    doc: str
    legacy: bool = False  # readable from old stores, never written

    @cached_property
    def dims(self) -> tuple[str, ...]:
        inner = self.shape.strip()
        if not (inner.startswith("(") and inner.endswith(")")):
            raise ValueError(f"shape rule {self.shape!r} must be parenthesised")
        return tuple(d.strip() for d in inner[1:-1].split(",") if d.strip())

    @property
    def is_pattern(self) -> bool:
        return "<" in self.name

    @cached_property
    def regex(self) -> re.Pattern:
        parts = re.split(r"<(\w+)>", self.name)
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(re.escape(part))
            else:
                out.append(rf"(?P<{part}>\d+)" if part == "pose" else rf"(?P<{part}>[^/]+)")
        return re.compile("".join(out) + r"\Z")

    def matches(self, name: str) -> bool:
        return bool(self.regex.match(name)) if self.is_pattern else name == self.name

    def shape_error(self, shape: tuple[int, ...], context: dict[str, int] | None = None) -> str:
        """Why ``shape`` breaks this field's rule ('' when it fits); ``context`` binds symbols
        such as ``n_atoms`` and ``nao``."""
        return _shape_error(self.dims, tuple(int(s) for s in shape), dict(context or {}))


def _f(name, dtype, shape, unit, doc, legacy=False) -> tuple[str, Field]:
    return name, Field(name, dtype, shape, unit, doc, legacy)


MOLECULE_FIELDS: dict[str, Field] = dict(
    [
        _f(NUMBERS, "int64", "(n_atoms,)", "dimensionless", "atomic numbers"),
        _f(POSITIONS, "float64", "(n_atoms, 3)", "angstrom", "Cartesian coordinates"),
        _f(CHARGE, "int64", "()", "e", "total charge"),
        _f(MULTIPLICITY, "int64", "()", "dimensionless", "spin multiplicity 2S+1"),
        _f(GROUPS, "int64", "(n_atoms,)", "dimensionless", "per-atom group"),
    ]
)

RECORD_KINDS: dict[str, Field] = dict(
    [
        _f(DENSITY_MATRIX, "float64", "(nao*(nao+1)/2,)", "e",
           "density matrix P, packed lower triangle (row-major tril)"),
        _f(COEFFICIENTS, "float64", "(nao,)", "e", "density expansion coefficients"),
    ]
)  # fmt: skip

#: Per-record arrays beside the density data (columns of the ``records`` table).
RECORD_ARRAYS: dict[str, Field] = dict(
    [_f(NUCLEAR_CHARGES, "float64", "(n_atoms,)", "e", "charges the density neutralises")]
)

PROPERTIES: dict[str, Field] = dict(
    [
        _f(ENERGY, "float64", "()", "hartree", "total energy"),
        _f(ENERGY_NUCLEAR_REPULSION, "float64", "()", "hartree", "nuclear repulsion energy"),
        _f(ENERGY_ONE_ELECTRON, "float64", "()", "hartree", "one-electron energy"),
        _f(ENERGY_COULOMB, "float64", "()", "hartree", "Coulomb energy"),
        _f(ENERGY_XC, "float64", "()", "hartree", "exchange-correlation energy"),
        _f(
            ENERGY_EXACT_EXCHANGE,
            "float64",
            "()",
            "hartree",
            "exact (Hartree-Fock) exchange part of the exchange-correlation energy",
        ),
        _f(HOMO, "float64", "()", "hartree", "highest occupied orbital energy"),
        _f(LUMO, "float64", "()", "hartree", "lowest unoccupied orbital energy"),
        _f(GAP, "float64", "()", "hartree", "HOMO-LUMO gap"),
        _f(DIPOLE, "float64", "(3,)", "debye", "dipole moment"),
        _f(DIPOLE_TBLITE, "float64", "(3,)", "debye", "dipole moment reported by tblite"),
        _f(CHARGES, "float64", "(n_atoms,)", "e", "atomic partial charges"),
        _f(FORCES, "float64", "(n_atoms, 3)", "hartree/bohr", "forces -dE/dR"),
        _f(SCF_CYCLES, "int64", "()", "dimensionless", "SCF iterations"),
        _f(SECONDS, "float64", "()", "s", "wall time of the calculation"),
        _f(TARGET_ELECTRONS, "float64", "()", "e", "electron count preserved by a fit"),
        _f(FIT_COULOMB_ERROR, "float64", "()", "hartree", "Coulomb norm of the fit residual"),
    ]
)

ARRAYS: dict[str, Field] = dict(
    [
        _f(EDG_DENSITY_VIEWS, "uint8", "(V, H, W, 4)", "dimensionless",
           "EDG density views: RGB + depth"),
        _f(EDG_STRUCTURE_VIEWS, "uint8", "(V, H, W, 3)", "dimensionless",
           "EDG structural views: RGB"),
        _f(EDG_DENSITY_VARIANT, "uint8", "(V, H, W, 4)", "dimensionless",
           "EDG density views rendered with other settings"),
        _f(EDG_STRUCTURE_VARIANT, "uint8", "(V, H, W, 3)", "dimensionless",
           "EDG structural views rendered with other settings"),
        _f(EDG_TEACHER_FEATURES, "float32", "(F,)", "dimensionless",
           "EDG teacher features (view-mean ResNet-18) of one teacher; provenance in the "
           "array metadata"),
        _f(POINTS_XYZ, "float32", "(N, 3)", "angstrom", "point-cloud positions"),
        _f(POINTS_DENSITY, "float32", "(N,)", "e/bohr^3", "density at the point-cloud points"),
        _f(VOXELS, "float16", "(C, n, n, n)", "dimensionless",
           "one cached voxel pose; channel names and spec in the array metadata"),
        _f(DENSNET_FIT, "float64", "(naux,)", "e",
           "label density fitted on a DenSNet flexible basis (Coulomb metric)"),
        _f(LEGACY_DENSNET_FORCES, "float64", "(n_atoms, 3)", "kcal/mol/angstrom",
           "DenSNet label forces of format-1 stores", legacy=True),
    ]
)  # fmt: skip


def array_field(name: str, where: str = "store") -> Field:
    """The declared field of array ``name`` (exact names first, then patterns); raises
    :class:`StoreError` naming ``where`` and the name if it is not declared."""
    field = ARRAYS.get(name)
    if field is not None and not field.is_pattern:
        return field
    for f in ARRAYS.values():
        if f.is_pattern and f.matches(name):
            return f
    raise StoreError(
        f"{where}: array name {name!r} is not declared in rhoml.store.schema "
        f"(declared: {', '.join(ARRAYS)})"
    )


def property_field(name: str, where: str = "store") -> Field:
    """The declared field of record property ``name``; :class:`StoreError` if undeclared."""
    try:
        return PROPERTIES[name]
    except KeyError:
        raise StoreError(
            f"{where}: record property {name!r} is not declared in rhoml.store.schema"
        ) from None


def check_value(field: Field, value, unit: str | None, where: str, context=None) -> np.ndarray:
    """Check ``value`` (array or scalar) and its ``unit`` against ``field``; returns it as an
    array of the declared dtype. Raises :class:`StoreError` naming ``where`` and the field."""
    what = f"{where}: {field.name if not field.is_pattern else 'array'}"
    if unit != field.unit:
        raise StoreError(f"{what} must be in {field.unit}, got unit {unit!r}")
    arr = np.asarray(value)
    want = np.dtype(field.dtype)
    if arr.dtype != want:
        same_kind = (arr.dtype.kind in "iu" and want.kind in "iuf") or (
            arr.dtype.kind == "f" and want.kind == "f" and arr.dtype.itemsize <= want.itemsize
        )
        if not same_kind or arr.dtype == np.bool_:
            raise StoreError(f"{what} must be {field.dtype}, got {arr.dtype}")
        arr = arr.astype(want)
    err = field.shape_error(arr.shape, context)
    if err:
        raise StoreError(f"{what} has shape {tuple(arr.shape)}, expected {field.shape}: {err}")
    return arr


def check_array_dtype(field: Field, array: np.ndarray, where: str, context=None) -> None:
    """Check an array to be written under ``field``: exact dtype and shape rule."""
    if np.dtype(array.dtype) != np.dtype(field.dtype):
        raise StoreError(f"{where}: must be {field.dtype}, got {array.dtype}")
    err = field.shape_error(array.shape, context)
    if err:
        raise StoreError(f"{where}: shape {tuple(array.shape)}, expected {field.shape}: {err}")


def check_properties(properties: dict, units: dict, where: str, context=None) -> None:
    """Check every record property and its unit against :data:`PROPERTIES`."""
    for name, value in properties.items():
        field = property_field(name, where)
        check_value(field, value, units.get(name), f"{where}: property {name!r}", context)


def describe() -> list[dict[str, str]]:
    """Every declared field as a row (table, name, dtype, shape, unit, doc), for documentation."""
    rows = []
    for table, fields in (("molecules", MOLECULE_FIELDS), ("records", RECORD_KINDS),
                          ("records", RECORD_ARRAYS), ("properties", PROPERTIES),
                          ("arrays", ARRAYS)):  # fmt: skip
        for f in fields.values():
            doc = f.doc + (" (legacy, read-only)" if f.legacy else "")
            rows.append({"table": table, "name": f.name, "dtype": f.dtype, "shape": f.shape,
                         "unit": f.unit, "doc": doc})  # fmt: skip
    return rows


# -- shape rules -----------------------------------------------------------------------------
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
        ast.FloorDiv: lambda a, b: a // b}  # fmt: skip


def _eval(node, env: dict[str, int]):
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    raise ValueError(f"unsupported shape expression {ast.dump(node)}")


def _shape_error(dims: tuple[str, ...], shape: tuple[int, ...], env: dict[str, int]) -> str:
    if len(dims) != len(shape):
        return f"{len(shape)} dimensions instead of {len(dims)}"
    exprs = []
    for rule, size in zip(dims, shape, strict=True):
        if rule.isdigit():
            if int(rule) != size:
                return f"size {size} where the rule says {rule}"
        elif rule.isidentifier():
            if rule in env and env[rule] != size:
                return f"{rule} = {env[rule]} but the array has {size}"
            env[rule] = size
        else:
            exprs.append((rule, size))
    for rule, size in exprs:
        try:
            want = _eval(ast.parse(rule, mode="eval"), env)
        except KeyError as exc:
            return f"{exc.args[0]} unknown for {rule}"
        if want != size:
            return f"{rule} = {want:g} but the array has {size}"
    return ""
