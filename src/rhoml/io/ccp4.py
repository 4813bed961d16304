"""CCP4/MRC density maps (X-ray 2Fo−Fc maps, cryo-EM maps) read through gemmi."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml.errors import InputError
from rhoml.grid import Grid
from rhoml.io import StrPath


def read_map(path: StrPath, *, normalise: bool = False) -> tuple[Grid, np.ndarray]:
    """Read a CCP4/MRC map → (grid in Å, values (nx, ny, nz)) covering the map's stored box.

    * Axis order: the file's column/row/section axes (header MAPC/MAPR/MAPS) are reordered to
      x, y, z (gemmi ``setup`` with ``MapSetup.ReorderOnly``; no symmetry expansion).
    * Voxel steps: the unit-cell axes divided by the sampling MX/MY/MZ, so non-orthogonal
      (e.g. monoclinic) cells give a skewed grid in Gemmi's orthogonalisation convention
      (a along x, b in the xy plane).
    * Position: the MRC2014 real-space ORIGIN (header words 50-52, Å; cryo-EM maps) when it is
      non-zero, else the start indices NXSTART/NYSTART/NZSTART times the voxel steps (X-ray
      maps); point (i, j, k) then sits at ``origin + (i, j, k) @ axes``.
    * Values outside the stored box are 0 when interpolated (crystal periodicity is not used).

    With ``normalise`` the values are sigma-scaled ((ρ − mean)/σ), the usual convention for
    experimental maps.
    """
    import gemmi

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        ccp4 = _read_ccp4(gemmi, path)
        ccp4.setup(float("nan"), gemmi.MapSetup.ReorderOnly)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{path.name}: not a readable CCP4/MRC map: {exc}") from None
    g = ccp4.grid
    values = np.array(g, copy=True, dtype=np.float64)
    sampling = np.array([ccp4.header_i32(w) for w in (8, 9, 10)], dtype=float)
    cell = g.unit_cell
    if np.any(sampling <= 0) or min(cell.a, cell.b, cell.c) <= 0:
        raise InputError(
            f"{path.name}: map header has no unit cell or sampling (MX/MY/MZ "
            f"{sampling.astype(int).tolist()}, cell {cell.a:g} {cell.b:g} {cell.c:g})"
        )
    orth = np.array(cell.orth.mat.tolist())  # columns: cell vectors a, b, c in Å
    axes = (orth / sampling[None, :]).T
    start = np.array([ccp4.header_i32(w) for w in (5, 6, 7)], dtype=float)  # x, y, z order
    origin = np.nan_to_num(np.array([ccp4.header_float(w) for w in (50, 51, 52)], dtype=float))
    if not np.any(origin):
        origin = start @ axes
    values = np.nan_to_num(values, nan=0.0)
    if normalise:
        std = values.std()
        values = (values - values.mean()) / (std if std > 0 else 1.0)
    return Grid(origin, axes, values.shape), values


def write_map(path: StrPath, grid: Grid, values: np.ndarray) -> Path:
    """Write an axis-aligned grid as a CCP4/MRC map via gemmi: a P1 cell equal to the grid box,
    the grid origin (Å) in the MRC2014 ORIGIN words (read back by :func:`read_map`)."""
    import gemmi

    if not np.allclose(grid.axes, np.diag(np.diag(grid.axes))):
        raise ValueError("write_map supports axis-aligned grids only")
    n = grid.shape
    cell = np.diag(grid.axes) * np.array(n)
    out = gemmi.Ccp4Map()
    out.grid = gemmi.FloatGrid(np.asarray(values, dtype=np.float32))
    out.grid.unit_cell.set(*cell, 90, 90, 90)
    out.grid.spacegroup = gemmi.SpaceGroup("P1")
    out.update_ccp4_header()
    for word, x in zip((50, 51, 52), np.asarray(grid.origin, float), strict=True):
        out.set_header_float(word, float(x))
    out.write_ccp4_map(str(path))
    return Path(path)


def _read_ccp4(gemmi, path: Path):
    """gemmi's map reader, with bzip2 and xz compressed maps decompressed first (gemmi reads
    plain and gzip files itself); the compression is recognised by content."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if not (magic.startswith(b"BZh") or magic.startswith(b"\xfd7zXZ\x00")):
        return gemmi.read_ccp4_map(str(path))
    import bz2
    import lzma
    import tempfile

    opener = bz2.open if magic.startswith(b"BZh") else lzma.open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"{path.name}: corrupt compressed map: {exc}") from None
    with tempfile.NamedTemporaryFile(suffix=".map") as tmp:
        tmp.write(raw)
        tmp.flush()
        return gemmi.read_ccp4_map(tmp.name)
