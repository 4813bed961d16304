"""Voxel commands: ``rhoml voxelize`` and ``rhoml bench voxel-study`` (thin wrappers over
:mod:`rhoml.represent.voxel`, :mod:`rhoml.datasets` and :mod:`rhoml.studies.voxel`); voxel
models train and predict through ``rhoml train`` / ``rhoml predict`` (:mod:`rhoml.runs`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rhoml.commands import options
from rhoml.datasets import drop
from rhoml.errors import RhomlError


def _ints(text: str) -> list[int]:
    """Comma-separated positive integers (training-set sizes)."""
    values = [options.positive_int(x) for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def register(sub) -> None:
    vx = sub.add_parser(
        "voxelize",
        help="voxelise molecules (atom types, density, |grad rho|, shape) into a store",
        description="Read molecules, compute their densities with --engine into the store OUT "
        "(resumable; density records already in OUT for the same method and level, e.g. from "
        "'rhoml density compute', are reused), and cache --poses voxel grids per molecule as "
        "store arrays named voxels/<spec hash>/<pose> (float16; channel names and the spec in "
        "the array metadata). The grid comes from --config (a [voxel] table) or the options "
        "below. Protein-ligand complexes (PDBbind folders) with separate_groups get one density "
        "record per group (<code>:g0 pocket, <code>:g1 ligand). A molecule that cannot be "
        "prepared (unreadable file, unknown element, ligand beyond the box, pocket, density or "
        "voxel failure) is left out and recorded in OUT/dropped.csv; the rest go on.",
    )
    vx.add_argument("inputs", nargs="*", metavar="INPUT",
                    help="xyz/sdf/pdb/npz, qm9:N, a PDBbind folder... (default with --config: "
                    "its PDBbind [data].root)")  # fmt: skip
    options.add_out(vx, "store folder, created if absent (default with --config: [data].store)")
    vx.add_argument("--config", default=None,
                    help="a voxel-cnn training config (or a file with a [voxel] table): its "
                    "[voxel] grid (only the channels its [data].representation uses, as "
                    "'rhoml train' caches them) and its [data] engine, solvent, pocket_cutoff, "
                    "n_poses, workers, labels, store and (PDBbind) root; options given here win",
                    )  # fmt: skip
    vx.add_argument("--box", type=options.positive_float, default=None,
                    help="box edge in Å (default 16)")  # fmt: skip
    vx.add_argument("--spacing", type=options.positive_float, default=None,
                    help="voxel step in Å (default 0.5)")  # fmt: skip
    vx.add_argument("--channels", type=_names, default=None,
                    help="comma-separated from atoms,density,gradient,shape (default all)",
                    )  # fmt: skip
    vx.add_argument("--elements", type=_names, default=None,
                    help="atom-type channels (X = all other elements; default H,C,N,O,F)",
                    )  # fmt: skip
    vx.add_argument("--overflow", default=None, choices=["error", "crop"],
                    help="molecule larger than the box: error (default; the molecule is "
                    "dropped and recorded) or crop")  # fmt: skip
    vx.add_argument("--engine", default=None, choices=["xtb", "promolecule", "dft"],
                    help="density engine (default xtb: GFN2-xTB valence density); densities "
                    "already in OUT for the same method and level (e.g. from 'rhoml density "
                    "compute --method dft') are reused, only missing ones are computed",
                    )  # fmt: skip
    vx.add_argument("--functional", default=None,
                    help="dft: functional (default: the level of the dft records already in OUT "
                    "if there is exactly one, else B3LYP)")  # fmt: skip
    vx.add_argument(
        "--basis", default=None, help="dft: orbital basis (default as --functional; else 6-31G**)"
    )
    vx.add_argument(
        "--solvent", default=None, help="xtb: ALPB implicit solvent, e.g. water (default gas phase)"
    )
    vx.add_argument("--pocket-cutoff", type=options.positive_float, default=None,
                    help="protein-ligand complexes (PDBbind folders): re-cut the pocket from "
                    "<code>_protein.pdb to the residues within this many Å of the ligand, "
                    "capped with H at cut bonds, charge from the protonation states (needed "
                    "for --engine xtb: PDBbind pocket files carry only polar hydrogens)",
                    )  # fmt: skip
    vx.add_argument("--poses", type=options.positive_int, default=None,
                    help="cached poses per molecule: pose 0 as read, others random rotation + "
                    "sub-voxel shift (default 1)")  # fmt: skip
    vx.add_argument("--labels", default=None,
                    help="PDBbind folders: label file (CSV code,pK or an index file) instead of "
                    "the folder's labels_pK.csv / index/INDEX_*")  # fmt: skip
    options.add_limit(vx)  # complexes in sorted code order
    options.add_workers(vx)
    vx.add_argument("--npy", default=None, help="also write pose 0 of all molecules to this .npy")
    options.add_quiet(vx)
    vx.set_defaults(handler=_cmd_voxelize)

    bench = options.bench_subparsers(sub)
    st = bench.add_parser(
        "voxel-study",
        help="voxel study: representations x training size x seed -> test errors",
        description="Train the same 3D ResNet on every voxel representation (atoms, density, "
        "gradient, shape, density+gradient) for every training-set size and seed; write "
        "OUT/results.json, OUT/results.md and OUT/learning_curve.png. Resumable: finished runs "
        "(OUT/runs/.../result.json) are skipped. QM9: standard 110k/10k/rest split (seed 42), "
        "GFN2-xTB input densities, targets in meV / D / bohr^3. PDBbind: a PDBbind folder "
        "(<code>/<code>_pocket.pdb + _ligand.sdf, labels from labels_pK.csv or index/INDEX_*), "
        "pK target, RMSE / Pearson / Spearman on a held-out set (random, scaffold or protein "
        "split); complexes that cannot be prepared are recorded in OUT/dropped.csv.",
    )
    st.add_argument("--dataset", required=True, choices=["qm9", "pdbbind"])
    st.add_argument("--root", default=None, help="PDBbind folder (for --dataset pdbbind)")
    st.add_argument(
        "--targets",
        type=_names,
        default=None,
        help="QM9 targets, comma-separated (default gap,U0,mu); PDBbind: pK",
    )
    st.add_argument("--sizes", type=_ints, required=True, help="training-set sizes, e.g. 100,300")
    st.add_argument(
        "--seeds", type=options.positive_int, default=2, help="seeds per size (default 2)"
    )
    st.add_argument(
        "--reps",
        type=_names,
        default=["atoms", "density", "gradient", "shape"],
        help="representations (default atoms,density,gradient,shape; also density+gradient)",
    )
    options.add_out(st, "study folder", required=True)
    st.add_argument("--store", default=None, help="density/voxel store (default OUT/store)")
    st.add_argument(
        "--n-val",
        type=options.positive_int,
        default=None,
        help="validation molecules (default QM9 200, PDBbind 6)",
    )
    st.add_argument(
        "--n-test",
        type=options.nonnegative_int,
        default=None,
        help="test molecules: QM9 from the 10,831 test split (0 = all; default 1000), "
        "PDBbind held-out complexes (default 12)",
    )
    st.add_argument(
        "--box",
        type=options.positive_float,
        default=None,
        help="box edge in Å (default 16 for QM9, 24 for PDBbind)",
    )
    st.add_argument(
        "--spacing", type=options.positive_float, default=1.0, help="voxel step in Å (default 1.0)"
    )
    st.add_argument(
        "--engine",
        default=None,
        help="density engine (QM9: xtb; PDBbind: promolecule (default) or xtb)",
    )
    st.add_argument(
        "--poses",
        type=options.positive_int,
        default=1,
        help="cached physical poses per molecule (default 1: exact cube rotations only)",
    )
    st.add_argument(
        "--pocket-cutoff",
        type=options.positive_float,
        default=None,
        help="PDBbind: re-cut the pocket from <code>_protein.pdb to the residues within this "
        "many Å of the ligand, H caps at cut bonds, charge from the protonation states; "
        "complexes that cannot be prepared (polar-H-only files, odd electron count) are "
        "skipped (default: PDBbind's pocket file as is; needed for --engine xtb)",
    )
    st.add_argument(
        "--solvent",
        default=None,
        help="PDBbind with --engine xtb: ALPB implicit solvent, e.g. water (default gas phase)",
    )
    st.add_argument("--labels", default=None,
                    help="PDBbind: label file (CSV code,pK or an index file of any PDBbind "
                    "release) instead of the folder's labels_pK.csv / index/INDEX_*")  # fmt: skip
    st.add_argument("--exclude-ic50", action="store_true",
                    help="PDBbind: leave out complexes labelled with an IC50 (recorded)",
                    )  # fmt: skip
    st.add_argument("--exclude-qualified", action="store_true",
                    help="PDBbind: leave out bounds and approximate values (<, >, ~, <=, >=)",
                    )  # fmt: skip
    st.add_argument("--split", default="random", choices=["random", "scaffold", "protein"],
                    help="PDBbind held-out split: random (default), whole ligand Bemis-Murcko "
                    "scaffolds, or whole protein-chain clusters (rhoml.datasets.clusters)",
                    )  # fmt: skip
    st.add_argument("--split-threshold", type=options.positive_float, default=0.1,
                    help="--split protein: 3-mer Jaccard similarity that links two chains "
                    "(default 0.1, about 55 %% sequence identity)")  # fmt: skip
    st.add_argument("--split-seed", type=options.nonnegative_int, default=0,
                    help="PDBbind: seed of the split (default 0)")  # fmt: skip
    st.add_argument("--model", default="resnet3d-small", help="model or preset name")
    st.add_argument(
        "--samples-per-run",
        type=options.positive_int,
        default=12000,
        help="training samples per run; epochs = this / size (default 12000)",
    )
    st.add_argument("--min-epochs", type=options.positive_int, default=10)
    st.add_argument("--max-epochs", type=options.positive_int, default=30)
    st.add_argument("--batch-size", type=options.positive_int, default=32)
    st.add_argument("--lr", type=options.positive_float, default=1e-3)
    st.add_argument(
        "--scheduler",
        default="plateau",
        choices=["plateau", "cosine"],
        help="learning-rate schedule: halve on a 3-epoch validation plateau (default) or a "
        "half cosine to 0 over the run's epochs (the test uses the best validation epoch "
        "either way)",
    )
    st.add_argument(
        "--patience",
        type=options.nonnegative_int,
        default=10,
        help="early stopping after this many epochs without validation improvement "
        "(default 10; 0 = train every epoch)",
    )
    options.add_threads(st)
    options.add_device(st)
    options.add_workers(st)
    st.add_argument(
        "--summary-only",
        action="store_true",
        help="train nothing: summarise the finished runs under OUT/runs (cells may have fewer "
        "seeds than --seeds; each records its count)",
    )
    options.add_quiet(st)
    st.set_defaults(handler=_cmd_study)


def _cmd_study(args) -> int:
    from rhoml.studies.voxel import StudySettings, run_study

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RhomlError(f"--out {out}: exists and is not a folder")
    store = Path(args.store) if args.store else out / "store"
    progress = not args.quiet
    if args.summary_only:
        data = None
    elif args.dataset == "qm9":
        from rhoml.datasets import qm9 as q

        targets = args.targets or ["gap", "U0", "mu"]
        n_test = 1000 if args.n_test is None else args.n_test
        sel = q.select(max(args.sizes), args.n_val or 200, n_test or None)
        spec = q.default_spec(args.spacing, args.box or 16.0)
        data = q.study_data(
            store,
            sel,
            targets,
            spec=spec,
            engine=args.engine or "xtb",
            n_poses=args.poses,
            workers=args.workers,
            progress=progress,
        )
    else:
        from rhoml.datasets import pdbbind as p

        if not args.root:
            raise RhomlError("--dataset pdbbind needs --root PDBBIND_FOLDER")
        spec = p.default_spec(args.spacing, args.box or 24.0)
        data = p.study_data(
            args.root,
            store,
            spec=spec,
            engine=args.engine or "promolecule",
            n_val=6 if args.n_val is None else args.n_val,
            n_test=12 if args.n_test is None else args.n_test,
            pocket_cutoff=args.pocket_cutoff,
            max_train=max(args.sizes),
            n_poses=args.poses,
            engine_options={"solvent": args.solvent} if args.solvent else None,
            labels=args.labels,
            exclude_ic50=args.exclude_ic50,
            exclude_qualified=args.exclude_qualified,
            split=args.split,
            split_threshold=args.split_threshold,
            split_seed=args.split_seed,
            workers=args.workers,
            progress=progress,
        )
    settings = StudySettings(
        representations=args.reps,
        sizes=args.sizes,
        seeds=args.seeds,
        model=args.model,
        samples_per_run=args.samples_per_run,
        min_epochs=args.min_epochs,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        scheduler=args.scheduler,
        patience=args.patience,
        threads=args.threads,
        device=args.device,
    )
    summary = run_study(data, settings, out, progress=progress, summary_only=args.summary_only)
    from rhoml.studies.voxel import markdown

    print(markdown(summary))
    print(f"-> {out}/results.json, results.md, learning_curve.png")
    return 0


def _method_spec(args):
    """The density method of ``voxelize`` (same options, so the same store record key, as
    ``rhoml density compute``); a dft level not given is taken from OUT's dft records."""
    from rhoml.density import level_options
    from rhoml.store.batch import MethodSpec

    if args.engine == "dft":
        if (args.functional, args.basis) == (None, None):
            stored = _stored_dft_levels(args.out)
            if len(stored) > 1:
                names = ", ".join(f"{o['functional']}/{o['basis']}" for o in stored)
                raise RhomlError(
                    f"{args.out}: dft densities at several levels ({names}); choose one with "
                    "--functional/--basis"
                )
            if stored:
                return MethodSpec("dft", stored[0])
    options = level_options(args.engine, args.functional, args.basis)
    if args.solvent:
        if args.engine != "xtb":
            raise RhomlError(f"--solvent applies to --engine xtb, not {args.engine}")
        options["solvent"] = args.solvent
    return MethodSpec(args.engine, options)


