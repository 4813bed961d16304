"""Voxel datasets for training: a pose cache in the store and a torch ``Dataset`` on top.

Augmentation trade-off. A physically correct augmented sample is the molecule rotated and
shifted, with every channel re-evaluated (densities at the rotated grid points,
:class:`~rhoml.represent.voxel.Voxelizer`); at 16³–32³ this costs 5–100 ms per molecule on one
CPU core, more than a training step. So poses are cached: ``n_poses`` random rotations and
sub-voxel shifts per molecule (seeded, pose 0 is the identity) are voxelised once and stored as
arrays in the :class:`~rhoml.store.sqlite_store.Store` (``put_array``, name
``voxels/<spec hash>/<pose>``). Each epoch a sample picks one cached pose and one of the 24 exact
cube rotations (an index permutation, free and exact, :func:`rotate_voxels`), which gives
24·``n_poses`` distinct orientations at ``n_poses`` evaluations per molecule. Storage is
``n_poses`` × C × n³ float16 per molecule (16³ × 8 channels: 64 kB).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from rhoml.represent.voxel import (
    Voxelizer,
    VoxelSpec,
    cube_rotations,
    random_rotation,
    rotate_voxels,
)
from rhoml.store import schema

# transformed values; per-channel meaning in the array metadata
VOXEL_UNIT = schema.ARRAYS[schema.VOXELS].unit


def pose_name(key: str, k: int) -> str:
    """Store array name of pose ``k`` under the prefix ``key`` (``voxels/<spec>``), the
    :data:`rhoml.store.schema.VOXELS` family."""
    return f"{key}/{k}"


#: voxel representations: channel kinds a model sees (subsets of one cached voxel tensor)
REPRESENTATIONS = ("atoms", "density", "gradient", "shape", "density+gradient")


def channel_kind(name: str) -> str:
    """``atoms``, ``density``, ``gradient`` or ``shape`` of a channel name such as
    ``protein:atoms:C`` or ``ligand:density``."""
    parts = name.split(":")
    if parts[0] in ("protein", "ligand"):
        parts = parts[1:]
    return parts[0]


def channel_indices(channel_names: list[str], representation: str) -> list[int]:
    """Indices of the channels of ``representation`` in a voxel tensor's channel list."""
    from rhoml.errors import RhomlError

    wanted = representation.split("+")
    out = [i for i, name in enumerate(channel_names) if channel_kind(name) in wanted]
    if not out or any(w not in REPRESENTATIONS for w in wanted):
        raise RhomlError(
            f"representation {representation!r} not available; choose from "
            f"{', '.join(REPRESENTATIONS)} (channels present: {', '.join(channel_names)})"
        )
    return out


def representation_spec(spec: VoxelSpec, representation: str) -> VoxelSpec:
    """``spec`` with only the channel kinds ``representation`` uses (in ``spec``'s order), so
    a run computes nothing it does not train on (an ``atoms`` run computes no density)."""
    import dataclasses

    from rhoml.errors import RhomlError

    wanted = representation.split("+")
    if any(w not in REPRESENTATIONS for w in wanted):
        raise RhomlError(f"unknown representation {representation!r}; choose from "
                         f"{', '.join(REPRESENTATIONS)}")  # fmt: skip
    kinds = tuple(k for k in spec.channels if k in wanted)
    missing = [w for w in wanted if w not in kinds]
    if missing:
        raise RhomlError(
            f"representation {representation!r} needs channel kind(s) {', '.join(missing)}; "
            f"the voxel channels are {', '.join(spec.channels)}"
        )
    return dataclasses.replace(spec, channels=kinds)


