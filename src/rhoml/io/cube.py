"""Gaussian cube files: read and write (Bohr and e/Bohr³ on disk, Å in memory).

The reader takes what real programs write:

* Gaussian/cubegen, CP2K, CPMD, ORCA, VASP-converted cubes; lengths in Bohr, or in Å when the
  voxel counts are negative;
* molecular-orbital cubes (negative atom count) with any number of orbitals, the orbital list
  wrapping over several lines; several values per point (``NVAL`` on the origin line);
* Gaussian's ``OUTER LOOP: Z, MIDDLE LOOP: Y, INNER LOOP: X`` order named in the comment line
  (the default is x slowest, z fastest);
* Fortran ``D`` exponents, a trailing comment line after the data;
* gzip, bzip2 and xz compressed files, recognised by content.

Truncated files, binary files and non-numeric data are one-line :class:`InputError` s naming the
file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rhoml.errors import InputError
from rhoml.grid import Grid
from rhoml.io import StrPath
from rhoml.molecule import Molecule
from rhoml.units import ANGSTROM_IN_BOHR, BOHR_IN_ANGSTROM

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}


def read_text_maybe_compressed(path: StrPath) -> str:
    """The text of ``path``, decompressed when its content is gzip, bzip2 or xz."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror}") from None
    for magic, kind in _MAGIC.items():
        if raw.startswith(magic):
            import bz2
            import gzip
            import lzma

            opener = {"gzip": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}
            try:
                raw = opener[kind](raw)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
                raise InputError(f"{p.name}: corrupt {kind} data: {exc}") from None
            break
    if b"\x00" in raw[:4096]:
        raise InputError(f"{p.name}: binary file, not a text cube file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def write_cube(
    path: StrPath, grid: Grid, values: np.ndarray, molecule: Molecule | None = None,
    comment: str = "", charges: np.ndarray | None = None,
) -> Path:  # fmt: skip
    """Write ``values`` (``grid.shape``) as a cube file; coordinates are written in Bohr.

    ``charges``: the per-atom charge column (default Z). For a valence-only density pass the
    valence charges (``Density.nuclear_charges``), so that tools integrating the cube (Bader,
    critic2) balance the electrons the file holds."""
    path = Path(path)
    values = np.asarray(values, dtype=float)
    if values.shape != grid.shape:
        raise ValueError(f"values shape {values.shape} != grid shape {grid.shape}")
    numbers = molecule.numbers if molecule is not None else np.array([], dtype=int)
    positions = molecule.positions if molecule is not None else np.zeros((0, 3))
    lines = [
        (comment or "rhoml cube").replace("\n", " "),
        "values in e/bohr^3 unless stated; x slowest",
        f"{len(numbers):5d} " + " ".join(f"{v:12.6f}" for v in grid.origin * ANGSTROM_IN_BOHR),
    ]
    for n, axis in zip(grid.shape, grid.axes, strict=True):
        lines.append(f"{n:5d} " + " ".join(f"{v:12.6f}" for v in axis * ANGSTROM_IN_BOHR))
    q = np.asarray(numbers, float) if charges is None else np.asarray(charges, float)
    if len(q) != len(numbers):
        raise ValueError(f"{len(q)} charges for {len(numbers)} atoms")
    for z, c, p in zip(numbers, q, positions, strict=True):
        lines.append(
            f"{int(z):5d} {float(c):12.6f} " + " ".join(f"{v:12.6f}" for v in p * ANGSTROM_IN_BOHR)
        )
    # one format string per z-line (6 values per text line, as cube readers expect)
    nz = values.shape[2]
    row_fmt = "\n".join(" ".join(["%13.5E"] * min(6, nz - s)) for s in range(0, nz, 6))
    body = [row_fmt % tuple(row) for row in values.reshape(-1, nz).tolist()]
    path.write_text("\n".join(lines + body) + "\n")
    return path


def _floats(fields: list[str], where: str) -> np.ndarray:
    try:
        return np.array([f.replace("D", "E").replace("d", "e") for f in fields], dtype=float)
    except ValueError:
        raise InputError(f"{where}: expected numbers, got {' '.join(fields)!r}") from None


