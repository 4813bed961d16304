"""rMD17 and MD17 trajectories stored as NumPy ``.npz`` archives.

rMD17 (Christensen & von Lilienfeld 2020) files ``rmd17_<molecule>_{train,test}_01.npz`` hold
``nuclear_charges`` (n_atoms,), ``coords`` (n_frames, n_atoms, 3) Å, ``energies`` (n_frames,)
kcal/mol, ``forces`` (n_frames, n_atoms, 3) kcal/mol/Å and ``old_indices`` (frame in the original
MD17 trajectory). The full rMD17 distribution (``npz_data/rmd17_<molecule>.npz`` with
``splits/index_{train,test}_0K.csv``) is understood too.

Original MD17 / sGDML files hold ``z``, ``R`` (Å), ``E`` (kcal/mol, shape (n,) or (n, 1)) and ``F``
(kcal/mol/Å); ``E`` and ``F`` are optional.

Each frame becomes a neutral closed-shell :class:`Molecule` with labels ``energy`` (kcal/mol),
``forces`` (n_atoms, 3) kcal/mol/angstrom, and for rMD17 ``old_index`` (dimensionless); id
``<file stem>#<frame>``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from rhoml.elements import atomic_number
from rhoml.errors import InputError
from rhoml.io import StrPath, default_multiplicity, existing_file
from rhoml.molecule import Molecule

RMD17_MOLECULES = (
    "aspirin", "azobenzene", "benzene", "ethanol", "malonaldehyde", "naphthalene",
    "paracetamol", "salicylic", "toluene", "uracil",
)  # fmt: skip
ENERGY_UNIT = "kcal/mol"
FORCE_UNIT = "kcal/mol/angstrom"


def read_npz(
    path: StrPath,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    energy_unit: str = ENERGY_UNIT,
    force_unit: str = FORCE_UNIT,
) -> Iterator[Molecule]:
    """Iterate over the frames of an rMD17 or MD17 ``.npz`` file.

    ``indices`` selects frames (0-based, in file order). ``energy_unit`` / ``force_unit`` are
    the units recorded for the labels (the MD17 family uses kcal/mol and kcal/mol/Å).
    """
    p = existing_file(path)
    data = _load(p)
    sel = _select(indices, len(data["coords"]), p)
    return _frames(p, data, sel, energy_unit, force_unit)


def _load(p: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            if {"nuclear_charges", "coords"} <= keys:  # rMD17
                names = {"numbers": "nuclear_charges", "coords": "coords", "energies": "energies",
                         "forces": "forces", "old_indices": "old_indices"}  # fmt: skip
            elif {"z", "R"} <= keys:  # MD17 / sGDML
                names = {"numbers": "z", "coords": "R", "energies": "E", "forces": "F"}
            else:
                raise InputError(
                    f"{p}: neither rMD17 keys (nuclear_charges, coords) nor MD17 keys (z, R); "
                    f"found: {', '.join(sorted(keys)) or 'none'}"
                )
            data = {ours: npz[theirs] for ours, theirs in names.items() if theirs in keys}
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npz archive ({exc})") from None
    numbers = np.asarray(data["numbers"]).reshape(-1)
    coords = np.asarray(data["coords"], dtype=np.float64)
    if coords.ndim == 2:
        coords = coords[None]
    n_atoms = len(numbers)
    if coords.ndim != 3 or coords.shape[1:] != (n_atoms, 3):
        raise InputError(
            f"{p}: coordinates of shape {coords.shape}, expected (n_frames, {n_atoms}, 3)"
        )
    n = coords.shape[0]
    if n == 0:
        raise InputError(f"{p}: no frames")
    for z in np.unique(numbers):
        atomic_number(int(z), f"{p}: ")  # UnknownElementError naming the file
    data["numbers"], data["coords"] = numbers.astype(np.int64), coords
    if "energies" in data:
        e = np.asarray(data["energies"], dtype=np.float64)
        if e.size != n:
            raise InputError(f"{p}: {e.size} energies for {n} frames")
        data["energies"] = e.reshape(n)
    if "forces" in data:
        f = np.asarray(data["forces"], dtype=np.float64)
        if f.shape != coords.shape:
            raise InputError(f"{p}: forces of shape {f.shape}, expected {coords.shape}")
        data["forces"] = f
    if "old_indices" in data and np.size(data["old_indices"]) != n:
        del data["old_indices"]
    return data


def _select(indices, n: int, p: Path) -> np.ndarray:
    if indices is None:
        return np.arange(n)
    sel = np.atleast_1d(np.asarray(indices)).astype(np.int64)
    bad = sel[(sel < -n) | (sel >= n)]
    if bad.size:
        raise InputError(f"{p}: frame {int(bad[0])} out of range ({n} frames)")
    return sel % n


def _frames(p: Path, data, sel, energy_unit, force_unit) -> Iterator[Molecule]:
    numbers = data["numbers"]
    mult = default_multiplicity(numbers, 0)
    for i in sel.tolist():
        labels, units = {}, {}
        if "energies" in data:
            labels["energy"], units["energy"] = float(data["energies"][i]), energy_unit
        if "forces" in data:
            labels["forces"], units["forces"] = data["forces"][i].copy(), force_unit
        if "old_indices" in data:
            labels["old_index"] = int(data["old_indices"][i])
            units["old_index"] = "dimensionless"
        yield Molecule(
            numbers, data["coords"][i], charge=0, multiplicity=mult, id=f"{p.stem}#{i}",
            labels=labels, label_units=units, source=f"{p}#{i}",
        )  # fmt: skip


def _resolve(name: str, split: str, split_id: str, data_dir) -> tuple[Path, np.ndarray | None]:
    """Locate the file of ``name`` (and, for the full distribution, the split's indices)."""
    dirs = [Path(data_dir)] if data_dir is not None else []
    if os.environ.get("RHOML_RMD17_DIR"):
        dirs.append(Path(os.environ["RHOML_RMD17_DIR"]))
    if not dirs:
        raise InputError(
            f"rmd17: {name!r} is not a file; give data_dir= or set RHOML_RMD17_DIR to the "
            "folder with rmd17_<molecule>_{train,test}_01.npz"
        )
    mol = name.lower().removeprefix("rmd17_")
    for d in dirs:
        split_file = d / f"rmd17_{mol}_{split}_{split_id}.npz"
        if split_file.exists():
            return split_file, None
        fulls = [d / "npz_data" / f"rmd17_{mol}.npz", d / f"rmd17_{mol}.npz"]
        splits = [q / "splits" / f"index_{split}_{split_id}.csv" for q in (d, d.parent)]
        full = next((f for f in fulls if f.exists()), None)
        index_file = next((f for f in splits if f.exists()), None)
        if full is not None and index_file is not None:
            try:
                idx = np.loadtxt(index_file, dtype=np.int64).reshape(-1)
            except ValueError as exc:
                raise InputError(f"{index_file}: bad index file ({exc})") from None
            return full, idx
    raise InputError(f"rmd17: no rmd17_{mol}_{split}_{split_id}.npz in {', '.join(map(str, dirs))}")


def load_rmd17(
    path_or_name: StrPath,
    split: str = "train",
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    data_dir: StrPath | None = None,
    split_id: str = "01",
) -> list[Molecule]:
    """Frames of one rMD17 molecule as a list.

    Args:
        path_or_name: an ``.npz`` file, or a molecule name (``"ethanol"``) looked up in
            ``data_dir`` or ``$RHOML_RMD17_DIR`` (or given as ``<folder>/<name>``) as
            ``rmd17_<name>_<split>_<split_id>.npz`` (or the full ``rmd17_<name>.npz`` with
            ``splits/index_<split>_<split_id>.csv``).
        split: ``"train"`` or ``"test"`` (used only when a name is given).
        indices: frames to keep, 0-based positions within the split.
    """
    if split not in ("train", "test"):
        raise InputError(f"rmd17: split must be 'train' or 'test', got {split!r}")
    p = Path(path_or_name)
    if p.suffix.lower() == ".npz" or p.exists():
        return list(read_npz(p, indices))
    name = str(path_or_name)
    if data_dir is None and len(p.parts) > 1 and p.parent.is_dir():  # "<folder>/ethanol"
        data_dir, name = p.parent, p.name
    file, split_idx = _resolve(name, split, split_id, data_dir)
    if split_idx is None:
        return list(read_npz(file, indices))
    chosen = split_idx if indices is None else split_idx[_select(indices, len(split_idx), file)]
    return list(read_npz(file, chosen))
