"""PDBbind protocol for voxel models: complexes, pocket densities, voxels, held-out metrics.

* Input: the standard PDBbind layout (``<root>/<code>/<code>_pocket.pdb``, ``_protein.pdb``,
  ``_ligand.sdf``) with labels from ``labels_pK.csv`` or ``index/INDEX_*`` files (read by
  :func:`rhoml.io.pdbbind.iter_pdbbind`); complexes that fail to read are skipped with a note.
* Pocket: PDBbind's pocket file, or re-cut from ``_protein.pdb`` to the whole residues with any
  atom within ``pocket_cutoff`` Å of a ligand atom (:func:`cut_pocket`): cut bonds capped with
  hydrogens, charge from the protonation states in the file, ions kept, waters and other hetero
  groups dropped, closed-shell check (:mod:`rhoml.io.pocket`). xTB needs such a cut pocket.
* Densities, per group (pocket and ligand computed separately, so they go to separate
  channels): ``promolecule`` (fast, spherical atoms) or ``xtb`` (GFN2-xTB on the capped pocket
  and on the ligand).
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


def default_spec(spacing: float = 0.5, size: float = 24.0):
    """24 Å box on the ligand centroid (0.5 Å → 48³); protein and ligand channels separate; all
    channel kinds (11 element channels incl. 'X' for other elements, ρ, |∇ρ|, shape, per group →
    28 channels)."""
    from rhoml.represent.voxel import VoxelSpec

    return VoxelSpec(
        size=size, spacing=spacing, channels=("atoms", "density", "gradient", "shape"),
        elements=ELEMENTS, separate_groups=True, center_group=1, overflow="crop",
    )  # fmt: skip


def cut_pocket(complex_mol: Molecule, cutoff: float, pdb_path=None,
               notes: list[str] | None = None, closed_shell: bool = True) -> Molecule:  # fmt: skip
    """The complex with its protein part replaced by the whole residues that have an atom within
    ``cutoff`` Å of the ligand, capped with hydrogens at cut bonds and charged from the
    protonation states in the file (:func:`rhoml.io.pocket.prepare_pocket`; label
    ``pocket_charge`` in e, ``pocket_caps``).

    The residues are cut from ``pdb_path`` (default: the complex's ``_protein.pdb``, else its
    ``_pocket.pdb``, where bonds cut by PDBbind's own pocket selection are not seen and so not
    capped). What was dropped is appended to ``notes``. ``closed_shell=False`` skips the
    electron-count check (enough for the promolecule engine).

    Raises:
        InputError: missing file, no residue near the ligand, polar-hydrogen-only pocket.
        ChargeSpinError: odd electron count of the capped pocket (names the complex).
    """
    from rhoml.io import default_multiplicity
    from rhoml.io.pocket import prepare_pocket

    folder = Path(complex_mol.source)
    if pdb_path is None:
        pdb_path = folder / f"{complex_mol.id}_protein.pdb"
        if not pdb_path.is_file():
            pdb_path = folder / f"{complex_mol.id}_pocket.pdb"
            if notes is not None:
                notes.append(f"{complex_mol.id}: no _protein.pdb; cut from the pocket file")
    lig_sel = complex_mol.groups == 1
    pocket = prepare_pocket(
        pdb_path, complex_mol.numbers[lig_sel], complex_mol.positions[lig_sel], cutoff,
        record=complex_mol.id, closed_shell=closed_shell,
    )  # fmt: skip
    if notes is not None:
        notes += [f"{complex_mol.id}: {n}" for n in pocket.notes]
    n_p = len(pocket.numbers)
    total = pocket.charge + int(complex_mol.labels.get("ligand_charge", 0))
    z = np.concatenate([pocket.numbers, complex_mol.numbers[lig_sel]])
    labels = dict(complex_mol.labels)
    labels["pocket_charge"], labels["pocket_caps"] = pocket.charge, pocket.n_caps
    units = dict(complex_mol.label_units)
    units["pocket_charge"], units["pocket_caps"] = "e", "dimensionless"
    return Molecule(
        z, np.concatenate([pocket.positions, complex_mol.positions[lig_sel]]), total,
        default_multiplicity(int(z.sum()) - total), complex_mol.id, labels, units,
        np.concatenate([np.zeros(n_p, int), np.ones(int(lig_sel.sum()), int)]),
        complex_mol.source,
    )  # fmt: skip


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
        if not pocket_cutoff:
            out.append(m)
            continue
        try:
            out.append(cut_pocket(m, pocket_cutoff, notes=notes))
        except RhomlError as exc:
            notes.append(f"skipped: {exc}")
    if not out:
        raise RhomlError(f"{root}: no usable complexes ({'; '.join(notes[:3])})")
    return out, notes


def group_densities(store, mols: list[Molecule], engine: str = "promolecule",
                    options: dict | None = None, *, groups=(0, 1), workers: int | None = 1,
                    progress: bool = True) -> tuple[dict[str, list], dict[str, str]]:  # fmt: skip
    """Densities of the pocket and ligand of every complex, as store records.

    Each group is its own molecule in ``store`` (id ``<code>:g0`` pocket, ``<code>:g1``
    ligand; charges as :func:`rhoml.represent.voxel.group_molecule`) and is computed with the
    batch runner (:func:`rhoml.store.batch.run_batch`: resumable, records reused, failures kept
    with their reason). Returns ``({code: [density per group]}, {code: reason})``.
    """
    from rhoml.represent.voxel import group_molecule
    from rhoml.store.batch import MethodSpec, run_batch

    spec = MethodSpec(engine, dict(options or {}))
    parts = {m.id: [group_molecule(m, g) for g in groups] for m in mols}
    flat = [g for gs in parts.values() for g in gs]
    run_batch(store, flat, spec, workers=workers, progress=progress)
    idx = dict(zip((g.id for g in flat), store.add_molecules(flat), strict=True))
    reasons = {i: r for i, _, r in store.failures(spec.key)}
    out, failed = {}, {}
    for code, gs in parts.items():
        bad = [reasons[idx[g.id]] for g in gs if idx[g.id] in reasons]
        if bad:
            failed[code] = "; ".join(bad)
        else:
            out[code] = [store.density(idx[g.id], spec.key) for g in gs]
    return out, failed


def study_data(
    root,
    store_path,
    *,
    spec=None,
    engine: str = "promolecule",
    engine_options: dict | None = None,
    n_val: int = 6,
    n_test: int = 12,
    max_train: int | None = None,
    split_seed: int = 0,
    pocket_cutoff: float | None = None,
    n_poses: int = 1,
    workers: int | None = 1,
    progress: bool = True,
):
    """Complexes → densities per group (store records, :func:`group_densities`) → cached voxels
    in ``store_path`` → :class:`~rhoml.datasets.VoxelData`.

    The split is drawn over all usable complexes; complexes whose density failed (recorded in
    the store with the reason) are then left out of their part and listed in ``info``, so the
    test codes of two engines differ only by such failures.
    """
    from rhoml.datasets import VoxelData
    from rhoml.represent.voxel_data import cache_poses, load_poses
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
    st = Store.create(store_path) if not Path(store_path).exists() else Store.open(store_path)
    failed: dict[str, str] = {}
    try:
        dens: dict[str, list] = {}
        if spec.needs_density:
            t0 = time.perf_counter()
            dens, failed = group_densities(st, mols, engine, engine_options, groups=spec.groups,
                                           workers=workers, progress=progress)  # fmt: skip
            notes += [f"{c}: {engine} density failed, left out: {r}" for c, r in failed.items()]
            density_wall = time.perf_counter() - t0
        parts_rows = {k: np.array([r for r in v if mols[r].id not in failed], dtype=int)
                      for k, v in parts_rows.items()}  # fmt: skip
        if max_train is not None and max_train > len(parts_rows["train_pool"]):
            raise RhomlError(
                f"{root}: training size {max_train} > {len(parts_rows['train_pool'])} complexes "
                f"left after {n_test} test and {n_val} validation"
            )
        ok = [m for m in mols if m.id not in failed]
        idx = st.add_molecules(ok)
        by_idx = dict(zip(idx, ok, strict=True))
        key = cache_poses(st, idx, spec, engine=engine, engine_options=engine_options,
                          n_poses=n_poses, progress=progress,
                          density_fn=lambda i, _m: dens.get(by_idx[i].id))  # fmt: skip
        row_idx = {m.id: i for i, m in zip(idx, ok, strict=True)}
        voxels, values = {}, {}
        for name, rows in parts_rows.items():
            ids = [row_idx[mols[r].id] for r in rows]
            voxels[name] = load_poses(st, ids, key, n_poses)
            values[name] = np.array([[float(mols[r].labels["pK"])] for r in rows])
    finally:
        st.close()
    info = {
        "root": str(root), "engine": engine, "engine_options": engine_options or {},
        "n_complexes": n - len(failed), "skipped": notes, "density_failed": failed,
        "split": f"random test {n_test} / val {n_val} / pool rest, default_rng({split_seed})",
        "voxel_spec": spec.to_dict(), "pocket_cutoff": pocket_cutoff, "n_poses": n_poses,
        "density_wall_seconds": density_wall if spec.needs_density else None,
        "test_codes": [mols[r].id for r in parts_rows["test"]],
    }  # fmt: skip
    return VoxelData("pdbbind", ["pK"], ["dimensionless"], spec.channel_names, voxels, values,
                     info)  # fmt: skip
