"""The dataset store: one SQLite database (WAL mode) holding molecules, labels, density records
and derived arrays. See docs/store.md for the design and why SQLite.

Layout: a directory ``NAME/`` with ``rhoml.sqlite``. Every record is written in its own
transaction, so a batch killed at any point keeps everything that finished; any number of
processes may read and write at once (SQLite serialises writers, ``busy_timeout`` waits).

Every quantity written or read goes through :mod:`rhoml.store.schema` (declared names, dtypes,
shape rules and units). Format 2 differs from format 1 in how DenSNet labels are kept (format
1: records ``densnet:<functional>/<basis>/g<grid>[+df]`` with forces in arrays
``densnet_forces``, kcal/mol/Å; format 2: ordinary ``dft`` records whose properties hold the
forces in Hartree/Bohr) and in the names of images rendered under a free name (now variants
``edg_density_views/<name>``). A format-1 store is migrated when opened for writing
(:func:`migrate`, ``rhoml store migrate``); read-only it opens as is unless it holds such labels
or images.

Integrity: every density record and array is written with a checksum (CRC-32 of each of its
blobs, and of a record's properties text) in a ``checksum`` column, verified when it is read; a
mismatch is a :class:`StoreError` naming the store, the record and the part that changed. Rows
written without one (stores from before checksums, whose column is added when the store is
opened for writing) are read unchecked. Non-finite values (NaN, Inf) are refused on write.

Compression: an array may be stored through a lossless codec (:mod:`rhoml.store.codec`, named in
the ``codec`` column, which is added like the checksum column to stores from before it); rendered
image stacks are, about 8× smaller. Reading decodes transparently.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import StoreError
from rhoml.molecule import Molecule
from rhoml.store import schema

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DB_NAME = "rhoml.sqlite"
#: Record key of DenSNet labels in format-1 stores.
LEGACY_LABEL_KEY = re.compile(
    r"densnet:(?P<functional>[^/]+)/(?P<basis>.+)/g(?P<grid_level>\d+)(?P<df>\+df)?\Z"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS molecules (
    idx INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    numbers BLOB NOT NULL,
    positions BLOB NOT NULL,
    charge INTEGER NOT NULL,
    multiplicity INTEGER NOT NULL,
    groups BLOB,
    labels TEXT NOT NULL,
    label_units TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bases (hash TEXT PRIMARY KEY, basis TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    molecule INTEGER NOT NULL REFERENCES molecules(idx),
    method TEXT NOT NULL,
    engine TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    kind TEXT,
    basis TEXT REFERENCES bases(hash),
    data BLOB,
    nao INTEGER,
    nuclear_charges BLOB,
    valence INTEGER,
    properties TEXT,
    property_units TEXT,
    provenance TEXT,
    seconds REAL,
    created REAL NOT NULL,
    checksum TEXT,
    UNIQUE (molecule, method)
);
CREATE INDEX IF NOT EXISTS records_method ON records(method, status);
CREATE TABLE IF NOT EXISTS arrays (
    molecule INTEGER NOT NULL REFERENCES molecules(idx),
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    unit TEXT NOT NULL,
    data BLOB NOT NULL,
    meta TEXT NOT NULL,
    checksum TEXT,
    codec TEXT,
    PRIMARY KEY (molecule, name)
);
"""


def _to_json(obj: Any) -> str:
    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"not JSON-serialisable: {type(o).__name__}")

    return json.dumps(obj, default=default, sort_keys=True)


def _blob(a: np.ndarray, dtype) -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


def checksum(*parts: bytes | str | None) -> str:
    """The ``checksum`` column value of a row: the CRC-32 of each part, in hex, space separated
    (a text part is encoded as UTF-8, a missing one counts as empty)."""
    out = []
    for part in parts:
        data = part.encode() if isinstance(part, str) else (part or b"")
        out.append(f"{zlib.crc32(data):08x}")
    return " ".join(out)


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _check_finite(a: np.ndarray, where: str) -> None:
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        raise StoreError(f"{where}: contains NaN or Inf; not stored")


