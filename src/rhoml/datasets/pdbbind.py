"""PDBbind protocol for voxel models: complexes, pocket densities, voxels, held-out metrics.

* Input: the standard PDBbind layout (``<root>/<code>/<code>_pocket.pdb``, ``_protein.pdb``,
  ``_ligand.sdf``) with labels from ``labels=`` (a CSV ``code,pK`` or an index file),
  ``labels_pK.csv`` or ``index/INDEX_*`` files (read by :func:`rhoml.io.pdbbind.iter_pdbbind`);
  IC50 values or bounds can be excluded.
* Pocket: PDBbind's pocket file, or re-cut from ``_protein.pdb`` to the whole residues with any
  atom within ``pocket_cutoff`` Å of a ligand atom (:func:`cut_pocket`): cut bonds capped with
  hydrogens, charge from the protonation states in the file, ions kept, waters and other hetero
  groups dropped, closed-shell check (:mod:`rhoml.io.pocket`). xTB needs such a cut pocket.
* Densities, per group (pocket and ligand computed separately, so they go to separate
  channels): ``promolecule`` (fast, spherical atoms) or ``xtb`` (GFN2-xTB on the capped pocket
  and on the ligand).
* Grid: 24 Å box centred on the ligand centroid, pocket and ligand in separate channels;
  :func:`default_spec` takes the spacing (0.5 Å → 48³ as gnina; the CPU-scale study uses 1 Å →
  24³, KDEEP's grid).
* Skip-and-record: a complex that cannot be prepared (unreadable or missing file, unknown
  element, no label, ligand beyond the box, pocket preparation or density failure) is left out
  and recorded as ``{id, stage, reason}`` (``info["dropped"]``, ``dropped.csv`` in run and study
  folders); the rest go on.
* Split: a held-out test set (``n_test``), a validation set (``n_val``), the rest is the
  training pool; ``random`` (seeded), or whole clusters by ligand ``scaffold`` or ``protein``
  chain similarity (:mod:`rhoml.datasets.clusters`); metrics RMSE, Pearson R, Spearman ρ on the
  test set (pK units).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rhoml.datasets import drop
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


def box_problem(mol: Molecule, spec, rotated: bool = False) -> str | None:
    """Why ``mol`` does not fit ``spec``'s box, or None: atoms of the centring group (the
    ligand) outside the box, or with ``overflow="error"`` any atom outside. ``rotated``: also
    for every rotation about the centre (cached random poses)."""
    from rhoml.represent.voxel import centre_of

    half = spec.spacing * (spec.n - 1) / 2.0
    pos = mol.positions - centre_of(mol, spec.center_group)
    if spec.overflow == "error":
        sel = np.ones(mol.n_atoms, bool)
    elif spec.center_group is not None and mol.groups is not None:
        sel = mol.groups == spec.center_group
    else:
        return None
    if not sel.any():
        return None
    reach = (np.linalg.norm(pos[sel], axis=1).max() + 0.5 * spec.spacing if rotated
             else np.abs(pos[sel]).max())  # fmt: skip
    if reach <= half + 1e-9:
        return None
    what = "ligand" if spec.overflow != "error" and mol.groups is not None else "molecule"
    return (f"{what} reaches {reach:.1f} Å from the box centre, outside the {spec.size:g} Å box "
            f"(half-edge {half:.1f} Å)")  # fmt: skip


def read_complexes(root, *, labels=None, limit: int | None = None, dropped: list | None = None,
                   pocket: bool = True) -> list[Molecule]:  # fmt: skip
    """The complexes of a PDBbind folder (``labels``: see
    :func:`rhoml.io.pdbbind.iter_pdbbind`; ``False`` reads none). A complex that cannot be read
    (missing file, unreadable structure, unknown element) is recorded in ``dropped`` (stage
    ``read``) and the rest go on; ``limit``: the first ``limit`` complexes (sorted codes)."""
    from itertools import islice

    from rhoml.io.pdbbind import iter_pdbbind

    def record(code: str, exc: Exception) -> None:
        drop(dropped, code, "read", exc)

    return list(islice(iter_pdbbind(root, pocket=pocket, labels=labels, on_error=record), limit))


def read_inputs(inputs, *, labels=None, limit: int | None = None,
                dropped: list | None = None) -> list[Molecule]:  # fmt: skip
    """Molecules of every input (files through :func:`rhoml.io.read_molecules`, PDBbind folders
    through :func:`read_complexes` with skip-and-record), at most ``limit`` in all."""
    from rhoml.io import read_molecules

    out: list[Molecule] = []
    for inp in inputs:
        left = None if limit is None else limit - len(out)
        if left is not None and left <= 0:
            break
        p = Path(str(inp))
        if p.is_dir() and (any(p.glob("*/*_ligand.sdf")) or any(p.glob("*/*_ligand.mol2"))):
            out += read_complexes(p, labels=labels, limit=left, dropped=dropped)
        else:
            from itertools import islice

            out += list(islice(read_molecules(inp), left))
    return out


def prepare_complexes(mols: list[Molecule], spec=None, *, pocket_cutoff: float | None = None,
                      closed_shell: bool = True, rotated: bool = False,
                      dropped: list | None = None) -> list[Molecule]:  # fmt: skip
    """Molecules ready for voxelisation: those that do not fit ``spec``'s box (stage ``box``)
    or whose pocket cannot be cut (``pocket_cutoff``; stage ``pocket``) are recorded in
    ``dropped`` and left out. Molecules without groups are passed through the box check
    only."""
    out = []
    for m in mols:
        if spec is not None:
            why = box_problem(m, spec, rotated)
            if why:
                drop(dropped, m.id, "box", why)
                continue
        if pocket_cutoff and m.groups is not None and (m.groups == 1).any() and m.source:
            try:
                m = cut_pocket(m, pocket_cutoff, closed_shell=closed_shell)
            except RhomlError as exc:
                drop(dropped, m.id, "pocket", exc)
                continue
        out.append(m)
    return out


def load_complexes(root, *, pocket_cutoff: float | None = None, max_ligand: float = 1e9,
                   spec=None, labels=None, exclude_ic50: bool = False,
                   exclude_qualified: bool = False, closed_shell: bool = True,
                   progress: bool = True) -> tuple[list[Molecule], list[dict]]:  # fmt: skip
    """Labelled complexes of a PDBbind folder ready for voxelisation; returns (molecules, drop
    records ``{id, stage, reason}``). Left out and recorded: complexes that cannot be read,
    without a pK (or, with ``exclude_ic50`` / ``exclude_qualified``, with an IC50 or a bound /
    approximate value), whose ligand does not fit ``spec``'s box (or reaches farther than
    ``max_ligand`` Å from its centroid), or whose pocket cannot be cut."""
    dropped: list[dict] = []
    mols = read_complexes(root, labels=labels, dropped=dropped)
    labelled = []
    for m in mols:
        if "pK" not in m.labels:
            drop(dropped, m.id, "label", "no pK in the label source")
        elif exclude_ic50 and m.labels.get("measure") == "IC50":
            drop(dropped, m.id, "label", "IC50 value excluded (exclude_ic50)")
        elif exclude_qualified and m.labels.get("qualifier", "=") != "=":
            why = f"qualified value {m.labels['qualifier']} excluded (exclude_qualified)"
            drop(dropped, m.id, "label", why)
        else:
            lig = m.positions[m.groups == 1]
            if np.abs(lig - lig.mean(0)).max() > max_ligand:
                drop(dropped, m.id, "box", f"ligand reaches beyond {max_ligand:.1f} Å")
                continue
            labelled.append(m)
    out = prepare_complexes(labelled, spec, pocket_cutoff=pocket_cutoff,
                            closed_shell=closed_shell, dropped=dropped)  # fmt: skip
    if not out:
        reasons = "; ".join(f"{d['id']}: {d['reason']}" for d in dropped[:3])
        raise RhomlError(f"{root}: no usable complexes ({reasons})")
    return out, dropped


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


def split_complexes(mols: list[Molecule], n_test: int, n_val: int, *, split: str = "random",
                    seed: int = 0, threshold: float = 0.1) -> tuple[dict, dict]:  # fmt: skip
    """Row indices ``{"test", "val", "train_pool"}`` of ``mols`` and a description.

    ``random``: a ``default_rng(seed)`` permutation cut into test, validation and the pool.
    ``scaffold`` / ``protein``: whole clusters (:mod:`rhoml.datasets.clusters`; ``threshold``
    for protein chains) go to one part (:func:`rhoml.datasets.splits.cluster_split`), so no
    cluster is on both sides; parts may be smaller than asked when clusters are large. The pool
    is in a seeded order: its prefixes are the nested learning-curve training sets."""
    n = len(mols)
    if n_val + n_test >= n:
        raise RhomlError(f"{n} complexes cannot give {n_val} validation + {n_test} test")
    if split == "random":
        perm = np.random.default_rng(seed).permutation(n)
        rows = {"test": perm[:n_test], "val": perm[n_test : n_test + n_val],
                "train_pool": perm[n_test + n_val :]}  # fmt: skip
        return rows, {"split": f"random test {n_test} / val {n_val} / pool rest, "
                      f"default_rng({seed})"}  # fmt: skip
    from rhoml.datasets.clusters import clusters
    from rhoml.datasets.splits import cluster_split

    labels, info = clusters(mols, split, threshold)
    test, val, pool = cluster_split(labels, [n_test, n_val], seed)
    if not len(test) or not len(val) or not len(pool):
        raise RhomlError(
            f"{split} split of {n} complexes in {info['n_clusters']} clusters: test {len(test)}, "
            f"validation {len(val)}, pool {len(pool)}; every part needs a complex"
        )
    rows = {"test": test, "val": val, "train_pool": pool}
    desc = {"split": f"{split} clusters ({info['method']}): test {len(test)} / val {len(val)} "
            f"/ pool {len(pool)} (asked {n_test} / {n_val}), clusters in default_rng({seed}) "
            "order", "clusters": info,
            "cluster_of": {m.id: c for m, c in zip(mols, labels, strict=True)}}  # fmt: skip
    return rows, desc


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
    split: str = "random",
    split_threshold: float = 0.1,
    labels=None,
    exclude_ic50: bool = False,
    exclude_qualified: bool = False,
    pocket_cutoff: float | None = None,
    n_poses: int = 1,
    workers: int | None = 1,
    progress: bool = True,
):
    """Complexes → densities per group (store records, :func:`group_densities`) → cached voxels
    in ``store_path`` → :class:`~rhoml.datasets.VoxelData`.

    The split (:func:`split_complexes`) is drawn over all usable complexes; densities and
    voxels are computed for the test and validation parts and the first ``max_train`` of the
    pool (topped up along the pool when some fail). Complexes that cannot be prepared are left
    out of their part and recorded in ``info["dropped"]`` (``{id, stage, reason}``), so the
    test codes of two engines differ only by such failures.
    """
    from rhoml.datasets import VoxelData, dropped_summary
    from rhoml.represent.voxel_data import cache_poses, load_poses
    from rhoml.store.sqlite_store import Store

    spec = spec or default_spec()
    mols, dropped = load_complexes(
        root, pocket_cutoff=pocket_cutoff, spec=spec, labels=labels, exclude_ic50=exclude_ic50,
        exclude_qualified=exclude_qualified, progress=progress,
    )  # fmt: skip
    n = len(mols)
    try:
        parts_rows, split_info = split_complexes(
            mols, n_test, n_val, split=split, seed=split_seed, threshold=split_threshold
        )
    except RhomlError as exc:
        raise RhomlError(f"{root}: {exc} ({len(dropped)} dropped while preparing)") from None
    pool = list(parts_rows["train_pool"])
    k = len(pool) if max_train is None else min(max_train, len(pool))
    st = Store.create(store_path) if not Path(store_path).exists() else Store.open(store_path)
    failed: dict[str, str] = {}
    dens: dict[str, list] = {}
    density_wall = 0.0
    try:
        while True:
            rows = [*parts_rows["test"], *parts_rows["val"], *pool[:k]]
            todo = [mols[r] for r in rows if mols[r].id not in dens and mols[r].id not in failed]
            if spec.needs_density and todo:
                t0 = time.perf_counter()
                got, bad = group_densities(st, todo, engine, engine_options, groups=spec.groups,
                                           workers=workers, progress=progress)  # fmt: skip
                dens.update(got)
                failed.update(bad)
                density_wall += time.perf_counter() - t0
            ok_pool = [r for r in pool[:k] if mols[r].id not in failed]
            if max_train is None or len(ok_pool) >= max_train or k == len(pool):
                break
            k = min(len(pool), k + max_train - len(ok_pool))
        for code, reason in failed.items():
            drop(dropped, code, "density", f"{engine} density failed: {reason}")
        parts_rows = {"test": parts_rows["test"], "val": parts_rows["val"],
                      "train_pool": np.array(pool[:k], dtype=int)}  # fmt: skip
        parts_rows = {name: np.array([r for r in v if mols[r].id not in failed], dtype=int)
                      for name, v in parts_rows.items()}  # fmt: skip
        if max_train is not None and max_train > len(parts_rows["train_pool"]):
            raise RhomlError(
                f"{root}: training size {max_train} > {len(parts_rows['train_pool'])} complexes "
                f"left for training ({n} usable, {len(parts_rows['test'])} test, "
                f"{len(parts_rows['val'])} validation, {len(dropped)} dropped while preparing: "
                f"see dropped.csv)"
            )
        used = sorted({int(r) for v in parts_rows.values() for r in v})
        ok = [mols[r] for r in used]
        idx = st.add_molecules(ok)
        by_idx = dict(zip(idx, ok, strict=True))
        key = cache_poses(st, idx, spec, engine=engine, engine_options=engine_options,
                          n_poses=n_poses, progress=progress,
                          density_fn=lambda i, _m: dens.get(by_idx[i].id))  # fmt: skip
        row_idx = {m.id: i for i, m in zip(idx, ok, strict=True)}
        voxels, values = {}, {}
        for name, part in parts_rows.items():
            ids = [row_idx[mols[r].id] for r in part]
            voxels[name] = load_poses(st, ids, key, n_poses)
            values[name] = np.array([[float(mols[r].labels["pK"])] for r in part])
    finally:
        st.close()
    info = {
        "root": str(root), "engine": engine, "engine_options": engine_options or {},
        "n_complexes": n - len(failed), "dropped": dropped,
        "dropped_summary": dropped_summary(dropped), **split_info,
        "split_kind": split, "split_seed": split_seed,
        "voxel_spec": spec.to_dict(), "pocket_cutoff": pocket_cutoff, "n_poses": n_poses,
        "density_wall_seconds": density_wall if spec.needs_density else None,
        "test_codes": [mols[r].id for r in parts_rows["test"]],
        "val_codes": [mols[r].id for r in parts_rows["val"]],
        "train_codes": [mols[r].id for r in parts_rows["train_pool"]],
        "labels": str(labels) if labels else None,
        "exclude_ic50": exclude_ic50, "exclude_qualified": exclude_qualified,
    }  # fmt: skip
    return VoxelData("pdbbind", ["pK"], ["dimensionless"], spec.channel_names, voxels, values,
                     info)  # fmt: skip
