"""CCP4/MRC density maps (X-ray 2Fo−Fc maps, cryo-EM maps) read through gemmi."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml.errors import InputError
from rhoml.grid import Grid


def read_map(path, *, normalise: bool = False) -> tuple[Grid, np.ndarray]:
    """Read a CCP4/MRC map → (grid in Å, values (nx, ny, nz)) covering the map's stored box.

    The map's axis order is normalised to x, y, z (gemmi ``setup``). With ``normalise`` the
    values are sigma-scaled ((ρ − mean)/σ), the usual convention for experimental maps.
    """
    import gemmi

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        ccp4 = gemmi.read_ccp4_map(str(path))
        ccp4.setup(float("nan"))
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{path.name}: not a readable CCP4/MRC map: {exc}") from None
    g = ccp4.grid
    values = np.array(g, copy=True, dtype=np.float64)
    # gemmi grids span the whole unit cell; the step vectors are the cell axes / grid size
    orth = np.array(g.unit_cell.orth.mat.tolist())
    axes = (orth / np.array([g.nu, g.nv, g.nw])[None, :]).T
    # MRC2014 stores a real-space origin (Å) in header words 50-52 (cryo-EM maps use it)
    origin = np.array([ccp4.header_float(w) for w in (50, 51, 52)], dtype=float)
    origin = np.nan_to_num(origin)
    values = np.nan_to_num(values, nan=0.0)
    if normalise:
        std = values.std()
        values = (values - values.mean()) / (std if std > 0 else 1.0)
    return Grid(origin, axes, values.shape), values


def write_map(path, grid: Grid, values: np.ndarray) -> Path:
    """Write an axis-aligned grid as a CCP4 map (P1 cell equal to the grid box) via gemmi."""
    import gemmi

    if not np.allclose(grid.axes, np.diag(np.diag(grid.axes))):
        raise ValueError("write_map supports axis-aligned grids only")
    if not np.allclose(grid.origin, 0.0):
        raise ValueError("write_map writes cells starting at the origin; shift the grid first")
    n = grid.shape
    cell = np.diag(grid.axes) * np.array(n)
    out = gemmi.Ccp4Map()
    out.grid = gemmi.FloatGrid(np.asarray(values, dtype=np.float32))
    out.grid.unit_cell.set(*cell, 90, 90, 90)
    out.grid.spacegroup = gemmi.SpaceGroup("P1")
    out.update_ccp4_header()
    out.write_ccp4_map(str(path))
    return Path(path)


def load_map_density(path, *, normalise: bool = False):
    """A CCP4/MRC map as a :class:`~rhoml.density.sampled.SampledDensity`."""
    from rhoml.density.sampled import SampledDensity

    grid, values = read_map(path, normalise=normalise)
    unit = "sigma" if normalise else "map"
    return SampledDensity(grid, values, unit, None, engine="file", level="ccp4",
                          provenance={"file": str(path)})  # fmt: skip