class Store:
    """A rhoml dataset store. Open with :meth:`open` (existing) or :meth:`create`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self._conn = conn
        self.readonly = readonly
        self.migrated: dict | None = None  # counts of the migration done on opening, if any
        self._checksums = False  # whether the tables have a checksum column
        self._bases: dict[str, dict] = {}  # basis hash → parsed basis (shared by records)
        self._codecs = False  # whether the arrays table has a codec column

    # -- opening -----------------------------------------------------------------------------
    @staticmethod
    def _connect(db: Path, readonly: bool) -> sqlite3.Connection:
        uri = f"file:{db}?mode={'ro' if readonly else 'rwc'}"
        conn = sqlite3.connect(uri, uri=True, timeout=120.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=120000")
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @classmethod
    def create(cls, path) -> Store:
        """Create a store at ``path`` (a directory), or open it if it is already a store."""
        path = Path(path)
        if path.exists() and not (path / DB_NAME).exists():
            if path.is_file() or any(path.iterdir()):
                raise StoreError(f"{path}: exists and is not a rhoml store")
        path.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path / DB_NAME, readonly=False)
        with _transaction(conn):
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),)
            )
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (str(time.time()),))
            from rhoml import __version__

            conn.execute("INSERT OR IGNORE INTO meta VALUES ('rhoml_version', ?)", (__version__,))
        store = cls(path, conn, readonly=False)
        store._check_version()
        store._prepare_checksums()
        return store

    @classmethod
    def open(cls, path, *, readonly: bool = False) -> Store:
        """Open an existing store; raise :class:`StoreError` if missing or incompatible."""
        path = Path(path)
        db = path / DB_NAME
        if not db.exists():
            raise StoreError(f"{path}: not a rhoml store (no {DB_NAME})")
        try:
            conn = cls._connect(db, readonly)
            store = cls(path, conn, readonly)
            store._check_version()
            store._prepare_checksums()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: unreadable store: {exc}") from None
        return store

    def _check_version(self) -> None:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: unreadable store: {exc}") from None
        if row is None:
            raise StoreError(f"{self.path}: store has no format version")
        version = int(row[0])
        if version not in READABLE_VERSIONS:
            raise StoreError(
                f"{self.path}: store format {row[0]} was written by an incompatible rhoml "
                f"(this version reads formats {', '.join(map(str, READABLE_VERSIONS))})"
            )
        if version == FORMAT_VERSION:
            return
        if not self.readonly:
            self.migrated = {"from_format": version, **migrate(self)}
        elif _legacy_label_methods(self._conn) or _undeclared_arrays(self._conn):
            raise StoreError(
                f"{self.path}: format-{version} store with DenSNet labels or rendered images in "
                f"the old layout; run `rhoml store migrate {self.path}` once"
            )

    def _prepare_checksums(self) -> None:
        """Add the checksum columns to a store written before them (when writable); note
        whether rows can carry checksums."""
        tables = ("records", "arrays")
        missing = [t for t in tables if not _has_column(self._conn, t, "checksum")]
        if missing and not self.readonly:
            with _transaction(self._conn):
                for table in missing:
                    if not _has_column(self._conn, table, "checksum"):
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN checksum TEXT")
            missing = []
        self._checksums = not missing
        self._codecs = _has_column(self._conn, "arrays", "codec")
        if not self._codecs and not self.readonly:
            with _transaction(self._conn):
                if not _has_column(self._conn, "arrays", "codec"):
                    self._conn.execute("ALTER TABLE arrays ADD COLUMN codec TEXT")
            self._codecs = True

    def _verify(self, stored: str | None, parts: list[tuple[int, str, bytes | str | None]],
                where: str) -> None:  # fmt: skip
        """Compare parts of a row, given as (field position in the checksum, name, value), with
        its stored checksum (nothing to do without one); :class:`StoreError` naming ``where``
        and the part on a mismatch."""
        if not stored:
            return
        fields = stored.split()
        for pos, name, value in parts:
            if pos < len(fields) and checksum(value) != fields[pos]:
                raise StoreError(f"{where}: {name} corrupt (checksum mismatch)")

    def _fetchone(self, sql: str, args: tuple):
        """One row of a read query; an unreadable database file is a :class:`StoreError`."""
        try:
            return self._conn.execute(sql, args).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: unreadable store: {exc}") from None

    def _checksum_column(self) -> str:
        return "checksum" if self._checksums else "NULL"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- molecules ---------------------------------------------------------------------------
    def add_molecules(self, molecules: Iterable[Molecule]) -> list[int]:
        """Add molecules (idempotent by ``id``); returns their store indices in input order."""
        out = []
        with _transaction(self._conn):
            for m in molecules:
                row = self._conn.execute(
                    "SELECT idx, numbers, positions FROM molecules WHERE name=?", (m.id,)
                ).fetchone()
                if row is not None:
                    same_atoms = np.array_equal(np.frombuffer(row[1], dtype=np.int64), m.numbers)
                    old = np.frombuffer(row[2], dtype=np.float64).reshape(-1, 3)
                    if not same_atoms or not np.allclose(old, m.positions, rtol=0, atol=1e-6):
                        what = "atoms" if not same_atoms else "geometry"
                        raise StoreError(
                            f"{m.source or m.id}: id {m.id!r} is already in {self.path} "
                            f"with a different {what}; ids must be unique"
                        )
                    out.append(int(row[0]))
                    continue
                where = f"{self.path}: molecule {m.id!r}"
                ctx = {"n_atoms": m.n_atoms}
                for name, value in ((schema.NUMBERS, m.numbers), (schema.POSITIONS, m.positions)):
                    field = schema.MOLECULE_FIELDS[name]
                    schema.check_array_dtype(field, value, f"{where}: {name}", ctx)
                if m.groups is not None:
                    field = schema.MOLECULE_FIELDS[schema.GROUPS]
                    schema.check_array_dtype(field, m.groups, f"{where}: groups", ctx)
                new = self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM molecules")
                idx = int(new.fetchone()[0])
                self._conn.execute(
                    "INSERT INTO molecules (idx, name, numbers, positions, charge, multiplicity,"
                    " groups, labels, label_units, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        idx,
                        m.id,
                        _blob(m.numbers, np.int64),
                        _blob(m.positions, np.float64),
                        m.charge,
                        m.multiplicity,
                        None if m.groups is None else _blob(m.groups, np.int64),
                        _to_json(m.labels),
                        _to_json(m.label_units),
                        m.source,
                    ),
                )
                out.append(idx)
        return out

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM molecules").fetchone()[0])

    def indices(self) -> list[int]:
        return [r[0] for r in self._conn.execute("SELECT idx FROM molecules ORDER BY idx")]

    def molecule(self, idx: int) -> Molecule:
        """The molecule stored at index ``idx`` (positions in Å)."""
        row = self._conn.execute(
            "SELECT name, numbers, positions, charge, multiplicity, groups, labels, label_units,"
            " source FROM molecules WHERE idx=?",
            (int(idx),),
        ).fetchone()
        if row is None:
            raise KeyError(f"{self.path}: no molecule with index {idx}")
        name, numbers, positions, charge, mult, groups, labels, units, source = row
        labels = json.loads(labels)
        return Molecule(
            np.frombuffer(numbers, dtype=np.int64).copy(),
            np.frombuffer(positions, dtype=np.float64).reshape(-1, 3).copy(),
            charge, mult, name, labels, json.loads(units),
            None if groups is None else np.frombuffer(groups, dtype=np.int64).copy(), source,
        )  # fmt: skip

    def molecules(self) -> Iterator[tuple[int, Molecule]]:
        for idx in self.indices():
            yield idx, self.molecule(idx)

    # -- density records ---------------------------------------------------------------------
    def _basis_hash(self, basis: dict) -> str:
        text = _to_json(basis)
        h = hashlib.sha1(text.encode()).hexdigest()[:16]
        self._conn.execute("INSERT OR IGNORE INTO bases VALUES (?, ?)", (h, text))
        return h

    def put_density(self, idx: int, method: str, density, seconds: float | None = None) -> None:
        """Store ``density`` for molecule ``idx`` under ``method`` (replaces a failure)."""
        where = f"{self.path}: {method} record of molecule {idx}"
        if density.kind not in schema.RECORD_KINDS:
            raise StoreError(f"{where}: record kind {density.kind!r} is not declared")
        nao = density.data.shape[0]
        packed = density.data[np.tril_indices(nao)] if density.kind == "density_matrix" else None
        ctx = {"nao": nao, "n_atoms": density.molecule.n_atoms}
        kind = schema.RECORD_KINDS[density.kind]
        data = schema.check_value(kind, density.data if packed is None else packed, "e",
                                  f"{where}: {density.kind}", ctx)  # fmt: skip
        zfield = schema.RECORD_ARRAYS[schema.NUCLEAR_CHARGES]
        zs = schema.check_value(zfield, density.nuclear_charges, "e", f"{where}: charges", ctx)
        schema.check_properties(density.properties, density.property_units, where, ctx)
        _check_finite(data, f"{where}: {density.kind}")
        _check_finite(zs, f"{where}: nuclear charges")
        for name, value in density.properties.items():
            if isinstance(value, np.ndarray):
                _check_finite(value, f"{where}: property {name!r}")
        blob, zblob = _blob(data, np.float64), _blob(zs, np.float64)
        props = _to_json(density.properties)
        with _transaction(self._conn):
            bh = self._basis_hash(density.basis)
            self._conn.execute(
                "INSERT OR REPLACE INTO records (molecule, method, engine, level, status, reason,"
                " kind, basis, data, nao, nuclear_charges, valence, properties, property_units,"
                " provenance, seconds, created, checksum)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    int(idx), method, density.engine, density.level, schema.STATUS_OK, None,
                    density.kind, bh, blob, nao, zblob, int(density.valence), props,
                    _to_json(density.property_units), _to_json(density.provenance),
                    seconds, time.time(), checksum(blob, zblob, props),
                ),
            )  # fmt: skip

    def put_failure(
        self, idx: int, method: str, engine: str, level: str, reason: str, seconds=None
    ) -> None:
        """Record that ``method`` failed on molecule ``idx`` with a one-line ``reason``."""
        with _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO records (molecule, method, engine, level, status, reason,"
                " seconds, created) VALUES (?,?,?,?,?,?,?,?)",
                (int(idx), method, engine, level, schema.STATUS_FAILED, reason, seconds,
                 time.time()),
            )  # fmt: skip

    def finished(self, method: str, *, include_failed: bool = True) -> set[int]:
        """Indices of molecules with a record for ``method`` (ok, and failed unless excluded)."""
        q = "SELECT molecule FROM records WHERE method=?"
        if not include_failed:
            q += " AND status='ok'"
        return {r[0] for r in self._conn.execute(q, (method,))}

    def methods(self, *, having: str | None = None) -> list[str]:
        """Record keys in the store; with ``having``, only those with an ok record holding the
        declared property ``having``."""
        if having is None:
            return [r[0] for r in self._conn.execute("SELECT DISTINCT method FROM records")]
        schema.property_field(having, str(self.path))
        rows = self._conn.execute(
            "SELECT DISTINCT method FROM records WHERE status='ok' AND instr(properties, ?) > 0",
            (json.dumps(having) + ":",),
        )
        return sorted(r[0] for r in rows)

    def resolve_method(self, method: str) -> str:
        """The record key ``method`` names: the key itself, or an engine name (``xtb``,
        ``dft``, ...) standing for the store's one record key of that engine
        (``dft:B3LYP/6-31G**:61ccf8``). One-line :class:`StoreError` listing the keys when it
        names none or several."""
        methods = self.methods()
        if method in methods:
            return method
        same_engine = sorted(m for m in methods if m.split(":", 1)[0] == method)
        if len(same_engine) == 1:
            return same_engine[0]
        if same_engine:
            raise StoreError(
                f"{self.path}: several {method} density records ({', '.join(same_engine)}); "
                "choose one by its key"
            )
        raise StoreError(
            f"{self.path}: no density records for method {method!r} "
            f"(the store has {', '.join(sorted(methods)) or 'none'})"
        )

    def failures(self, method: str | None = None) -> list[tuple[int, str, str]]:
        """(molecule index, method, reason) of every failed record."""
        q = "SELECT molecule, method, reason FROM records WHERE status='failed'"
        args: tuple = ()
        if method:
            q += " AND method=?"
            args = (method,)
        return [tuple(r) for r in self._conn.execute(q + " ORDER BY molecule", args)]

    def density(self, idx: int, method: str | None = None):
        """The stored :class:`~rhoml.density.base.Density` of molecule ``idx``.

        ``method`` may be omitted when the store holds a single method."""
        from rhoml.density.base import Density

        if method is None:
            methods = self.methods()
            if len(methods) != 1:
                raise StoreError(
                    f"{self.path}: choose a method, the store has {', '.join(methods) or 'none'}"
                )
            method = methods[0]
        row = self._fetchone(
            "SELECT status, reason, engine, level, kind, basis, data, nao, nuclear_charges,"
            f" valence, properties, property_units, provenance, {self._checksum_column()}"
            " FROM records WHERE molecule=? AND method=?",
            (int(idx), method),
        )
        if row is None:
            raise KeyError(f"{self.path}: no {method} record for molecule {idx}")
        status, reason, engine, level, kind, bh, data, nao, zs, val, props, punits, prov, crc = row
        if status != schema.STATUS_OK:
            raise StoreError(f"{self.path}: molecule {idx} failed for {method}: {reason}")
        self._verify(crc, [(0, kind, data), (1, "nuclear charges", zs), (2, "properties", props)],
                     f"{self.path}: {method} record of molecule {idx}")  # fmt: skip
        basis = self._bases.get(bh)
        if basis is None:  # parsed once per store and basis: records share the dict (read-only)
            basis = json.loads(
                self._conn.execute("SELECT basis FROM bases WHERE hash=?", (bh,)).fetchone()[0]
            )
            self._bases[bh] = basis
        flat = np.frombuffer(data, dtype=np.float64)
        field = schema.RECORD_KINDS.get(kind)
        err = "undeclared kind" if field is None else field.shape_error(flat.shape, {"nao": nao})
        if err:
            raise StoreError(f"{self.path}: {method} record of molecule {idx} is corrupt: {err}")
        if kind == "density_matrix":
            mat = np.zeros((nao, nao))
            mat[np.tril_indices(nao)] = flat
            mat = mat + mat.T - np.diag(np.diag(mat))
        else:
            mat = flat.copy()
        props = json.loads(props)
        units = json.loads(punits)
        for k, v in props.items():
            if isinstance(v, list):
                props[k] = np.asarray(v)
        return Density(
            self.molecule(idx), basis, kind, mat, np.frombuffer(zs, dtype=np.float64).copy(),
            engine, level, bool(val), props, units, json.loads(prov),
        )  # fmt: skip

    def record_properties(self, method: str) -> dict[int, dict]:
        """{molecule index: properties} of the ok records of ``method`` (no arrays loaded)."""
        rows = self._conn.execute(
            f"SELECT molecule, properties, {self._checksum_column()} FROM records"
            " WHERE method=? AND status='ok'",
            (method,),
        )
        out = {}
        for mol, props, crc in rows:
            self._verify(
                crc, [(2, "properties", props)], f"{self.path}: {method} record of molecule {mol}"
            )
            out[mol] = json.loads(props)
        return out

    def records(self, method: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record (of ``method``, or all) as a dict: ``molecule`` (index), ``method``,
        ``engine``, ``level``, ``status``, ``reason``, ``kind``, ``properties`` (arrays as
        numpy), ``property_units``, ``provenance``, ``seconds``; ordered by molecule, method."""
        q = ("SELECT molecule, method, engine, level, status, reason, kind, properties,"
             f" property_units, provenance, seconds, {self._checksum_column()}"
             " FROM records")  # fmt: skip
        args: tuple = ()
        if method is not None:
            q += " WHERE method=?"
            args = (method,)
        for row in self._conn.execute(q + " ORDER BY molecule, method", args).fetchall():
            mol, meth, engine, level, status, reason, kind, props, units, prov, secs, crc = row
            self._verify(
                crc, [(2, "properties", props)], f"{self.path}: {meth} record of molecule {mol}"
            )
            props = json.loads(props) if props else {}
            for k, v in props.items():
                if isinstance(v, list):
                    props[k] = np.asarray(v)
            yield {
                "molecule": mol, "method": meth, "engine": engine, "level": level,
                "status": status, "reason": reason, "kind": kind, "properties": props,
                "property_units": json.loads(units) if units else {},
                "provenance": json.loads(prov) if prov else {}, "seconds": secs,
            }  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """Counts per method and status, timings, and store metadata (for ``rhoml info``)."""
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        methods = {}
        for method, engine, level, status, n, secs in self._conn.execute(
            "SELECT method, engine, level, status, COUNT(*), AVG(seconds) FROM records"
            " GROUP BY method, status"
        ):
            entry = methods.setdefault(
                method, {"engine": engine, "level": level, "ok": 0, "failed": 0}
            )
            entry[status] = n
            if status == schema.STATUS_OK:
                entry["mean_seconds"] = secs
        arrays = dict(
            self._conn.execute("SELECT name, COUNT(*) FROM arrays GROUP BY name").fetchall()
        )
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return {
            "path": str(self.path),
            "format_version": int(meta.get("format_version", 0)),
            "rhoml_version": meta.get("rhoml_version"),
            "molecules": len(self),
            "methods": methods,
            "arrays": arrays,
            "bytes": size,
        }

    # -- derived arrays ----------------------------------------------------------------------
    def _n_atoms(self, idx: int) -> int:
        row = self._conn.execute("SELECT numbers FROM molecules WHERE idx=?", (int(idx),))
        row = row.fetchone()
        if row is None:
            raise KeyError(f"{self.path}: no molecule with index {idx}")
        return len(row[0]) // 8

    def put_array(self, idx: int, name: str, array: np.ndarray, unit: str | None = None, *,
                  codec: str | None = None, **meta) -> None:  # fmt: skip
        """Store a derived array (voxels, images...) for molecule ``idx``. ``name`` must be
        declared in :mod:`rhoml.store.schema`, the array must have its dtype and shape rule, and
        ``unit`` (default: the declared one) must be the declared unit; :class:`StoreError`
        otherwise. The unit is stored with the array. ``codec``: store it compressed
        (lossless, :mod:`rhoml.store.codec`, e.g. ``"image-up-zlib"`` for uint8 images);
        :meth:`get_array` decodes it. The checksum covers the stored bytes."""
        from rhoml.store import codec as codecs

        where = f"{self.path}: array {name!r} of molecule {idx}"
        field = schema.array_field(name, str(self.path))
        if field.legacy:
            raise StoreError(f"{where}: {name!r} is a legacy name, read-only")
        unit = field.unit if unit is None else unit
        if unit != field.unit:
            raise StoreError(f"{where}: must be in {field.unit}, got unit {unit!r}")
        a = np.ascontiguousarray(array)
        schema.check_array_dtype(field, a, where, {"n_atoms": self._n_atoms(idx)})
        _check_finite(a, where)
        try:
            data = codecs.encode(a, codec)
        except StoreError as exc:
            raise StoreError(f"{where}: {exc}") from None
        with _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO arrays (molecule, name, dtype, shape, unit, data, meta,"
                " checksum, codec) VALUES (?,?,?,?,?,?,?,?,?)",
                (int(idx), name, a.dtype.str, _to_json(list(a.shape)), unit, data,
                 _to_json(meta), checksum(data), codec),
            )  # fmt: skip

    def get_array(self, idx: int, name: str, *, unit: str | None = None) -> np.ndarray:
        """A derived array (``name`` declared in :mod:`rhoml.store.schema`); with ``unit``,
        raise :class:`~rhoml.errors.UnitError` unless it is stored in that unit."""
        from rhoml.store import codec as codecs
        from rhoml.units import check_unit

        schema.array_field(name, str(self.path))
        row = self._fetchone(
            f"SELECT dtype, shape, unit, data, {self._checksum_column()},"
            f" {'codec' if self._codecs else 'NULL'} FROM arrays WHERE molecule=? AND name=?",
            (int(idx), name),
        )
        if row is None:
            raise KeyError(f"{self.path}: no array {name!r} for molecule {idx}")
        dtype, shape, stored_unit, data, crc, codec = row
        where = f"{self.path}: array {name!r} of molecule {idx}"
        self._verify(crc, [(0, "data", data)], where)
        if unit is not None:
            check_unit(stored_unit, unit, where)
        try:
            return codecs.decode(data, codec, np.dtype(dtype), tuple(json.loads(shape)))
        except (StoreError, ValueError, zlib.error) as exc:
            raise StoreError(f"{where}: cannot decode ({exc})") from None

    def array_meta(self, idx: int, name: str) -> dict[str, Any]:
        """Unit and metadata stored with array ``name`` of molecule ``idx``."""
        schema.array_field(name, str(self.path))
        row = self._conn.execute(
            "SELECT unit, meta FROM arrays WHERE molecule=? AND name=?", (int(idx), name)
        ).fetchone()
        if row is None:
            raise KeyError(f"{self.path}: no array {name!r} for molecule {idx}")
        return {"unit": row[0], **json.loads(row[1])}

    def has_array(self, idx: int, name: str) -> bool:
        schema.array_field(name, str(self.path))
        q = "SELECT 1 FROM arrays WHERE molecule=? AND name=?"
        return self._conn.execute(q, (int(idx), name)).fetchone() is not None


