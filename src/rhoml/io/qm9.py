"""QM9 (130,831 molecules) from the CSV files shipped with the ``qm9pack`` package.

qm9pack's data (``qm9pack/data/qm9_part{1,2,3}.csv``, one row per molecule, sorted by the GDB-9
index) are read directly; qm9pack's own modules are never imported (they need
``pkg_resources``). Geometries are the B3LYP/6-31G(2df,p) ones of the original data set, stored
as ``XYZ_Ang`` (a JSON-like list of [x, y, z] in Å) with ``Elements`` (a list of symbols).
The 3,054 molecules of the original 133,885 that failed the authors' consistency check are
absent, so the GDB indices run from 1 to 133,885 with gaps.

Every molecule is neutral and closed-shell (charge 0, multiplicity 1); its ``id`` is
``qm9_<gdb index, 6 digits>`` and it carries the 12 standard targets as labels, with the units
of :data:`QM9_TARGETS` (the QM9 convention, checked against the data: e.g. the mean gap is
0.252 Ha). :data:`QM9_COLUMNS` maps each target to its CSV column.

The parsed arrays are cached in memory and on disk (an ``.npz`` under ``$RHOML_CACHE_DIR``,
else ``$XDG_CACHE_HOME/rhoml``, else ``~/.cache/rhoml``; keyed by the CSVs' sizes and times), so
only the first full load parses the 225 MB of CSV. ``limit=N`` alone streams the first N rows
without parsing the rest.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rhoml.elements import atomic_number
from rhoml.errors import InputError
from rhoml.io import StrPath
from rhoml.molecule import Molecule

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: target name -> unit (QM9 convention)
QM9_TARGETS: dict[str, str] = {
    "mu": "debye",
    "alpha": "bohr^3",
    "homo": "hartree",
    "lumo": "hartree",
    "gap": "hartree",
    "r2": "bohr^2",
    "zpve": "hartree",
    "U0": "hartree",
    "U": "hartree",
    "H": "hartree",
    "G": "hartree",
    "Cv": "cal/mol/K",
}

#: target name -> column of qm9pack's CSV files
QM9_COLUMNS: dict[str, str] = {
    "mu": "Dipole_debye",
    "alpha": "Polarizability_bohr3",
    "homo": "HOMO_au",
    "lumo": "LUMO_au",
    "gap": "HOMO_LUMO_gap_au",
    "r2": "R2_bohr2",
    "zpve": "ZPVE_au",
    "U0": "InternalEnergy_0K_au",
    "U": "InternalEnergy_298K_au",
    "H": "Enthalphy_298K_au",  # sic
    "G": "GibbsFreeEnergy_298K_au",
    "Cv": "Heatcapacity_Cv_cal_mol_K",
}

#: number of molecules in qm9pack's QM9
QM9_SIZE = 130_831

CSV_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_CACHE_VERSION = 1
_MEMO: dict[str, dict[str, np.ndarray]] = {}
_SYMBOL_Z: dict[str, int] = {}
_STREAM_MAX = 5000  # selections below this row (or GDB index) are streamed when not in memory


def qm9_data_dir() -> Path:
    """qm9pack's data folder, found without importing qm9pack."""
    try:
        spec = importlib.util.find_spec("qm9pack")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise InputError("qm9: the qm9pack package is not installed (pip install qm9pack)")
    for loc in spec.submodule_search_locations:
        data = Path(loc) / "data"
        if (data / CSV_FILES[0]).exists():
            return data
    raise InputError(f"qm9: qm9pack has no data/{CSV_FILES[0]}")


def _csv_paths(data_dir) -> list[Path]:
    d = Path(data_dir) if data_dir is not None else qm9_data_dir()
    paths = [d / name for name in CSV_FILES]
    for p in paths:
        if not p.exists():
            raise InputError(f"qm9: {p}: no such file")
    return paths


# -- CSV parsing --------------------------------------------------------------------------------
def _iter_rows(paths: list[Path]) -> Iterator[tuple[int, int, int, np.ndarray, np.ndarray, list]]:
    """(file number, row number, gdb index, numbers, positions, targets) per CSV row."""
    for file_no, path in enumerate(paths):
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file")
            need = ["Index", "Elements", "XYZ_Ang", *QM9_COLUMNS.values()]
            missing = [c for c in need if c not in header]
            if missing:
                raise InputError(f"{path}: line 1: missing columns {', '.join(missing)}")
            i_idx, i_el, i_xyz = (header.index(c) for c in need[:3])
            i_t = [header.index(c) for c in QM9_COLUMNS.values()]
            for row_no, row in enumerate(reader):
                where = f"{path}#{row_no}: line {row_no + 2}: "
                try:
                    yield (file_no, row_no, int(row[i_idx]), *_parse_geometry(
                        row[i_el], row[i_xyz], where), [float(row[i]) for i in i_t])  # fmt: skip
                except (ValueError, IndexError) as exc:
                    raise InputError(f"{where}malformed row ({exc})") from None


