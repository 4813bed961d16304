"""Gaussian cube files: read and write (Bohr and e/Bohr³ on disk, Å in memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml.errors import InputError
from rhoml.grid import Grid
from rhoml.molecule import Molecule
from rhoml.units import ANGSTROM_IN_BOHR, BOHR_IN_ANGSTROM


def write_cube(
    path, grid: Grid, values: np.ndarray, molecule: Molecule | None = None, comment: str = ""
) -> Path:
    """Write ``values`` (``grid.shape``) as a cube file; coordinates are written in Bohr."""
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
    for z, p in zip(numbers, positions, strict=True):
        lines.append(
            f"{int(z):5d} {float(z):12.6f} " + " ".join(f"{v:12.6f}" for v in p * ANGSTROM_IN_BOHR)
        )
    # one format string per z-line (6 values per text line, as cube readers expect)
    nz = values.shape[2]
    row_fmt = "\n".join(" ".join(["%13.5E"] * min(6, nz - s)) for s in range(0, nz, 6))
    body = [row_fmt % tuple(row) for row in values.reshape(-1, nz).tolist()]
    path.write_text("\n".join(lines + body) + "\n")
    return path


def read_cube(path) -> tuple[Molecule | None, Grid, np.ndarray]:
    """Read a cube file → (molecule or None, grid in Å, values (nx, ny, nz))."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    lines = text.splitlines()
    if len(lines) < 6:
        raise InputError(f"{name}: truncated cube header ({len(lines)} lines)")
    try:
        head = lines[2].split()
        natoms = int(head[0])
        origin = np.array(head[1:4], dtype=float)
        shape, axes, in_angstrom = [], [], []
        for i in range(3):
            f = lines[3 + i].split()
            n = int(f[0])
            shape.append(abs(n))
            in_angstrom.append(n < 0)
            axes.append(np.array(f[1:4], dtype=float))
        scale = BOHR_IN_ANGSTROM if not any(in_angstrom) else 1.0
        numbers, positions = [], []
        for i in range(abs(natoms)):
            f = lines[6 + i].split()
            numbers.append(int(f[0]))
            positions.append(np.array(f[2:5], dtype=float) * scale)
        start = 6 + abs(natoms) + (1 if natoms < 0 else 0)
    except (IndexError, ValueError) as exc:
        raise InputError(f"{name}: malformed cube header: {exc}") from None
    expected = int(np.prod(shape))
    try:
        data = np.array(" ".join(lines[start:]).split(), dtype=float)
    except ValueError as exc:
        raise InputError(f"{name}: non-numeric value in cube data: {exc}") from None
    if data.size < expected:
        raise InputError(f"{name}: truncated cube data: {data.size} of {expected} values")
    if data.size > expected:  # multi-dataset cube: keep the first set
        data = data[: expected * (data.size // expected)].reshape(expected, -1)[:, 0]
    grid = Grid(origin * scale, np.array(axes) * scale, tuple(shape))
    molecule = None
    if numbers and all(z > 0 for z in numbers):
        molecule = Molecule(
            np.array(numbers), np.array(positions), id=path.stem, source=str(path),
            multiplicity=1 + (sum(numbers) % 2),
        )  # fmt: skip
    return molecule, grid, data.reshape(shape)
