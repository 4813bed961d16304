"""DFT labels for DenSNet: energy, forces and density from one SCF, as a resumable store job.

The labels are the ``dft`` engine with ``forces=True`` (:func:`rhoml.density.dft.compute_dft`)
at the level of rMD17: PBE/def2-SVP, grid level 4, RI-J (:data:`rhoml.density.dft.LABEL_SETTINGS`).
They are computed by the store's batch runner (:func:`rhoml.store.batch.run_batch`: a local
process pool or a Dask cluster, finished molecules skipped, failures recorded), so
``rhoml densnet labels`` and ``rhoml density compute --method dft --forces`` are the same job.
Each record holds the all-electron density matrix (every later aux-basis fit stays possible) and
the properties ``energy`` (Hartree) and ``forces`` (Hartree/Bohr), under the record key of the
level (:attr:`LabelSettings.method`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rhoml.density.base import Density
from rhoml.molecule import Molecule
from rhoml.units import convert

FORCE_UNIT = "kcal/mol/angstrom"  # unit of DenSNet training forces


@dataclass(frozen=True)
class LabelSettings:
    """Level of theory of the labels (defaults: rMD17's PBE/def2-SVP)."""

    functional: str = "PBE"
    basis: str = "def2-SVP"
    grid_level: int = 4
    conv_tol: float = 1e-10
    density_fit: bool = True  # RI-J: matches rMD17 to 0.02 kcal/mol offset (measured)

    @property
    def options(self) -> dict:
        """Options of the ``dft`` engine (forces on)."""
        from rhoml.density.dft import label_options

        return label_options(**asdict(self))

    @property
    def spec(self):
        """The batch job: :class:`~rhoml.store.batch.MethodSpec` of the ``dft`` engine."""
        from rhoml.store.batch import MethodSpec

        return MethodSpec("dft", self.options)

    @property
    def method(self) -> str:
        """Store record key of these labels."""
        return self.spec.key

    @property
    def level(self) -> str:
        return f"{self.functional}/{self.basis}"


def dft_energy_forces(
    molecule: Molecule, settings: LabelSettings | None = None
) -> tuple[Density, np.ndarray]:
    """One SCF + gradient with the ``dft`` engine. Returns the density (energy in
    ``properties['energy']``, Hartree; forces in ``properties['forces']``, Hartree/Bohr) and the
    forces (n_atoms, 3) in kcal/mol/Å. Raises :class:`~rhoml.errors.CalculationError` if the
    SCF does not converge."""
    from rhoml.density.dft import compute_dft

    s = settings or LabelSettings()
    density = compute_dft(molecule, **s.options)
    forces = convert(density.properties["forces"], density.property_units["forces"], FORCE_UNIT)
    return density, forces


def run_labels(
    store_path,
    molecules: Sequence[Molecule],
    settings: LabelSettings | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
):
    """Label every molecule not yet labelled in the store at ``store_path`` (created if needed)
    with :func:`rhoml.store.batch.run_batch`; returns its
    :class:`~rhoml.store.batch.BatchReport`."""
    from rhoml.store.batch import run_batch

    s = settings or LabelSettings()
    return run_batch(store_path, list(molecules), s.spec, workers=workers, scheduler=scheduler,
                     retry_failed=retry_failed, progress=progress)  # fmt: skip