def _parse_geometry(elements: str, xyz: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    symbols = elements.strip("[] ").replace("'", "").replace('"', "").split(",")
    numbers = np.empty(len(symbols), dtype=np.int64)
    for k, s in enumerate(symbols):
        z = _SYMBOL_Z.get(s)
        if z is None:
            z = _SYMBOL_Z[s] = atomic_number(s.strip(), where)
        numbers[k] = z
    coords = np.array(xyz.replace("[", " ").replace("]", " ").split(","), dtype=np.float64)
    if coords.size != 3 * len(numbers):
        raise InputError(f"{where}{len(numbers)} elements but {coords.size} coordinates")
    return numbers, coords.reshape(-1, 3)


def _parse_all(paths: list[Path]) -> dict[str, np.ndarray]:
    index, file_no, row_no, counts, numbers, positions, targets = [], [], [], [], [], [], []
    for f, r, gdb, z, pos, t in _iter_rows(paths):
        file_no.append(f)
        row_no.append(r)
        index.append(gdb)
        counts.append(len(z))
        numbers.append(z)
        positions.append(pos)
        targets.append(t)
    if not index:
        raise InputError(f"qm9: {paths[0].parent}: no molecules in the CSV files")
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return {
        "index": np.array(index, dtype=np.int64),
        "file_no": np.array(file_no, dtype=np.int8),
        "row_no": np.array(row_no, dtype=np.int32),
        "offsets": offsets,
        "numbers": np.concatenate(numbers).astype(np.int8),
        "positions": np.concatenate(positions),
        "targets": np.array(targets, dtype=np.float64),
    }


# -- caching ------------------------------------------------------------------------------------
def _cache_key(paths: list[Path]) -> str:
    h = hashlib.sha1(f"v{_CACHE_VERSION}".encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    from rhoml.io.cache import cache_dir

    return cache_dir()


def qm9_arrays(data_dir: StrPath | None = None, cache: bool = True) -> dict[str, np.ndarray]:
    """All of QM9 as flat arrays (parsed once, then cached in memory and on disk).

    Keys: ``index`` (n,) GDB index; ``offsets`` (n+1,) atom offsets (molecule i is
    ``offsets[i]:offsets[i+1]``); ``numbers`` (n_atoms_total,); ``positions``
    (n_atoms_total, 3) Å; ``targets`` (n, 12) in the order and units of :data:`QM9_TARGETS`;
    ``file_no``, ``row_no`` the CSV file and row of each molecule.
    """
    paths = _csv_paths(data_dir)
    key = _cache_key(paths)
    if key in _MEMO:
        return _MEMO[key]
    cache_file = _cache_dir() / f"qm9_{key}.npz"
    arrays = None
    if cache and cache_file.exists():
        try:
            with np.load(cache_file) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception:  # a corrupt or foreign cache file: parse again
            arrays = None
    if arrays is None:
        arrays = _parse_all(paths)
        if cache:
            _write_cache(cache_file, arrays)
    _MEMO[key] = arrays
    return arrays


def _write_cache(cache_file: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache_file)
    except OSError:  # a read-only home or full disk only costs speed
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


# -- public API -----------------------------------------------------------------------------------
def _molecule(gdb: int, numbers, positions, targets, source: str) -> Molecule:
    return Molecule(
        numbers, positions, charge=0, multiplicity=1, id=f"qm9_{gdb:06d}",
        labels=dict(zip(QM9_TARGETS, map(float, targets), strict=True)),
        label_units=dict(QM9_TARGETS), source=source,
    )  # fmt: skip


def iter_qm9(
    indices: ArrayLike | None = None, limit: int | None = None, *,
    gdb_indices: ArrayLike | None = None, data_dir: StrPath | None = None, cache: bool = True,
) -> Iterator[Molecule]:  # fmt: skip
    """Iterate over QM9 molecules.

    Args:
        indices: positions in the 130,831-molecule list (0-based, in GDB-index order).
        limit: at most this many molecules (the first ``limit`` of the selection).
        gdb_indices: select by original GDB-9 index (1..133,885) instead; an index that is not
            in the data set raises :class:`InputError`.
        data_dir: folder with ``qm9_part{1,2,3}.csv`` (default: qm9pack's).
        cache: use / write the on-disk cache of parsed arrays.
    """
    paths = _csv_paths(data_dir)
    if limit is not None and (int(limit) < 0):
        raise InputError(f"qm9: limit must be >= 0, got {limit}")
    if indices is not None and gdb_indices is not None:
        raise InputError("qm9: give indices or gdb_indices, not both")
    if _cache_key(paths) not in _MEMO:
        # a few molecules near the start: stream them instead of loading everything
        if indices is None and gdb_indices is None and limit is not None:
            return _stream(paths, int(limit))
        if indices is not None:
            sel = np.atleast_1d(np.asarray(indices, dtype=np.int64))
            if sel.size and sel.min() >= 0 and sel.max() < _STREAM_MAX:
                return _stream_select(paths, sel[:limit], by_gdb=False)
        if gdb_indices is not None:
            sel = np.atleast_1d(np.asarray(gdb_indices, dtype=np.int64))
            if sel.size and sel.max() < _STREAM_MAX:
                return _stream_select(paths, sel[:limit], by_gdb=True)
    arrays = qm9_arrays(data_dir, cache)
    n = len(arrays["index"])
    if gdb_indices is not None:
        wanted = np.atleast_1d(np.asarray(gdb_indices, dtype=np.int64))
        pos = np.searchsorted(arrays["index"], wanted)
        pos_c = np.minimum(pos, n - 1)
        missing = wanted[arrays["index"][pos_c] != wanted]
        if missing.size:
            raise InputError(f"qm9: GDB index {int(missing[0])} is not in the data set")
        sel = pos_c
    elif indices is None:
        sel = np.arange(n)
    else:
        sel = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        bad = sel[(sel < -n) | (sel >= n)]
        if bad.size:
            raise InputError(f"qm9: index {int(bad[0])} out of range ({n} molecules)")
        sel = sel % n
    if limit is not None:
        sel = sel[: int(limit)]
    return _from_arrays(arrays, sel, paths)


def _stream(paths: list[Path], limit: int) -> Iterator[Molecule]:
    if limit == 0:
        return
    for k, (f, r, gdb, z, pos, t) in enumerate(_iter_rows(paths)):
        yield _molecule(gdb, z, pos, t, f"{paths[f].name}#{r}")
        if k + 1 >= limit:
            return


def _stream_select(paths: list[Path], sel: np.ndarray, by_gdb: bool) -> Iterator[Molecule]:
    """Molecules ``sel`` (row positions, or GDB indices) in the order given, read by streaming
    the first rows of the CSV."""
    if sel.size == 0:
        return
    wanted = set(sel.tolist())
    found = {}
    last = max(wanted)
    for k, (f, r, gdb, z, pos, t) in enumerate(_iter_rows(paths)):
        key = gdb if by_gdb else k
        if key in wanted:
            found[key] = _molecule(gdb, z, pos, t, f"{paths[f].name}#{r}")
        if key >= last:
            break
    for key in sel.tolist():
        if key not in found:
            raise InputError(
                f"qm9: GDB index {key} is not in the data set"
                if by_gdb
                else f"qm9: index {key} out of range"
            )
        mol = found[key]
        yield mol if sel.size == len(wanted) else _copy(mol)


def _copy(mol: Molecule) -> Molecule:
    return mol.transformed()


def _from_arrays(arrays, sel: np.ndarray, paths: list[Path]) -> Iterator[Molecule]:
    index, off = arrays["index"], arrays["offsets"]
    numbers, positions, targets = arrays["numbers"], arrays["positions"], arrays["targets"]
    file_no, row_no = arrays["file_no"], arrays["row_no"]
    names = [p.name for p in paths]
    for i in sel.tolist():
        a, b = off[i], off[i + 1]
        yield _molecule(
            int(index[i]), numbers[a:b], positions[a:b], targets[i],
            f"{names[file_no[i]]}#{int(row_no[i])}",
        )  # fmt: skip


def load_qm9(
    indices: ArrayLike | None = None, limit: int | None = None, *,
    gdb_indices: ArrayLike | None = None, data_dir: StrPath | None = None, cache: bool = True,
) -> list[Molecule]:  # fmt: skip
    """QM9 molecules as a list (see :func:`iter_qm9` for the arguments)."""
    return list(iter_qm9(indices, limit, gdb_indices=gdb_indices, data_dir=data_dir, cache=cache))
