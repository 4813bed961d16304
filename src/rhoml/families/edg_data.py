"""Data for the EDG image families: which molecules of a store have rendered images, with which
render settings, a seeded train/validation split, and torch datasets that read the uint8 image
stacks from the store lazily (one SQLite read per molecule, so data sets larger than memory
work, and the store is opened in each DataLoader worker)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import RhomlError

__all__ = [
    "StoreImages",
    "array_meta",
    "image_indices",
    "render_settings",
    "settings_difference",
    "split",
]


def array_meta(store, idx: int, name: str) -> dict[str, Any]:
    """Unit and metadata stored with array ``name`` of molecule ``idx`` (``{}`` if absent)."""
    try:
        return store.array_meta(idx, name)
    except KeyError:
        return {}


def image_indices(store, name: str, limit: int = 0, also: Sequence[str] = ()) -> list[int]:
    """Store indices of the molecules that have array ``name`` (and every array in ``also``),
    in store order, the first ``limit`` of them (0 = all)."""
    out = []
    for idx in store.indices():
        if store.has_array(idx, name) and all(store.has_array(idx, a) for a in also):
            out.append(idx)
            if limit and len(out) >= limit:
                break
    return out


def _plain(d: Any) -> Any:
    return json.loads(json.dumps(d))


def render_settings(store, indices: Sequence[int], name: str) -> dict:
    """The render settings (:meth:`rhoml.represent.render.RenderConfig.to_dict`, as plain JSON)
    shared by array ``name`` of every molecule in ``indices``, plus ``preset``, ``method`` (the
    density record), ``esp_method`` (the record the ESP came from, None = the density itself)
    and ``shape`` (V, H, W, C) of the first molecule's stack (equal settings imply equal
    shapes: views, size and channels are settings). Raises :class:`RhomlError` naming the first
    molecule whose images were rendered with other settings."""
    first: dict | None = None
    where = f"{store.path}: array {name!r}"
    for idx in indices:
        meta = array_meta(store, idx, name)
        shape = list(store.get_array(idx, name).shape) if first is None else None
        this = {"config": _plain(meta.get("config")), "preset": meta.get("preset"),
                "method": meta.get("method"), "esp_method": meta.get("esp_method")}  # fmt: skip
        if first is None:
            first = {**this, "shape": shape}
            first_idx = idx
            continue
        key = settings_difference(first["config"], this["config"])
        if key:
            raise RhomlError(
                f"{where}: molecule {idx} was rendered with other settings than molecule "
                f"{first_idx} ({key} differs); render every molecule with the same settings"
            )
    if first is None:
        raise RhomlError(f"{where}: no molecule has it; render them first (rhoml render)")
    if first["config"] is None:
        raise RhomlError(f"{where}: images without render settings in their metadata")
    return first


def settings_difference(a: dict | None, b: dict | None) -> str | None:
    """The first key (sorted) whose value differs between two render settings, or None."""
    a, b = _plain(a or {}), _plain(b or {})
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return key
    return None


def split(indices: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded random split → (train, validation) indices, each in store order; at least one
    molecule in each part."""
    idx = np.asarray(list(indices))
    if len(idx) < 2:
        raise RhomlError(f"need at least 2 molecules for a train/validation split, got {len(idx)}")
    n_val = min(max(1, int(round(val_fraction * len(idx)))), len(idx) - 1)
    perm = np.random.default_rng(seed).permutation(len(idx))
    val = sorted(int(i) for i in idx[perm[:n_val]])
    train = sorted(int(i) for i in idx[perm[n_val:]])
    return train, val


class StoreImages:
    """A torch-style dataset over the image stacks ``name`` of molecules ``indices`` of the store
    at ``store_path``: item ``i`` is ``{"images": transform(uint8 array), "index": idx, **extra}``
    where ``extra`` holds row ``i`` of each array in ``extras``."""

    def __init__(
        self,
        store_path,
        indices: Sequence[int],
        name: str,
        transform: Callable,
        extras: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.store_path = Path(store_path)
        self.indices = [int(i) for i in indices]
        self.name = name
        self.transform = transform
        self.extras = extras or {}
        self._store = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None  # each worker process opens its own connection
        return state

    def raw(self, i: int) -> np.ndarray:
        """The stored uint8 array of item ``i``."""
        if self._store is None:
            from rhoml.store.sqlite_store import Store

            self._store = Store.open(self.store_path, readonly=True)
        return self._store.get_array(self.indices[i], self.name)

    def __getitem__(self, i: int) -> dict:
        import torch

        item = {"images": self.transform(self.raw(i)), "index": torch.tensor(self.indices[i])}
        for key, values in self.extras.items():
            item[key] = torch.as_tensor(values[i])
        return item
