"""QM9 protocol for voxel models: split, targets in the literature's units, densities, voxels.

* Split: the standard random 110,000 / 10,000 / rest (10,831) split of qm9pack's 130,831
  molecules with ``numpy.random.default_rng(42)`` (:func:`rhoml.datasets.splits.qm9_split`).
  Learning-curve training sets are nested seeded subsets of the 110k training split; a study may
  evaluate on a seeded subset of the 10,831-molecule test split (the size is recorded).
* Targets in the units of the QM9 literature (SchNet, DimeNet, PaiNN tables): energies (homo,
  lumo, gap, zpve, U0, U, H, G) in meV, μ in D, α in a₀³ (bohr³), R² in a₀², Cv in cal/mol/K.
  U0, U, H and G are atomisation energies: the atomic reference energies of QM9's
  ``atomref`` table (B3LYP/6-31G(2df,p), Ramakrishnan et al., Sci. Data 1, 140022 (2014)) are
  subtracted per atom.
* Input densities: GFN2-xTB valence densities (engine ``xtb``) computed into a store with the
  resumable batch runner; voxels cached in the same store (:mod:`rhoml.represent.voxel_data`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rhoml.errors import RhomlError
from rhoml.units import convert

logger = logging.getLogger(__name__)

#: QM9 atomref (Hartree) for U0, U (298 K), H (298 K), G (298 K) per element (Z)
ATOMREF: dict[str, dict[int, float]] = {
    "U0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "U": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063162, 9: -99.717314},
    "H": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "G": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
}
#: target -> unit reported (the literature's)
REPORT_UNITS: dict[str, str] = {
    "mu": "debye", "alpha": "bohr^3", "homo": "meV", "lumo": "meV", "gap": "meV",
    "r2": "bohr^2", "zpve": "meV", "U0": "meV", "U": "meV", "H": "meV", "G": "meV",
    "Cv": "cal/mol/K",
}  # fmt: skip


def target_values(molecules, names: list[str]) -> np.ndarray:
    """Targets (N, T) of QM9 molecules in :data:`REPORT_UNITS` (atomisation energies for
    U0/U/H/G), converted from the labels' recorded units with :func:`rhoml.units.convert`."""
    out = np.empty((len(molecules), len(names)))
    for j, name in enumerate(names):
        if name not in REPORT_UNITS:
            raise RhomlError(f"unknown QM9 target {name!r}; choose from {', '.join(REPORT_UNITS)}")
        for i, mol in enumerate(molecules):
            value = float(mol.labels[name])
            unit = mol.label_units[name]
            if name in ATOMREF:
                value -= sum(ATOMREF[name][int(z)] for z in mol.numbers)
            out[i, j] = convert(value, unit, REPORT_UNITS[name])
    return out


@dataclass
class QM9Selection:
    """Row indices (into qm9pack's 130,831 molecules) used by a study."""

    train_pool: np.ndarray  # nested learning-curve subsets are prefixes of a seeded permutation
    val: np.ndarray
    test: np.ndarray
    split_seed: int


def select(max_train: int, n_val: int, n_test: int | None, *, split_seed: int = 42,
           subset_seed: int = 0) -> QM9Selection:  # fmt: skip
    """Seeded subsets of the standard split: ``max_train`` of the training split (ordered so that
    a prefix of size s is the size-s training set), ``n_val`` of the validation split and
    ``n_test`` of the test split (None = all 10,831)."""
    from rhoml.datasets.splits import qm9_split
    from rhoml.io.qm9 import QM9_SIZE

    split = qm9_split(QM9_SIZE, split_seed)
    rng = np.random.default_rng([subset_seed, 1])
    pool = rng.permutation(split["train"])[:max_train]
    val = np.sort(rng.permutation(split["val"])[:n_val])
    test = split["test"] if n_test is None else np.sort(rng.permutation(split["test"])[:n_test])
    return QM9Selection(pool, val, test, split_seed)