def _loop_order(comment: str) -> tuple[int, int, int]:
    """Axis order of the data from "OUTER LOOP: Z, MIDDLE LOOP: Y, INNER LOOP: X" (Gaussian);
    (0, 1, 2) = x slowest (the default)."""
    m = re.search(r"OUTER\s+LOOP:\s*([XYZ]).*?MIDDLE\s+LOOP:\s*([XYZ]).*?INNER\s+LOOP:\s*([XYZ])",
                  comment, re.IGNORECASE)  # fmt: skip
    if not m:
        return (0, 1, 2)
    order = tuple("XYZ".index(c.upper()) for c in m.groups())
    return order if sorted(order) == [0, 1, 2] else (0, 1, 2)


def read_cube(path: StrPath, dataset: int = 0) -> tuple[Molecule | None, Grid, np.ndarray]:
    """Read a cube file → (molecule or None, grid in Å, values (nx, ny, nz)).

    ``dataset``: which of several values per point to return (an orbital of an MO cube, counted
    from 0 in the file's order)."""
    path = Path(path)
    name = path.name
    lines = read_text_maybe_compressed(path).splitlines()
    if len(lines) < 6:
        raise InputError(f"{name}: truncated cube header ({len(lines)} lines)")
    try:
        head = lines[2].split()
        natoms = int(head[0])
        origin = _floats(head[1:4], f"{name}: line 3")
        nval = int(head[4]) if len(head) > 4 else 1
        shape, axes, in_angstrom = [], [], []
        for i in range(3):
            f = lines[3 + i].split()
            n = int(f[0])
            shape.append(abs(n))
            in_angstrom.append(n < 0)
            axes.append(_floats(f[1:4], f"{name}: line {4 + i}"))
        if min(shape) < 1 or nval < 1:
            raise ValueError(f"grid {shape}, {nval} values per point")
        scale = BOHR_IN_ANGSTROM if not any(in_angstrom) else 1.0
        numbers, positions = [], []
        for i in range(abs(natoms)):
            f = lines[6 + i].split()
            numbers.append(int(f[0]))
            positions.append(_floats(f[2:5], f"{name}: line {7 + i}") * scale)
        start = 6 + abs(natoms)
        if natoms < 0:  # MO cube: "N_MO mo_1 ... mo_N", wrapped over as many lines as needed
            ids: list[str] = []
            n_mo = None
            while n_mo is None or len(ids) < n_mo:
                if start >= len(lines):
                    raise ValueError("orbital list cut short")
                ids += lines[start].split()
                start += 1
                if n_mo is None and ids:
                    n_mo = int(ids.pop(0))
            nval = max(nval, n_mo or 1)
    except (IndexError, ValueError) as exc:
        raise InputError(f"{name}: malformed cube header: {exc}") from None
    if not 0 <= dataset < nval:
        raise InputError(f"{name}: dataset {dataset} not in the file ({nval} per point)")
    expected = int(np.prod(shape)) * nval
    values: list[np.ndarray] = []
    count = 0
    for k in range(start, len(lines)):
        if count >= expected:
            break  # anything after the data (a trailing comment line) is ignored
        fields = lines[k].split()
        if not fields:
            continue
        row = _floats(fields, f"{name}: line {k + 1}")
        values.append(row)
        count += len(row)
    data = np.concatenate(values) if values else np.zeros(0)
    if data.size < expected:
        raise InputError(f"{name}: truncated cube data: {data.size} of {expected} values")
    data = data[:expected].reshape(-1, nval)[:, dataset]
    order = _loop_order(lines[1] + " " + lines[0])
    data = data.reshape([shape[a] for a in order]).transpose(np.argsort(order))
    grid = Grid(origin * scale, np.array(axes) * scale, tuple(shape))
    molecule = None
    if numbers and all(z > 0 for z in numbers):
        molecule = Molecule(
            np.array(numbers), np.array(positions), id=path.stem, source=str(path),
            multiplicity=1 + (sum(numbers) % 2),
        )  # fmt: skip
    return molecule, grid, np.ascontiguousarray(data)
