"""The file engine: densities sampled on a grid, read from cube or CCP4/MRC map files."""

from __future__ import annotations

from pathlib import Path

from rhoml.density.sampled import SampledDensity

__all__ = ["load_cube_density", "load_density_file", "load_map_density"]


def load_cube_density(path):
    """A cube file as a :class:`~rhoml.density.sampled.SampledDensity` (e/Bohr³)."""
    from rhoml.io.cube import read_cube

    molecule, grid, values = read_cube(path)
    return SampledDensity(
        grid, values, "e/bohr^3", molecule, engine="file", level="cube",
        provenance={"file": str(path)},
    )  # fmt: skip


def load_map_density(path, *, normalise: bool = False):
    """A CCP4/MRC map as a :class:`~rhoml.density.sampled.SampledDensity`."""
    from rhoml.io.ccp4 import read_map

    grid, values = read_map(path, normalise=normalise)
    unit = "sigma" if normalise else "map"
    return SampledDensity(grid, values, unit, None, engine="file", level="ccp4",
                          provenance={"file": str(path)})  # fmt: skip


def load_density_file(path):
    """A density map file by extension: ``.cube`` (e/Bohr³), else CCP4/MRC."""
    p = Path(path)
    return load_cube_density(p) if p.suffix.lower() == ".cube" else load_map_density(p)
