"""Data of the energy-term family: the DFT energy terms of a store's molecules as targets, one
seeded train/validation/test split of them, and torch datasets of each representation read from
the same store (so every representation sees the same molecules and split).

Representations (``[data].representation``):

* ``points`` — the density point cloud of each molecule (``rhoml points STORE``: points where
  ρ exceeds a threshold, EDBench style); per point (x, y, z) in Å about the cloud's centroid and
  ln(ρ/threshold);
* ``atoms`` — the molecule itself as a point cloud: atom positions in Å about their centroid and
  a one-hot element;
* ``voxels`` — density voxels (:class:`~rhoml.represent.voxel.VoxelSpec`), voxelised from the
  store's DFT records and cached in the store (:func:`rhoml.represent.voxel_data.cache_poses`);
* ``images`` — the rendered 6-view RGB-D density images (``rhoml render STORE --preset
  edg-density``).

Point clouds and images are made by their commands beforehand (resumable, parallel); a molecule
without them is refused with one line that names the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rhoml.errors import InputError

__all__ = [
    "REPRESENTATIONS",
    "PointClouds",
    "TermsData",
    "atom_clouds",
    "collate_points",
    "composition_baseline",
    "density_clouds",
    "load_terms",
    "record_key",
    "split_positions",
]

REPRESENTATIONS = ("points", "atoms", "voxels", "images")
PARTS = ("train", "val", "test")


@dataclass
class TermsData:
    """Targets (N, T) per part in ``unit`` and the store indices and ids of each part."""

    store: Path
    method: str
    terms: list[str]
    unit: str
    indices: dict[str, list[int]]
    ids: dict[str, list[str]]
    targets: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)


def record_key(store, method: str = "") -> str:
    """The store's DFT record key with energy terms: ``method`` when given and present, else the
    only one; one-line :class:`InputError` naming the store otherwise."""
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        keys = st.methods(having="energy_exact_exchange")
        where = st.path
    if method:
        if method not in keys:
            raise InputError(f"{where}: no DFT records with energy terms under {method!r}"
                             f" (the store has {', '.join(keys) or 'none'})")  # fmt: skip
        return method
    if not keys:
        raise InputError(
            f"{where}: no DFT records with energy terms (compute them with rhoml density "
            "compute --method dft; xTB and promolecule records have none)"
        )
    if len(keys) > 1:
        raise InputError(f"{where}: several DFT record keys ({', '.join(keys)}); choose one "
                         "with [data].method")  # fmt: skip
    return keys[0]


def split_positions(n: int, val_fraction: float, test_fraction: float,
                    seed: int) -> dict[str, np.ndarray]:  # fmt: skip
    """Seeded random split of ``n`` items → positions per part (each sorted, ≥ 1 item each)."""
    if n < 3:
        raise InputError(f"need at least 3 molecules for a train/validation/test split, got {n}")
    n_val = min(max(1, round(val_fraction * n)), n - 2)
    n_test = min(max(1, round(test_fraction * n)), n - 1 - n_val)
    perm = np.random.default_rng([seed, 4]).permutation(n)
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test : n_test + n_val]),
            "train": np.sort(perm[n_test + n_val :])}  # fmt: skip


def load_terms(store, method: str = "", *, terms: Sequence[str] | None = None,
               unit: str = "kcal/mol", val_fraction: float = 0.1, test_fraction: float = 0.1,
               split_seed: int = 0, limit: int = 0) -> TermsData:  # fmt: skip
    """The energy terms of every molecule of ``store`` with a DFT record (``limit``: the first N
    in store order, 0 = all), split at random (seeded)."""
    from rhoml.datasets.energy_terms import TERMS, energy_terms

    key = record_key(store, method)
    terms = list(terms or TERMS)
    indices, ids, values = energy_terms(store, key, terms=terms, unit=unit)
    if limit:
        indices, ids, values = indices[:limit], ids[:limit], values[:limit]
    pos = split_positions(len(indices), val_fraction, test_fraction, split_seed)
    data = TermsData(
        Path(store), key, terms, unit,
        {p: [indices[i] for i in pos[p]] for p in PARTS},
        {p: [ids[i] for i in pos[p]] for p in PARTS},
        {p: values[pos[p]] for p in PARTS},
    )  # fmt: skip
    data.info = {"split": {"kind": "random", "seed": split_seed,
                           **{f"n_{p}": len(pos[p]) for p in PARTS}},
                 "method": key}  # fmt: skip
    return data


# -- point clouds ------------------------------------------------------------------------------
def _missing(store, indices, name: str, command: str) -> None:
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        lacking = [i for i in indices if not st.has_array(int(i), name)]
        if lacking:
            mol = st.molecule(int(lacking[0])).id
            raise InputError(
                f"{st.path}: {len(lacking)} molecule(s) (first {mol}) have no {name!r}; make "
                f"them with {command}"
            )


def density_clouds(store, indices: Sequence[int], n_points: int = 0,
                   seed: int = 0) -> list[np.ndarray]:  # fmt: skip
    """Per molecule (n, 4) float32: (x, y, z) Å about the centroid, ln(ρ/threshold), from the
    store's ``rhoml points`` arrays; ``n_points`` > 0 keeps a seeded random subset of that many
    (per molecule)."""
    from rhoml.represent.points import POINTS_DENSITY, POINTS_XYZ
    from rhoml.store.sqlite_store import Store

    _missing(store, indices, POINTS_DENSITY, f"rhoml points {store}")
    out = []
    with Store.open(store, readonly=True) as st:
        for idx in indices:
            xyz = st.get_array(int(idx), POINTS_XYZ, unit="angstrom").astype(np.float64)
            rho = st.get_array(int(idx), POINTS_DENSITY, unit="e/bohr^3").astype(np.float64)
            thr = float(st.array_meta(int(idx), POINTS_DENSITY).get("threshold_e_per_bohr3", 1e-3))
            if n_points and n_points < len(xyz):
                keep = np.random.default_rng([seed, int(idx)]).choice(len(xyz), n_points,
                                                                      replace=False)  # fmt: skip
                xyz, rho = xyz[np.sort(keep)], rho[np.sort(keep)]
            feat = np.log(np.clip(rho, 1e-12, None) / thr)
            out.append(np.column_stack([xyz - xyz.mean(0), feat]).astype(np.float32))
    return out


def atom_clouds(store, indices: Sequence[int], elements: Sequence[str]) -> list[np.ndarray]:
    """Per molecule (n_atoms, 3 + len(elements)) float32: positions in Å about the centroid and a
    one-hot element (an element not in ``elements`` is refused with one line)."""
    from rhoml.elements import symbol
    from rhoml.store.sqlite_store import Store

    col = {e: i for i, e in enumerate(elements)}
    out = []
    with Store.open(store, readonly=True) as st:
        for idx in indices:
            m = st.molecule(int(idx))
            onehot = np.zeros((len(m.numbers), len(elements)))
            for a, z in enumerate(m.numbers):
                s = symbol(int(z))
                if s not in col:
                    raise InputError(f"{st.path}: molecule {m.id} has element {s}, not in "
                                     f"[data].elements {list(elements)}")  # fmt: skip
                onehot[a, col[s]] = 1.0
            pos = np.asarray(m.positions, float)
            out.append(np.column_stack([pos - pos.mean(0), onehot]).astype(np.float32))
    return out


class PointClouds:
    """A torch-style dataset of point clouds (n_i, F) with targets (N, T); ``augment``: a random
    rotation of the positions (the first three columns) per sample, from torch's generator."""

    def __init__(self, clouds: list[np.ndarray], targets=None, augment: bool = False) -> None:
        self.clouds = clouds
        self.targets = None if targets is None else np.asarray(targets, np.float32)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.clouds)

    def __getitem__(self, i: int) -> dict:
        import torch

        x = torch.from_numpy(self.clouds[i]).clone()
        if self.augment:
            q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
            x[:, :3] = (x[:, :3].double() @ q.T).float()
        item = {"points": x, "index": torch.tensor(i)}
        if self.targets is not None:
            item["y"] = torch.from_numpy(self.targets[i])
        return item