def prepare(store_path, selection: QM9Selection, *, engine: str = "xtb", workers: int = 2,
            progress: bool = True, dropped: list | None = None,
            densities: bool = True) -> dict[str, list[int]]:  # fmt: skip
    """Load the selected molecules, compute their densities into the store (resumable; with
    ``densities=False`` only the molecules are stored: grids without density channels).

    Returns store indices per part (``train_pool`` in pool order, ``val``, ``test``); molecules
    whose density failed are left out with a logged note and recorded in ``dropped`` (stage
    ``density``).
    """
    from rhoml.datasets import drop
    from rhoml.io.qm9 import load_qm9
    from rhoml.store.batch import MethodSpec, run_batch
    from rhoml.store.sqlite_store import Store

    parts = {"train_pool": selection.train_pool, "val": selection.val, "test": selection.test}
    rows = np.concatenate(list(parts.values()))
    mols = load_qm9(indices=rows)
    if not densities:
        with (
            Store.create(store_path)
            if not Path(store_path).exists()
            else Store.open(store_path) as st
        ):
            idx = st.add_molecules(mols)
        out, start = {}, 0
        for name, sel in parts.items():
            out[name] = list(idx[start : start + len(sel)])
            start += len(sel)
        return out
    spec = MethodSpec(engine)
    report = run_batch(store_path, mols, spec, workers=workers, progress=progress)
    st = Store.open(store_path)
    try:
        idx = st.add_molecules(mols)  # idempotent: returns existing indices
        ok = st.finished(spec.key, include_failed=False)
        reasons = {i: r for i, _, r in st.failures(spec.key)}
        for i, m in zip(idx, mols, strict=True):
            if i not in ok:
                drop(dropped, m.id, "density", f"{engine} density failed: {reasons.get(i, '?')}")
    finally:
        st.close()
    if report.failed:
        logger.warning(
            "qm9: %d density calculation(s) failed; those molecules are dropped", report.failed
        )
    out, start = {}, 0
    for name, sel in parts.items():
        chunk = idx[start : start + len(sel)]
        out[name] = [i for i in chunk if i in ok]
        start += len(sel)
    return out


#: QM9 voxel grid for the CPU-scale study: ATOM3D's SMP grid (16 Å box at 1 Å → 16³), all four
#: channel kinds (5 element channels H C N O F, ρ, |∇ρ|, shape → 8 channels). Molecules that reach
#: beyond the box (a few per thousand of the longest ones) are cropped.
def default_spec(spacing: float = 1.0, size: float = 16.0):
    from rhoml.represent.voxel import VoxelSpec

    return VoxelSpec(size=size, spacing=spacing, channels=("atoms", "density", "gradient", "shape"),
                     elements=("H", "C", "N", "O", "F"), overflow="crop")  # fmt: skip


def study_data(
    store_path,
    selection: QM9Selection,
    targets: list[str],
    *,
    spec=None,
    engine: str = "xtb",
    n_poses: int = 1,
    workers: int = 2,
    progress: bool = True,
):
    """Densities, cached voxels and targets of a :class:`QM9Selection` →
    :class:`~rhoml.datasets.VoxelData`."""
    from rhoml.datasets import VoxelData, dropped_summary
    from rhoml.represent.voxel_data import cache_poses, load_poses
    from rhoml.store.sqlite_store import Store

    spec = spec or default_spec()
    dropped: list[dict] = []
    parts = prepare(store_path, selection, engine=engine, workers=workers, progress=progress,
                    dropped=dropped, densities=spec.needs_density)  # fmt: skip
    voxels, values = {}, {}
    with Store.open(store_path) as st:
        for name, idx in parts.items():
            key = cache_poses(st, idx, spec, method=engine, engine=engine, n_poses=n_poses,
                              progress=progress)  # fmt: skip
            voxels[name] = load_poses(st, idx, key, n_poses)
            values[name] = target_values([st.molecule(i) for i in idx], targets)
    info = {
        "split": "random 110000/10000/rest of 130831, numpy default_rng(42)",
        "split_seed": selection.split_seed, "engine": engine, "voxel_spec": spec.to_dict(),
        "n_poses": n_poses, "pool": len(parts["train_pool"]), "n_val": len(parts["val"]),
        "n_test": len(parts["test"]), "dropped": dropped,
        "dropped_summary": dropped_summary(dropped),
    }  # fmt: skip
    return VoxelData("qm9", list(targets), [REPORT_UNITS[t] for t in targets],
                     spec.channel_names, voxels, values, info)  # fmt: skip
