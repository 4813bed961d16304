"""Reference potentials for MD and harmonic IR comparisons (PySCF DFT at the DenSNet label
level), in the form :class:`rhoml.ase.RhomlCalculator` takes."""

from __future__ import annotations

import numpy as np

from rhoml.ase import FunctionPotential
from rhoml.molecule import Molecule
from rhoml.units import convert

DEFAULT_LEVEL = "PBE/def2-SVP"  # rMD17's level, the DenSNet label default


def label_settings(level: str | None = None):
    """:class:`~rhoml.store.labels.LabelSettings` of ``level``: ``"FUNCTIONAL/BASIS"`` or a label
    record key ``"dft:FUNCTIONAL/BASIS:hash"`` (what DenSNet manifests keep in
    ``build.meta.level``); None gives :data:`DEFAULT_LEVEL`. Raises
    :class:`~rhoml.errors.InputError` for anything else."""
    from rhoml.errors import InputError
    from rhoml.store.labels import LabelSettings

    text = DEFAULT_LEVEL if level is None else str(level)
    if text.startswith("dft:"):
        text = text.split(":")[1]
    functional, sep, basis = text.partition("/")
    if not sep or not functional.strip() or not basis.strip() or ":" in text:
        raise InputError(f"DFT level {level!r}: expected FUNCTIONAL/BASIS, e.g. {DEFAULT_LEVEL}")
    return LabelSettings(functional=functional.strip(), basis=basis.strip())


def run_level(manifest: dict) -> str | None:
    """``"FUNCTIONAL/BASIS"`` of the DFT labels a run was trained on (its manifest's
    ``build.meta.level``), or None where the run does not record a DFT level."""
    key = ((manifest or {}).get("build") or {}).get("meta", {}).get("level")
    if not isinstance(key, str) or not key.startswith("dft:"):
        return None
    return label_settings(key).level


def dft_potential(settings=None) -> FunctionPotential:
    """PySCF energy, forces and dipole (kcal/mol, kcal/mol/Å, Debye) at the level of the DenSNet
    labels (default PBE/def2-SVP, :class:`~rhoml.store.labels.LabelSettings`)."""
    from rhoml.store.labels import dft_energy_forces

    def fn(mol: Molecule) -> dict:
        dens, forces = dft_energy_forces(mol, settings)
        return {
            "energy": convert(dens.properties["energy"], "hartree", "kcal/mol"),
            "forces": forces,
            "dipole": np.asarray(dens.properties["dipole"]),
        }

    return FunctionPotential(fn)


def dft_harmonic(molecule: Molecule, settings=None, *, fmax: float = 5e-3,
                 progress: bool = False):  # fmt: skip
    """Harmonic IR (:class:`~rhoml.md.ir.HarmonicIR`) of the DFT reference at its own minimum,
    optimised from ``molecule`` (e.g. the model minimum; ``fmax`` eV/Å): 6N+1 PySCF gradients
    for the Hessian plus the optimisation (ethanol: tens of minutes on 2 cores)."""
    from rhoml.md.ir import harmonic_at_minimum

    return harmonic_at_minimum(dft_potential(settings), molecule, fmax=fmax, opt_steps=200,
                               progress=progress)  # fmt: skip