def _stored_dft_levels(path) -> list[dict]:
    """Options ({functional, basis}) of the dft methods with finished records in store ``path``
    whose record key matches what ``rhoml density compute`` would write for that level."""
    from rhoml.store.batch import MethodSpec
    from rhoml.store.sqlite_store import Store

    if not Path(path).exists():
        return []
    out = []
    with Store.open(path, readonly=True) as st:
        for method in st.methods():
            if not method.startswith("dft:"):
                continue
            ok = st.finished(method, include_failed=False)
            if not ok:
                continue
            level = st.density(min(ok), method).level  # "<functional>/<basis>"
            functional, _, basis = level.partition("/")
            options = {"functional": functional, "basis": basis}
            if MethodSpec("dft", options).key == method:
                out.append(options)
    return out


_DEFAULTS = {"engine": "xtb", "solvent": None, "pocket_cutoff": None, "poses": 1,
             "workers": None, "labels": None, "box": 16.0, "spacing": 0.5,
             "channels": ["atoms", "density", "gradient", "shape"],
             "elements": ["H", "C", "N", "O", "F"], "overflow": "error"}  # fmt: skip


def _voxelize_config(args):
    """Resolve ``voxelize`` options: given on the command line > the config (``[voxel]`` grid,
    ``[data]`` engine, solvent, pocket_cutoff, n_poses, workers, labels, store, root) >
    defaults. Returns the voxel spec; fills ``args`` in place."""
    from rhoml.represent.voxel import VoxelSpec

    if args.config:
        from rhoml.config import ConfigError, load_config, read_table_file
        from rhoml.families.voxel_cnn import VoxelCNNFamily

        raw = read_table_file(args.config)
        family = raw.pop("family", VoxelCNNFamily.name)
        if family != VoxelCNNFamily.name:
            raise ConfigError(f"{args.config}: family {family!r}: voxelize reads voxel-cnn configs")
        fam = VoxelCNNFamily()
        sections = load_config(raw, fam.sections, str(args.config),
                               base_dir=Path(args.config).resolve().parent)  # fmt: skip
        # a training config: the channels its representation uses (as `rhoml train` caches
        # them, so the run finds them); a bare [voxel] table: its channels
        narrow = "representation" in (raw.get("data") or {})
        fam.check_config(sections, str(args.config), narrow=narrow)
        d = sections["data"]
        from_config = {"engine": d.default_engine, "solvent": d.solvent or None,
                       "pocket_cutoff": d.pocket_cutoff or None, "poses": d.n_poses,
                       "workers": d.workers, "labels": d.labels or None}  # fmt: skip
        for name, value in from_config.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
        if args.out is None and d.store:
            args.out = d.store
        if not args.inputs:
            if d.dataset != "pdbbind":
                raise RhomlError(f"{args.config}: give INPUT molecules (qm9:N, files)")
            args.inputs = [d.root]
        grid = {"size": args.box, "spacing": args.spacing, "overflow": args.overflow,
                "channels": args.channels, "elements": args.elements}  # fmt: skip
        spec = VoxelSpec.from_dict(
            {**sections["voxel"], **{k: v for k, v in grid.items() if v is not None}}
        )
    for name, value in _DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if not args.inputs:
        raise RhomlError("voxelize: give INPUT molecules (or --config with a PDBbind [data].root)")
    if args.out is None:
        raise RhomlError("voxelize: give --out STORE (or [data].store in --config)")
    if not args.config:
        spec = VoxelSpec(size=args.box, spacing=args.spacing, channels=tuple(args.channels),
                         elements=tuple(args.elements), overflow=args.overflow)  # fmt: skip
    return spec


