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
        "channels.",
    )
    pr.add_argument("run", metavar="RUN", help="run folder (or shipped model name)")
    pr.add_argument("inputs", nargs="*", metavar="INPUT", help="molecule files, qm9:N, ...")
    pr.add_argument("--map", default=None, help="density map (CCP4/MRC or cube) for voxel models")
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


def read_inputs(inputs: list[str]):
    """Every molecule of every input, in order; one-line error when there are none."""
    from rhoml.io import read_molecules

    mols = [m for inp in inputs for m in read_molecules(inp)]
    if inputs and not mols:
        raise InputError(f"{', '.join(inputs)}: no molecules found")
    return mols


def cmd_predict(args) -> int:
    from rhoml import runs
    from rhoml.io.predictions import predictions_csv, write_predictions

    run = runs.load(args.run, device=options.resolve_device(args.device))
    molecules = read_inputs(args.inputs)
    if args.map is not None:
        predict_map = getattr(run.model, "predict_map", None)
        if predict_map is None:
            raise InputError(f"--map: a {run.family} model does not read density maps")
        rows = predict_map(args.map, molecules, progress=not args.quiet)
    elif not molecules:
        raise InputError("predict: give INPUT molecules (or --map for a voxel model)")
    else:
        rows = run.predict(molecules, progress=not args.quiet)
    meta = {"run": run.path, "family": run.family}
    if args.out is None:
        sys.stdout.write(predictions_csv(rows, run.outputs, meta))
        return 0
    write_predictions(args.out, rows, run.outputs, molecules if args.map is None else [], meta)
    print(f"wrote {args.out}: {len(rows)} predictions ({', '.join(run.outputs)})")
    return 0
