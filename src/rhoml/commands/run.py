"""``rhoml train`` and ``rhoml predict``: every model family through run folders
(thin wrappers over :mod:`rhoml.runs`)."""

from __future__ import annotations

import sys

from rhoml.commands import options
from rhoml.errors import InputError


def register(sub) -> None:
    from rhoml.families import FAMILIES

    tr = sub.add_parser(
        "train",
        help="train any model family from a config into a run folder",
        description="Train the model described by CONFIG (TOML/JSON: a top-level 'family' key, "
        f"one of {', '.join(sorted(FAMILIES))}, and that family's sections) into the run "
        "folder OUT: config.toml (resolved, defaults written out), manifest.json, model.pt, "
        "metrics.csv, learning_curve.png, checkpoints/. Paths in CONFIG are relative to "
        "CONFIG's folder. Rerunning with the same config resumes; a folder of another config "
        "is refused. Under torchrun, trains with DDP. Examples: configs/*.toml.",
    )
    tr.add_argument("config", help="config file (TOML or JSON)")
    options.add_out(tr, "run folder", default="runs/<config name>")
    options.add_set(tr)
    options.add_quiet(tr)
    tr.set_defaults(handler=cmd_train)

    pr = sub.add_parser(
        "predict",
        help="predict with a run folder for molecules (no labels needed)",
        description="Apply the model of run folder RUN (or a shipped model name) to the "
        "molecules in INPUT (any structure file rhoml reads, qm9:N, a PDBbind folder). Writes "
        "CSV (default, to stdout) or extended XYZ (--out x.extxyz) with every quantity's unit "
        "in the header. Voxel models also take --map (CCP4/MRC or cube) for their density "
        "channels and --store (cached voxels). A molecule or complex that cannot be prepared "
        "(unreadable file, unknown element, ligand beyond the box, pocket or density failure) "
        "is left out and reported on stderr (and in OUT's .dropped.csv); the rest are "
        "predicted.",
    )
    pr.add_argument("run", metavar="RUN", help="run folder (or shipped model name)")
    pr.add_argument("inputs", nargs="*", metavar="INPUT", help="molecule files, qm9:N, ...")
    pr.add_argument("--map", default=None, help="density map (CCP4/MRC or cube) for voxel models")
    pr.add_argument("--store", default=None,
                    help="voxel models: a store with cached voxels of the inputs for the run's "
                    "grid and engine (from 'rhoml voxelize' or training); molecules found there "
                    "are not voxelised again")  # fmt: skip
    options.add_out(pr, ".csv or .extxyz file (default: CSV on stdout)")
    options.add_device(pr)
    options.add_quiet(pr)
    pr.set_defaults(handler=cmd_predict)


def cmd_train(args) -> int:
    import json

    from rhoml import runs
    from rhoml.train.distributed import is_main_process, shutdown

    try:
        run = runs.train(args.config, args.out, overrides=args.overrides,
                         progress=not args.quiet)  # fmt: skip
    finally:
        shutdown()
    if is_main_process():
        print(f"{run.path}: {run.family} model trained")
        print(json.dumps(run.manifest.get("metrics", {}), indent=1))
    return 0


def read_inputs(inputs: list[str], dropped: list | None = None):
    """Every molecule of every input, in order; one-line error when there are none. PDBbind
    folders are read without labels; with ``dropped`` a complex that cannot be read is recorded
    there and the rest go on."""
    from rhoml.datasets.pdbbind import read_inputs as read_all

    mols = read_all(inputs, labels=False, dropped=dropped)
    if inputs and not mols:
        why = "; ".join(f"{d['id']}: {d['reason']}" for d in (dropped or [])[:3])
        raise InputError(f"{', '.join(inputs)}: no molecules found" + (f" ({why})" if why else ""))
    return mols


def _report_dropped(dropped: list[dict], out) -> None:
    """What was left out, on stderr, and as ``<out>.dropped.csv`` beside an output file."""
    if not dropped:
        return
    from pathlib import Path

    from rhoml.datasets import dropped_summary, write_dropped

    summary = dropped_summary(dropped)
    stages = ", ".join(f"{k} {v}" for k, v in summary["by_stage"].items())
    print(f"dropped {summary['n']} ({stages}):", file=sys.stderr)
    for d in dropped:
        print(f"  {d['id']}: {d['stage']}: {d['reason']}", file=sys.stderr)
    if out is not None:
        path = Path(str(out) + ".dropped.csv")
        write_dropped(path, dropped)
        print(f"wrote {path}", file=sys.stderr)


def cmd_predict(args) -> int:
    import inspect

    from rhoml import runs
    from rhoml.io.predictions import predictions_csv, write_predictions

    run = runs.load(args.run, device=options.resolve_device(args.device))
    dropped: list[dict] = []
    molecules = read_inputs(args.inputs, dropped)
    accepts = inspect.signature(run.model.predict).parameters
    if args.store is not None and "store" not in accepts:
        raise InputError(f"--store: a {run.family} model does not read voxel stores")
    if args.map is not None:
        predict_map = getattr(run.model, "predict_map", None)
        if predict_map is None:
            raise InputError(f"--map: a {run.family} model does not read density maps")
        rows = predict_map(args.map, molecules, progress=not args.quiet)
    elif not molecules:
        raise InputError("predict: give INPUT molecules (or --map for a voxel model)")
    elif "dropped" in accepts:
        extra = {"store": args.store} if args.store is not None else {}
        rows = run.model.predict(molecules, progress=not args.quiet, dropped=dropped, **extra)
    else:
        rows = run.predict(molecules, progress=not args.quiet)
    _report_dropped(dropped, args.out)
    if not rows:
        raise InputError(f"{', '.join(args.inputs)}: no molecule could be prepared")
    gone = {d["id"] for d in dropped}
    molecules = [m for m in molecules if m.id not in gone]
    meta = {"run": run.path, "family": run.family}
    if args.out is None:
        sys.stdout.write(predictions_csv(rows, run.outputs, meta))
        return 0
    write_predictions(args.out, rows, run.outputs, molecules if args.map is None else [], meta)
    print(f"wrote {args.out}: {len(rows)} predictions ({', '.join(run.outputs)})")
    return 0