def collate_points(items: list[dict]) -> dict:
    """Pad clouds to the largest of the batch: ``points`` (B, N, F), ``mask`` (B, N) bool."""
    import torch

    n = max(len(it["points"]) for it in items)
    f = items[0]["points"].shape[1]
    x = torch.zeros(len(items), n, f)
    mask = torch.zeros(len(items), n, dtype=torch.bool)
    for b, it in enumerate(items):
        x[b, : len(it["points"])] = it["points"]
        mask[b, : len(it["points"])] = True
    out = {"points": x, "mask": mask, "index": torch.stack([it["index"] for it in items])}
    if "y" in items[0]:
        out["y"] = torch.stack([it["y"] for it in items])
    return out


def composition_baseline(data: TermsData) -> dict[str, dict[str, float]]:
    """A reference that knows only the molecular formula: per term, a least-squares fit of the
    training targets on the atom counts per element (plus a constant), evaluated on the test
    part → ``{"rmse": {term: value}, "mae": {...}}`` in ``data.unit``."""
    from rhoml.store.sqlite_store import Store

    with Store.open(data.store, readonly=True) as st:
        numbers = {p: [st.molecule(int(i)).numbers for i in data.indices[p]]
                   for p in ("train", "test")}  # fmt: skip
    zs = sorted({int(z) for p in numbers.values() for n in p for z in n})

    def counts(part):
        return np.array([[1.0] + [float(np.sum(n == z)) for z in zs] for n in numbers[part]])

    coef, *_ = np.linalg.lstsq(counts("train"), data.targets["train"], rcond=None)
    err = counts("test") @ coef - data.targets["test"]
    return {"rmse": dict(zip(data.terms, np.sqrt((err**2).mean(0)).tolist(), strict=True)),
            "mae": dict(zip(data.terms, np.abs(err).mean(0).tolist(), strict=True))}  # fmt: skip
