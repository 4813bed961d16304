"""Voxel commands: ``rhoml voxelize``, ``rhoml train``, ``rhoml predict``,
``rhoml bench voxel-study`` (thin wrappers over :mod:`rhoml.represent.voxel`,
:mod:`rhoml.train` and :mod:`rhoml.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rhoml.errors import RhomlError


def _bench_subparsers(sub):
    """The sub-command group under ``rhoml bench`` (created once, shared with other modules)."""
    if "bench" in sub.choices:
        parser = sub.choices["bench"]
    else:
        parser = sub.add_parser("bench", help="benchmark studies (rhoml bench voxel-study ...)")
    for action in getattr(parser, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="bench_command", required=True)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def register(sub) -> None:
    bench = _bench_subparsers(sub)
    st = bench.add_parser(
        "voxel-study",
        help="seed-000 study: voxel representations x training size x seed -> test errors",
        description="Train the same 3D ResNet on every voxel representation (atoms, density, "
        "gradient, shape, density+gradient) for every training-set size and seed; write "
        "OUT/results.json, OUT/results.md and OUT/learning_curve.png. Resumable: finished runs "
        "(OUT/runs/.../result.json) are skipped. QM9: standard 110k/10k/rest split (seed 42), "
        "GFN2-xTB input densities, targets in meV / D / bohr^3. PDBbind: a PDBbind folder "
        "(<code>/<code>_pocket.pdb + _ligand.sdf, labels from labels_pK.csv or index/INDEX_*), "
        "pK target, RMSE / Pearson / Spearman on a held-out set.",
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
    st.add_argument("--seeds", type=int, default=2, help="seeds per size (default 2)")
    st.add_argument(
        "--reps",
        type=_names,
        default=["atoms", "density", "gradient", "shape"],
        help="representations (default atoms,density,gradient,shape; also density+gradient)",
    )
    st.add_argument("--out", required=True, help="output folder")
    st.add_argument("--store", default=None, help="density/voxel store (default OUT/store)")
    st.add_argument(
        "--n-val", type=int, default=None, help="validation molecules (default QM9 200, PDBbind 6)"
    )
    st.add_argument(
        "--n-test",
        type=int,
        default=None,
        help="test molecules: QM9 from the 10,831 test split (0 = all; default 1000), "
        "PDBbind held-out complexes (default 12)",
    )
    st.add_argument(
        "--box", type=float, default=None, help="box edge in Å (default 16 for QM9, 24 for PDBbind)"
    )
    st.add_argument("--spacing", type=float, default=1.0, help="voxel step in Å (default 1.0)")
    st.add_argument(
        "--engine",
        default=None,
        help="density engine (QM9: xtb; PDBbind: promolecule (default) or xtb)",
    )
    st.add_argument(
        "--poses",
        type=int,
        default=1,
        help="cached physical poses per molecule (default 1: exact cube rotations only)",
    )
    st.add_argument(
        "--pocket-cutoff",
        type=float,
        default=None,
        help="PDBbind: re-cut the pocket to residues within this many Å of the ligand "
        "(default: PDBbind's pocket file as is)",
    )
    st.add_argument("--model", default="resnet3d-small", help="model or preset name")
    st.add_argument(
        "--samples-per-run",
        type=int,
        default=12000,
        help="training samples per run; epochs = this / size (default 12000)",
    )
    st.add_argument("--min-epochs", type=int, default=10)
    st.add_argument("--max-epochs", type=int, default=30)
    st.add_argument("--batch-size", type=int, default=32)
    st.add_argument("--lr", type=float, default=1e-3)
    st.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    st.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    st.add_argument("--workers", type=int, default=2, help="processes for density calculations")
    st.add_argument("--quiet", action="store_true", help="no progress bars")
    st.set_defaults(handler=_cmd_study)


def _cmd_study(args) -> int:
    from rhoml.bench.voxel_study import StudySettings, run_study

    out = Path(args.out)
    store = Path(args.store) if args.store else out / "store"
    progress = not args.quiet
    if args.dataset == "qm9":
        from rhoml.bench import qm9_protocol as q

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
        from rhoml.bench import pdbbind_protocol as p

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
        threads=args.threads,
        device=args.device,
    )
    summary = run_study(data, settings, out, progress=progress)
    from rhoml.bench.voxel_study import markdown

    print(markdown(summary))
    print(f"-> {out}/results.json, results.md, learning_curve.png")
    return 0