def _legacy_label_methods(conn: sqlite3.Connection) -> list[str]:
    """Record keys of format-1 DenSNet labels in a store."""
    rows = conn.execute("SELECT DISTINCT method FROM records WHERE method LIKE 'densnet:%'")
    return [r[0] for r in rows if LEGACY_LABEL_KEY.match(r[0])]


def _undeclared_arrays(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(name, dtype, shape) of array names in a store that the schema does not declare."""
    rows = conn.execute("SELECT DISTINCT name, dtype, shape FROM arrays").fetchall()
    out = []
    for name, dtype, shape in rows:
        try:
            schema.array_field(name)
        except StoreError:
            out.append((name, dtype, shape))
    return out


def _view_variant(name: str, dtype: str, shape: str) -> str | None:
    """Format-2 name of a format-1 image array rendered under a free name (``rhoml render
    --name``): ``edg_density_views/<name>`` (RGB + depth) or ``edg_structure_views/<name>``."""
    dims = json.loads(shape)
    if np.dtype(dtype) != np.uint8 or len(dims) != 4 or "/" in name:
        return None
    base = {4: schema.EDG_DENSITY_VIEWS, 3: schema.EDG_STRUCTURE_VIEWS}.get(dims[-1])
    return None if base is None else f"{base}/{name}"


def legacy_label_key(method: str, conv_tol: float | None = None) -> str:
    """The format-2 record key of the format-1 DenSNet label key ``method``."""
    from rhoml.density.dft import label_options
    from rhoml.store.batch import MethodSpec

    m = LEGACY_LABEL_KEY.match(method)
    if m is None:
        raise ValueError(f"not a format-1 DenSNet label key: {method!r}")
    opts = {"functional": m["functional"], "basis": m["basis"],
            "grid_level": int(m["grid_level"]), "density_fit": bool(m["df"])}  # fmt: skip
    if conv_tol is not None:
        opts["conv_tol"] = conv_tol
    return MethodSpec("dft", label_options(**opts)).key


def migrate(store: Store) -> dict[str, int]:
    """Bring a format-1 store to format 2 in one transaction: DenSNet label records get the
    record key of the ``dft`` engine's label level (:func:`legacy_label_key`) and their forces
    move from the ``densnet_forces`` arrays (kcal/mol/Å) into the record properties
    (Hartree/Bohr, converted with :func:`rhoml.units.convert`); images rendered under a free
    name become variants ``edg_density_views/<name>`` / ``edg_structure_views/<name>``. Other
    undeclared array names are left as they are (listed by ``rhoml info``, not readable).
    Returns counts; a format-2 store is left alone."""
    from rhoml.units import convert

    conn = store._conn
    if store.readonly:
        raise StoreError(f"{store.path}: opened read-only, cannot migrate")
    counts = {"records": 0, "forces": 0, "dropped": 0, "images": 0}
    with _transaction(conn):
        row = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        version = int(row[0])
        if version == FORMAT_VERSION:
            return counts
        force_field = schema.ARRAYS[schema.LEGACY_DENSNET_FORCES]
        for old in _legacy_label_methods(conn):
            rows = conn.execute(
                "SELECT id, molecule, status, properties, property_units, provenance FROM records"
                " WHERE method=?",
                (old,),
            ).fetchall()
            for rid, mol, status, props, units, prov in rows:
                prov = json.loads(prov) if prov else {}
                new = legacy_label_key(old, prov.get("settings", {}).get("conv_tol"))
                clash = conn.execute(
                    "SELECT 1 FROM records WHERE molecule=? AND method=?", (mol, new)
                ).fetchone()
                if clash:  # already recomputed under the new key: keep that one
                    conn.execute("DELETE FROM records WHERE id=?", (rid,))
                    counts["dropped"] += 1
                    continue
                props = json.loads(props) if props else {}
                units = json.loads(units) if units else {}
                arr = conn.execute(
                    "SELECT dtype, shape, unit, data FROM arrays WHERE molecule=? AND name=?",
                    (mol, schema.LEGACY_DENSNET_FORCES),
                ).fetchone()
                if status == schema.STATUS_OK and arr is not None:
                    f = np.frombuffer(arr[3], dtype=np.dtype(arr[0])).reshape(json.loads(arr[1]))
                    f = schema.check_value(force_field, f, arr[2], f"{store.path}: molecule {mol}")
                    props[schema.FORCES] = convert(f, arr[2], schema.PROPERTIES[schema.FORCES].unit)
                    units[schema.FORCES] = schema.PROPERTIES[schema.FORCES].unit
                    counts["forces"] += 1
                prov["migrated_from"] = old
                if status == schema.STATUS_OK:
                    conn.execute(
                        "UPDATE records SET method=?, properties=?, property_units=?, provenance=?"
                        " WHERE id=?",
                        (new, _to_json(props), _to_json(units), _to_json(prov), rid),
                    )
                    if _has_column(conn, "records", "checksum"):
                        data, zs, text = conn.execute(
                            "SELECT data, nuclear_charges, properties FROM records WHERE id=?",
                            (rid,),
                        ).fetchone()
                        conn.execute(
                            "UPDATE records SET checksum=? WHERE id=?",
                            (checksum(data, zs, text), rid),
                        )
                else:  # a failure's level is its record key, as the batch runner writes it
                    conn.execute("UPDATE records SET method=?, level=? WHERE id=?", (new, new, rid))
                counts["records"] += 1
        conn.execute("DELETE FROM arrays WHERE name=?", (schema.LEGACY_DENSNET_FORCES,))
        for name, dtype, shape in _undeclared_arrays(conn):
            new = _view_variant(name, dtype, shape)
            if new is not None:
                cur = conn.execute(
                    "UPDATE OR IGNORE arrays SET name=? WHERE name=? AND dtype=? AND shape=?",
                    (new, name, dtype, shape),
                )
                counts["images"] += cur.rowcount
        conn.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(FORMAT_VERSION),))
    return counts


@contextmanager
def _transaction(conn: sqlite3.Connection):
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
