"""Config sections of a DenSNet training (checked by :mod:`rhoml.config`: strict keys, types,
ranges and choices; paths relative to the config file's folder).

A config names the family and gives these sections (``configs/densnet_*.toml``)::

    family = "densnet"
    [data]          label store and how many training frames to use
    [basis]         aux basis of the predicted density, and Δ (on the promolecule) or full
    [density_net]   coefficient network (:class:`~rhoml.models.densnet.nets.NetConfig`)
    [energy_net]    energy network (:class:`~rhoml.models.densnet.nets.NetConfig`)
    [train]         both stages: epochs, batch, learning rate, force weight, dtype, device, init

Stages: stage 1 (coefficient network) runs for ``density_epochs``, stage 2 (energy network)
for ``energy_epochs``; either may be 0. A model whose energy stage never ran (in this run or in
its ``init`` run) is a density model (dipole and density, no energies): it is not a potential.
"""

from __future__ import annotations

from dataclasses import dataclass

from rhoml.config import option
from rhoml.models.densnet.nets import NetConfig

__all__ = ["BasisSection", "DataSection", "NetConfig", "SECTIONS", "TrainSection"]


@dataclass(frozen=True)
class DataSection:
    """``store``: the label store written by ``rhoml densnet labels`` (its ``_test`` frames are
    the test set). ``n_train``: the first N training-split frames (0: all).

    Energy stage on other frames (e.g. all rMD17 training frames, whose energies and forces
    are at the store's level of theory): ``energy_file`` is any file :func:`rhoml.io.read_molecules`
    reads whose molecules carry ``energy`` and ``forces`` labels with units (rMD17/MD17
    ``.npz``: kcal/mol, kcal/mol/Å; extended XYZ); its last ``energy_validation`` frames are
    the validation set (the energy stage keeps its epoch of lowest validation loss) and the
    first ``energy_n_train`` of the others the training set (0: all). ``energy_test_file``:
    frames for the test energy and force metrics (e.g. the rMD17 test file; default: the
    store's test frames). Without ``energy_file`` the energy stage trains on the store's
    training frames, the last ``energy_validation`` of them held out for validation. An
    energy-only continuation (``[train] init``, ``density_epochs = 0``, ``energy_file``) needs no
    ``store``: it then reports no density metrics."""

    store: str = option("", path=True, doc="label store folder")
    n_train: int = option(0, min=0)
    energy_file: str = option("", path=True, doc="energies and forces for the energy stage")
    energy_n_train: int = option(0, min=0)
    energy_validation: int = option(0, min=0)
    energy_test_file: str = option("", path=True, doc="energies and forces for test metrics")


@dataclass(frozen=True)
class BasisSection:
    """Aux basis of the predicted density: a PySCF basis name, ``etb:<orbital>[:beta]`` or
    ``autoaux:<orbital>``, truncated at ``lmax_heavy`` (heavy atoms) and ``lmax_h`` (H);
    ``orthogonalise``: same-centre Coulomb- or overlap-orthogonal shells ("" none);
    ``scale_sweeps`` > 0: optimise per-element per-l exponent scales on two training densities
    first; ``mode``: ``delta`` (Δ on the promolecule prior) or ``full``. Ignored (the init
    run's basis is kept) when ``[train] init`` is given."""

    basis: str = "def2-universal-jfit"
    lmax_heavy: int = option(3, min=0, max=6)
    lmax_h: int = option(2, min=0, max=6)
    orthogonalise: str = option("", choices=("", "coulomb", "overlap"))
    scale_sweeps: int = option(0, min=0)
    mode: str = option("delta", choices=("delta", "full"))


@dataclass(frozen=True)
class TrainSection:
    """Both stages through the shared loop (Adam, cosine schedule to 2 % of ``lr``).

    ``density_epochs`` / ``energy_epochs``: epochs of stage 1 / stage 2 (0 skips the stage).
    ``force_weight``: w in mean((ΔE/σ_E)²) + w·mean((ΔF/σ_F)²). ``loss_metric``: density loss
    (δρ|δρ) (``coulomb``) or ∫δρ² (``overlap``). ``dtype``: training precision (the saved
    model predicts in float64). ``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    ``init``: a run folder whose model is continued (its basis and networks; ``[basis]`` and
    the network sections are then unused; with ``new_energy_net`` a fresh energy network from
    ``[energy_net]`` replaces the run's, on its coefficient network). ``patience``: with
    validation frames
    (``[data] energy_validation``), stop the energy stage after this many epochs without a
    lower validation loss (0: run every epoch)."""

    density_epochs: int = option(100, min=0)
    energy_epochs: int = option(200, min=0)
    batch_size: int = option(8, min=1)
    lr: float = option(5e-3, min=0.0, exclusive_min=True)
    force_weight: float = option(10.0, min=0.0)
    seed: int = option(0, min=0)
    dtype: str = option("float32", choices=("float32", "float64"))
    device: str = "cpu"
    loss_metric: str = option("coulomb", choices=("coulomb", "overlap"))
    init: str = option("", path=True, doc="run folder to continue")
    new_energy_net: bool = option(False, doc="with init: a fresh [energy_net] network")
    patience: int = option(0, min=0, doc="energy stage: epochs without validation improvement")

    def __post_init__(self) -> None:
        d = self.device
        if not (d in ("cpu", "cuda", "auto") or (d.startswith("cuda:") and d[5:].isdigit())):
            raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {d!r}")
        if self.density_epochs == 0 and self.energy_epochs == 0:
            raise ValueError("density_epochs and energy_epochs are both 0: nothing to train")
        if self.new_energy_net and not (self.init and self.energy_epochs > 0):
            raise ValueError("new_energy_net needs init and energy_epochs > 0")


#: section name -> dataclass, in the order of a config file
SECTIONS: dict[str, type] = {
    "data": DataSection,
    "basis": BasisSection,
    "density_net": NetConfig,
    "energy_net": NetConfig,
    "train": TrainSection,
}