def spec_key(spec: VoxelSpec, engine: str, engine_options: dict | None = None) -> str:
    """A short stable hash of the spec and the density engine, used in array names."""
    blob = json.dumps([spec.to_dict(), engine, engine_options or {}], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def pose(index: int, k: int, seed: int, spacing: float) -> tuple[np.ndarray | None, np.ndarray]:
    """Pose ``k`` of molecule ``index``: (rotation (3, 3) or None for k = 0, shift (3,) Å within
    half a voxel)."""
    if k == 0:
        return None, np.zeros(3)
    rng = np.random.default_rng([seed, index, k])
    return random_rotation(rng), rng.uniform(-0.5, 0.5, 3) * spacing


def cache_poses(store, indices: Sequence[int], spec: VoxelSpec, *, method: str | None = None,
                engine: str = "xtb", engine_options: dict | None = None, n_poses: int = 1,
                seed: int = 0, device="cpu", progress: bool = True, density_fn=None,
                on_error: str = "raise") -> str:  # fmt: skip
    """Voxelise ``n_poses`` poses of every molecule in ``indices`` of ``store`` (densities from
    the store's record ``method`` when the spec needs them; with ``separate_groups`` they are
    computed per group with ``engine`` and ``engine_options``; ``density_fn(idx, molecule) ->
    list`` overrides both), skipping arrays already there.

    ``on_error="record"``: a molecule whose density fails (:class:`~rhoml.errors.RhomlError`)
    gets a failure record under the array prefix (``Store.put_failure``, with the reason) and is
    skipped, now and on reruns; ``"raise"`` (default) stops.

    Returns the array-name prefix ``voxels/<key>``. A molecule without a density record raises
    :class:`KeyError` naming it (compute densities first with ``rhoml density compute``).
    """
    from rhoml.errors import RhomlError

    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    key = f"voxels/{spec_key(spec, engine, engine_options)}"
    vox = Voxelizer(spec, device=device, engine=engine, engine_options=engine_options)
    failed = store.finished(key) - store.finished(key, include_failed=False)
    it = [i for i in indices if int(i) not in failed]
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="voxelise", leave=False)
    for idx in it:
        todo = [k for k in range(n_poses) if not store.has_array(int(idx), pose_name(key, k))]
        if not todo:
            continue
        mol = store.molecule(int(idx))
        dens = None
        if spec.needs_density:
            try:
                if density_fn is not None:
                    dens = density_fn(int(idx), mol)
                elif spec.separate_groups:
                    dens = vox.densities_for(mol)
                else:
                    dens = [store.density(int(idx), method)]
            except RhomlError as exc:
                if on_error == "raise":
                    raise
                store.put_failure(int(idx), key, engine, "", " ".join(str(exc).split()))
                continue
        for k in todo:
            rot, shift = pose(int(idx), k, seed, spec.spacing)
            x = vox(
                [mol], None if dens is None else [dens],
                None if rot is None else [rot], [shift],
            )[0]  # fmt: skip
            store.put_array(int(idx), pose_name(key, k), x.cpu().numpy().astype(np.float16),
                            VOXEL_UNIT, channels=spec.channel_names, spec=spec.to_dict(),
                            engine=engine)  # fmt: skip
    return key


def load_poses(store, indices: Sequence[int], key: str, n_poses: int) -> np.ndarray:
    """Cached voxels (N, n_poses, C, n, n, n) float16 of ``indices``."""
    first = store.get_array(int(indices[0]), pose_name(key, 0), unit=VOXEL_UNIT)
    out = np.empty((len(indices), n_poses) + first.shape, dtype=np.float16)
    for i, idx in enumerate(indices):
        for k in range(n_poses):
            out[i, k] = store.get_array(int(idx), pose_name(key, k), unit=VOXEL_UNIT)
    return out


class VoxelDataset:
    """A torch-style dataset of cached voxels with targets.

    Args:
        voxels: (N, P, C, n, n, n) cached poses (any float dtype; returned as float32).
        targets: (N, T) values in the targets' units, or None (prediction).
        channels: indices of the channels to use (a representation), default all.
        augment: pick a random cached pose and a random exact cube rotation per sample.
    """

    def __init__(self, voxels, targets=None, channels: Sequence[int] | None = None,
                 augment: bool = False) -> None:  # fmt: skip
        import torch

        self.voxels = torch.as_tensor(np.asarray(voxels))
        if self.voxels.dim() != 6:
            raise ValueError(f"voxels must be (N, P, C, n, n, n), got {tuple(self.voxels.shape)}")
        self.targets = None if targets is None else torch.as_tensor(np.asarray(targets, float))
        self.channels = None if channels is None else torch.as_tensor(list(channels))
        self.augment = augment
        self._rots = cube_rotations()

    def __len__(self) -> int:
        return int(self.voxels.shape[0])

    def __getitem__(self, i: int) -> dict:
        import torch

        p = int(torch.randint(self.voxels.shape[1], (1,))) if self.augment else 0
        x = self.voxels[i, p]
        if self.channels is not None:
            x = x[self.channels]
        x = x.float()
        if self.augment:
            x = rotate_voxels(x, self._rots[int(torch.randint(24, (1,)))]).contiguous()
        item = {"voxels": x, "index": torch.tensor(i)}
        if self.targets is not None:
            item["y"] = self.targets[i].float()
        return item