def _cmd_voxelize(args) -> int:
    import numpy as np

    from rhoml.datasets import dropped_summary, write_dropped
    from rhoml.datasets.pdbbind import prepare_complexes, read_inputs
    from rhoml.represent.voxel_data import cache_poses, load_poses
    from rhoml.store.batch import run_batch
    from rhoml.store.sqlite_store import Store

    spec = _voxelize_config(args)
    dropped: list[dict] = []
    molecules = read_inputs(args.inputs, labels=args.labels, limit=args.limit, dropped=dropped)
    if not molecules and not dropped:
        raise RhomlError(f"{', '.join(args.inputs)}: no molecules found")
    mspec = _method_spec(args)
    complexes = {m.id for m in molecules if m.groups is not None and (m.groups == 1).any()}
    if complexes and not args.pocket_cutoff and args.engine == "xtb" and spec.needs_density:
        raise RhomlError(
            f"{sorted(complexes)[0]}: --engine xtb on a protein-ligand complex "
            "needs --pocket-cutoff (e.g. 6): the pocket is re-cut from the protein and capped"
        )
    molecules = prepare_complexes(molecules, spec, pocket_cutoff=args.pocket_cutoff,
                                  closed_shell=args.engine == "xtb", rotated=args.poses > 1,
                                  dropped=dropped)  # fmt: skip
    method = None
    dens: dict = {}
    idx: list[int] = []
    key = None
    if molecules and spec.needs_density and not spec.separate_groups:
        rep = run_batch(args.out, molecules, mspec, workers=args.workers,
                        progress=not args.quiet)  # fmt: skip
        method = rep.method
        print(f"{method}: {rep.skipped} density record(s) reused, {rep.ok} computed, "
              f"{rep.failed} failed")  # fmt: skip
    elif not Path(args.out).exists():
        Store.create(args.out).close()
    with Store.open(args.out) as st:
        if molecules and spec.needs_density and spec.separate_groups:
            from rhoml.datasets.pdbbind import group_densities

            dens, failed = group_densities(st, molecules, mspec.engine, mspec.options,
                                           groups=spec.groups, workers=args.workers,
                                           progress=not args.quiet)  # fmt: skip
            for code, reason in failed.items():
                drop(dropped, code, "density", f"{mspec.engine} density failed: {reason}")
            molecules = [m for m in molecules if m.id not in failed]
        if molecules:
            idx = st.add_molecules(molecules)
        if method and idx:
            ok = st.finished(method, include_failed=False)
            reasons = {i: r for i, _, r in st.failures(method)}
            for i, m in zip(idx, molecules, strict=True):
                if i not in ok:
                    drop(dropped, m.id, "density", f"{method}: {reasons.get(i, 'no density')}")
            molecules = [m for i, m in zip(idx, molecules, strict=True) if i in ok]
            idx = [i for i in idx if i in ok]
        by_idx = dict(zip(idx, molecules, strict=True))
        density_fn = (lambda i, _m: dens[by_idx[i].id]) if dens else None
        kw = dict(method=method, engine=args.engine, engine_options=mspec.options,
                  n_poses=args.poses, density_fn=density_fn)  # fmt: skip
        if idx:
            try:
                key = cache_poses(st, idx, spec, progress=not args.quiet, **kw)
            except RhomlError:  # one at a time: record the molecules that fail, keep the rest
                kept = []
                for i in idx:
                    try:
                        key = cache_poses(st, [i], spec, progress=False, **kw)
                        kept.append(i)
                    except RhomlError as exc:
                        from rhoml.represent.voxel import VoxelBoxError

                        stage = "box" if isinstance(exc, VoxelBoxError) else "voxels"
                        drop(dropped, by_idx[i].id, stage, exc)
                idx = kept
        if args.npy and idx:
            np.save(args.npy, load_poses(st, idx, key, 1)[:, 0])
    write_dropped(Path(args.out) / "dropped.csv", dropped)
    if dropped:
        summary = dropped_summary(dropped)
        stages = ", ".join(f"{k} {v}" for k, v in summary["by_stage"].items())
        print(f"dropped {summary['n']} ({stages}); see {Path(args.out) / 'dropped.csv'}:")
        for d in dropped:
            print(f"  {d['id']}: {d['stage']}: {d['reason']}")
    if not idx:
        why = "; ".join(f"{d['id']}: {d['reason']}" for d in dropped[:2])
        raise RhomlError(f"{args.out}: no molecule could be prepared, nothing voxelised ({why})")
    print(
        f"{len(idx)} molecules x {args.poses} pose(s), {spec.n_channels} channels "
        f"({', '.join(spec.channel_names)}), {spec.n}^3 grid -> {args.out} arrays {key}/<pose>"
    )
    return 0
