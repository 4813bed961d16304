"""Model families: how each kind of model is configured, trained and loaded.

A family (MACE-style registry: name → ``"module:Class"``, imported on first use) implements
:class:`Family`:

* ``sections``: its config sections, name → dataclass (checked by :mod:`rhoml.config`);
* ``train(config, run, progress=...)``: prepare data, train through the shared loop
  (:func:`rhoml.train.loop.fit`, checkpoints in ``run.checkpoints(stage)``), save the weights and
  the manifest into the :class:`~rhoml.train.run_folder.RunFolder`; returns the final metrics;
* ``load(run, device)``: the trained model as a :class:`Predictor`.

A :class:`Predictor` predicts per-molecule quantities (``outputs``: name → unit) for
:class:`~rhoml.molecule.Molecule` objects; a predictor that is a *potential* also implements
``compute(molecule)`` → energy, forces (and dipole when it has one) in the units of
``potential_units``, which :mod:`rhoml.md`, :mod:`rhoml.spectra` and the ASE calculator use.

New families add a line to :data:`FAMILIES` (or call :func:`register`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from rhoml.config import lookup
from rhoml.molecule import Molecule

#: family name -> "module:Class"
FAMILIES: dict[str, str] = {
    "voxel-cnn": "rhoml.families.voxel_cnn:VoxelCNNFamily",
    "densnet": "rhoml.families.densnet:DenSNetFamily",
    "student": "rhoml.families.student:StudentFamily",
    "imageed": "rhoml.families.imageed:ImageEDFamily",
    "edg-teacher": "rhoml.families.edg_teacher:EDTeacherFamily",
    "energy-terms": "rhoml.families.energy_terms:EnergyTermsFamily",
}


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. ``outputs``: per-molecule quantity → unit."""

    family: str
    outputs: dict[str, str]

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        """One dict per molecule: ``id`` plus one value per quantity of ``outputs``."""
        ...


@runtime_checkable
class Potential(Predictor, Protocol):
    """A predictor that gives energies and forces (for MD, IR and the ASE calculator).

    ``potential_units``: units of ``energy``, ``forces`` and (if given) ``dipole`` returned by
    :meth:`compute`."""

    potential_units: dict[str, str]

    def compute(self, molecule: Molecule) -> dict[str, Any]:
        """``energy`` (float), ``forces`` (n_atoms, 3), optionally ``dipole`` (3,)."""
        ...

    def check_molecule(self, molecule: Molecule) -> None:
        """Raise :class:`~rhoml.errors.InputError` when the model was not made for it."""
        ...


class Family(Protocol):
    name: ClassVar[str]
    sections: ClassVar[dict[str, type | None]]

    def train(self, config: dict, run, *, progress: bool = True) -> dict: ...

    def load(self, run, device: str = "cpu") -> Predictor: ...


def register(name: str, target: str) -> None:
    """Register ``target`` (``"module:Class"``) as family ``name``."""
    FAMILIES[name] = target


def get_family(name: str) -> Family:
    """The family ``name`` (an instance of its class)."""
    return lookup(FAMILIES, name, "model family")()


def is_potential(model: Any) -> bool:
    return isinstance(model, Potential)
