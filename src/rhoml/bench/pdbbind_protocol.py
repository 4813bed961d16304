"""PDBbind protocol for voxel models: complexes, pocket densities, voxels, held-out metrics.

* Input: the standard PDBbind layout (``<root>/<code>/<code>_pocket.pdb``, ``_protein.pdb``,
  ``_ligand.sdf``) with labels from ``labels_pK.csv`` or ``index/INDEX_*`` files (read by
  :func:`rhoml.io.pdbbind.iter_pdbbind`); complexes that fail to read are skipped with a note.
* Pocket: PDBbind's pocket file, optionally re-cut to the whole residues with any atom within
  ``pocket_cutoff`` Å of a ligand atom (:func:`cut_pocket`, read with gemmi; waters dropped, first
  alternate location kept). No caps are added at cut peptide bonds.
* Densities, per group (pocket and ligand computed separately, so they go to separate
  channels): ``promolecule`` (fast, spherical atoms) or ``xtb`` (GFN2-xTB on the pocket: pocket
  charge from residue names and protonation, :func:`pocket_charge`; see its caveats).
* Grid: 24 Å box centred on the ligand centroid, pocket and ligand in separate channels;
  :func:`default_spec` takes the spacing (0.5 Å → 48³ as gnina; the CPU-scale study uses 1 Å →
  24³, KDEEP's grid). Complexes whose ligand reaches beyond the box are skipped.
* Split: a seeded random held-out test set (``n_test``), a validation set (``n_val``), the rest
  is the training pool; metrics RMSE, Pearson R, Spearman ρ on the test set (pK units).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rhoml.errors import RhomlError
from rhoml.molecule import Molecule

ELEMENTS = ("H", "C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "X")
# formal charges of charged residues / ions, used only when a pocket is handed to xTB
_ION_CHARGES = {"ZN": 2, "MG": 2, "CA": 2, "MN": 2, "FE": 2, "CO": 2, "NI": 2, "CU": 2,
                "CD": 2, "NA": 1, "K": 1, "CL": -1}  # fmt: skip


def default_spec(spacing: float = 0.5, size: float = 24.0):
    """24 Å box on the ligand centroid (0.5 Å → 48³); protein and ligand channels separate; all
    channel kinds (11 element channels incl. 'X' for other elements, ρ, |∇ρ|, shape, per group →
    28 channels)."""
    from rhoml.represent.voxel import VoxelSpec

    return VoxelSpec(
        size=size, spacing=spacing, channels=("atoms", "density", "gradient", "shape"),
        elements=ELEMENTS, separate_groups=True, center_group=1, overflow="crop",
    )  # fmt: skip


def cut_pocket(complex_mol: Molecule, cutoff: float, pdb_path=None) -> Molecule:
    """The complex with its protein part replaced by the whole residues that have an atom within
    ``cutoff`` Å of the ligand (read from ``pdb_path``, default the complex's pocket file)."""
    import gemmi

    folder = Path(complex_mol.source)
    path = Path(pdb_path) if pdb_path else folder / f"{complex_mol.id}_pocket.pdb"
    if not path.is_file():
        raise RhomlError(f"{path}: no such file (pocket of {complex_mol.id})")
    lig = complex_mol.positions[complex_mol.groups == 1]
    st = gemmi.read_structure(str(path))
    st.remove_waters()
    numbers, positions, charge = [], [], 0
    for res in st[0].get_all_residues() if hasattr(st[0], "get_all_residues") else _residues(st):
        xyz = np.array([[a.pos.x, a.pos.y, a.pos.z] for a in res if a.altloc in ("\0", "A")])
        if len(xyz) == 0:
            continue
        d = np.sqrt(((xyz[:, None, :] - lig[None]) ** 2).sum(-1)).min()
        if d > cutoff:
            continue
        for a in res:
            if a.altloc in ("\0", "A"):
                numbers.append(a.element.atomic_number)
                positions.append([a.pos.x, a.pos.y, a.pos.z])
        charge += pocket_charge_of_residue(res)
    if not numbers:
        raise RhomlError(f"{path}: no residue within {cutoff} Å of the ligand of {complex_mol.id}")
    lig_sel = complex_mol.groups == 1
    n_p = len(numbers)
    lig_charge = int(complex_mol.labels.get("ligand_charge", 0))
    total = charge + lig_charge
    z = np.concatenate([np.array(numbers), complex_mol.numbers[lig_sel]])
    from rhoml.io import default_multiplicity

    labels = dict(complex_mol.labels)
    labels["pocket_charge"] = charge
    units = dict(complex_mol.label_units)
    units["pocket_charge"] = "e"
    return Molecule(
        z, np.concatenate([np.array(positions), complex_mol.positions[lig_sel]]), total,
        default_multiplicity(int(z.sum()) - total), complex_mol.id, labels, units,
        np.concatenate([np.zeros(n_p, int), np.ones(int(lig_sel.sum()), int)]),
        complex_mol.source,
    )  # fmt: skip


def _residues(st):
    for chain in st[0]:
        yield from chain


def pocket_charge_of_residue(res) -> int:
    """Formal charge of a residue from its name and hydrogens (PDBbind pockets are protonated):
    LYS +1 with HZ3, ARG +1, HIS +1 with both HD1 and HE2, ASP −1 without HD2, GLU −1 without
    HE2, common metal ions by :data:`_ION_CHARGES`; anything else 0. A heuristic for handing a
    pocket to xTB, not a protonation-state assignment."""
    name = res.name.strip().upper()
    atoms = {a.name.strip() for a in res}
    if name == "LYS":
        return 1 if "HZ3" in atoms or "HZ1" in atoms and "HZ2" in atoms and "HZ3" in atoms else 0
    if name == "ARG":
        return 1
    if name == "HIS":
        return 1 if {"HD1", "HE2"} <= atoms else 0
    if name == "ASP":
        return 0 if "HD2" in atoms else -1
    if name == "GLU":
        return 0 if "HE2" in atoms else -1
    return _ION_CHARGES.get(name, 0)


def load_complexes(root, *, pocket_cutoff: float | None = None, max_ligand: float = 1e9,
                   progress: bool = True) -> tuple[list[Molecule], list[str]]:  # fmt: skip
    """Complexes of a PDBbind folder with labels; returns (molecules, notes on skipped ones).
    Ligands whose atoms reach farther than ``max_ligand`` Å from their centroid are skipped."""
    import warnings

    from rhoml.io.pdbbind import iter_pdbbind

    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mols = list(iter_pdbbind(root, pocket=True, on_error="skip"))
    notes += [str(w.message) for w in caught]
    out = []
    for m in mols:
        if "pK" not in m.labels:
            notes.append(f"{m.id}: no pK label, skipped")
            continue
        lig = m.positions[m.groups == 1]
        if np.abs(lig - lig.mean(0)).max() > max_ligand:
            notes.append(f"{m.id}: ligand larger than the box, skipped")
            continue
        out.append(cut_pocket(m, pocket_cutoff) if pocket_cutoff else m)
    if not out:
        raise RhomlError(f"{root}: no usable complexes ({'; '.join(notes[:3])})")
    return out, notes


def study_data(
    root,
    store_path,
    *,
    spec=None,
    engine: str = "promolecule",
    n_val: int = 6,
    n_test: int = 12,
    max_train: int | None = None,
    split_seed: int = 0,
    pocket_cutoff: float | None = None,
    n_poses: int = 1,
    progress: bool = True,
):
    """Complexes → densities (per group) → cached voxels in ``store_path`` → ``StudyData``."""
    from rhoml.bench.voxel_study import StudyData
    from rhoml.represent.voxel import Voxelizer
    from rhoml.represent.voxel_data import cache_poses, load_poses, spec_key
    from rhoml.store.sqlite_store import Store

    spec = spec or default_spec()
    half = spec.spacing * (spec.n - 1) / 2.0
    mols, notes = load_complexes(root, pocket_cutoff=pocket_cutoff, max_ligand=half)
    n = len(mols)
    if n_val + n_test >= n:
        raise RhomlError(f"{root}: {n} complexes cannot give {n_val} validation + {n_test} test")
    perm = np.random.default_rng(split_seed).permutation(n)
    parts_rows = {"test": perm[:n_test], "val": perm[n_test : n_test + n_val],
                  "train_pool": perm[n_test + n_val :]}  # fmt: skip
    if max_train is not None and max_train > len(parts_rows["train_pool"]):
        raise RhomlError(
            f"{root}: training size {max_train} > {len(parts_rows['train_pool'])} complexes left "
            f"after {n_test} test and {n_val} validation"
        )
    st = Store.create(store_path) if not Path(store_path).exists() else Store.open(store_path)
    density_seconds = []
    try:
        idx = st.add_molecules(mols)
        key = f"voxels/{spec_key(spec, engine)}"
        vox = Voxelizer(spec, engine=engine)
        it = list(zip(idx, mols, strict=True))
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=f"{engine} densities + voxels", leave=False)
        for i, m in it:
            if st.has_array(i, f"{key}/0"):
                continue
            t0 = time.perf_counter()
            dens = vox.densities_for(m) if spec.needs_density else None
            density_seconds.append(time.perf_counter() - t0)
            # densities of separate groups are not one store record; voxels are cached instead
            cache_poses(st, [i], spec, engine=engine, n_poses=n_poses, progress=False,
                        density_fn=lambda _i, _m, d=dens: d)  # fmt: skip
        voxels, values = {}, {}
        for name, rows in parts_rows.items():
            ids = [idx[r] for r in rows]
            voxels[name] = load_poses(st, ids, key, n_poses)
            values[name] = np.array([[float(mols[r].labels["pK"])] for r in rows])
    finally:
        st.close()
    info = {
        "root": str(root), "engine": engine, "n_complexes": n, "skipped": notes,
        "split": f"random test {n_test} / val {n_val} / pool rest, default_rng({split_seed})",
        "voxel_spec": spec.to_dict(), "pocket_cutoff": pocket_cutoff, "n_poses": n_poses,
        "density_seconds_median": float(np.median(density_seconds)) if density_seconds else None,
        "test_codes": [mols[r].id for r in parts_rows["test"]],
    }  # fmt: skip
    return StudyData("pdbbind", ["pK"], ["dimensionless"], spec.channel_names, voxels, values,
                     info)  # fmt: skip
