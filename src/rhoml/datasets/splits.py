"""Reproducible random splits of index ranges."""

from __future__ import annotations

import numpy as np

from rhoml.errors import RhomlError

#: The QM9 split used throughout rhoml: 110,000 train / 10,000 validation / the rest test
#: (10,831 for qm9pack's 130,831 molecules), drawn with ``numpy.random.default_rng(QM9_SEED)``.
QM9_SIZES = (110_000, 10_000)
QM9_SEED = 42


def random_split(n: int, sizes, seed: int) -> list[np.ndarray]:
    """Permute ``range(n)`` with ``default_rng(seed)`` and cut it into ``sizes`` (+ the rest).

    Returns len(sizes) + 1 sorted index arrays (the last is the remainder, possibly empty).
    """
    sizes = [int(s) for s in sizes]
    if min(sizes, default=0) < 0 or sum(sizes) > n:
        raise RhomlError(f"split sizes {sizes} do not fit {n} items")
    perm = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([0] + sizes)
    parts = [perm[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] + [perm[cuts[-1] :]]
    return [np.sort(p) for p in parts]


def qm9_split(n_total: int, seed: int = QM9_SEED) -> dict[str, np.ndarray]:
    """The standard 110k/10k/rest QM9 split of row indices 0..n_total-1."""
    train, val, test = random_split(n_total, QM9_SIZES, seed)
    return {"train": train, "val": val, "test": test}


def nested_subset(indices: np.ndarray, size: int, seed: int) -> np.ndarray:
    """The first ``size`` of a seeded permutation of ``indices``: subsets for a learning curve
    are nested (the 300-molecule set contains the 100-molecule one) for a given seed."""
    if size > len(indices):
        raise RhomlError(f"asked for {size} items from a split of {len(indices)}")
    perm = np.random.default_rng(seed).permutation(len(indices))
    return np.asarray(indices)[np.sort(perm[:size])]


def cluster_split(clusters, sizes, seed: int) -> list[np.ndarray]:
    """A split that keeps every cluster whole: clusters (one label per item) are taken in a
    ``default_rng(seed)`` order and each goes to the first part it still fits in (``sizes``,
    at most that many items each), else to the remainder. Parts may come out smaller than
    asked when clusters are large; no cluster has items in two parts.

    Returns len(sizes) + 1 index arrays: the sized parts sorted, the remainder in the seeded
    cluster order (so that its prefixes are nested training sets).
    """
    labels = np.asarray([str(c) for c in clusters])
    sizes = [int(s) for s in sizes]
    if min(sizes, default=0) < 0 or sum(sizes) > len(labels):
        raise RhomlError(f"split sizes {sizes} do not fit {len(labels)} items")
    names = sorted(set(labels.tolist()))
    order = np.random.default_rng(seed).permutation(len(names))
    members = {n: np.flatnonzero(labels == n) for n in names}
    parts: list[list[int]] = [[] for _ in sizes]
    rest: list[int] = []
    for k in order:
        idx = members[names[k]].tolist()
        for p, size in zip(parts, sizes, strict=True):
            if len(p) + len(idx) <= size:
                p.extend(idx)
                break
        else:
            rest.extend(idx)
    return [np.sort(np.array(p, dtype=int)) for p in parts] + [np.array(rest, dtype=int)]
