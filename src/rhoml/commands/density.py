"""``rhoml density compute`` and ``rhoml density export-cube``: thin wrappers over
:mod:`rhoml.density`, :mod:`rhoml.store.batch` and :mod:`rhoml.io.cube`."""

from __future__ import annotations

import signal
import sys

from rhoml.commands import options
from rhoml.errors import RhomlError


def register(sub) -> None:
    dens = sub.add_parser("density", help="compute and export electron densities")
    dsub = dens.add_subparsers(dest="density_command", required=True)
    comp = dsub.add_parser(
        "compute",
        help="compute densities for molecules into a store (resumable)",
        description="Compute densities for every molecule in INPUT (xyz/extxyz, sdf, mol2, pdb, "
        "rMD17 npz, a PDBbind folder, qm9 / qm9:N, or any other file ASE reads: .db, .traj, "
        ".cif, ...) into the store OUT. Re-running the same "
        "command resumes: finished and failed molecules are skipped.",
    )
    comp.add_argument("inputs", nargs="+", metavar="INPUT")
    comp.add_argument("--method", required=True, choices=["promolecule", "xtb", "dft"])
    comp.add_argument("--functional", default=None, help="DFT functional (default B3LYP)")
    comp.add_argument("--basis", default=None, help="DFT orbital basis (default 6-31G**)")
    comp.add_argument("--fit", metavar="AUXBASIS", default=None,
                      help="also store a Coulomb-metric fit onto AUXBASIS "
                      "(e.g. def2-universal-jkfit)")  # fmt: skip
    comp.add_argument("--valence", action="store_true", help="promolecule: valence density only")
    comp.add_argument("--forces", action="store_true",
                      help="dft: also the analytic forces from the same SCF (record "
                      "property 'forces', Hartree/Bohr; energy in Hartree): DenSNet "
                      "labels")  # fmt: skip
    options.add_out(comp, "store folder, created if absent", required=True)
    options.add_workers(comp)
    options.add_scheduler(comp)
    options.add_limit(comp)
    comp.add_argument("--retry-failed", action="store_true", help="recompute failed molecules")
    add_resource_limits(comp)
    options.add_quiet(comp)
    comp.set_defaults(handler=cmd_compute)

    cube = dsub.add_parser(
        "export-cube",
        help="write one stored density (or its gradient norm / ESP) as a Gaussian cube file",
    )
    cube.add_argument("store")
    cube.add_argument("--index", type=options.nonnegative_int, required=True,
                      help="molecule index in the store")  # fmt: skip
    options.add_out(cube, "output .cube file", required=True)
    cube.add_argument("--quantity", default="density", choices=["density", "gradient", "esp"],
                      help="density (e/Bohr^3), gradient = |grad rho| (e/Bohr^4), "
                      "esp (Hartree/e)")  # fmt: skip
    cube.add_argument("--spacing", type=options.positive_float, default=0.2,
                      help="grid step in Å (default 0.2)")  # fmt: skip
    cube.add_argument("--margin", type=options.positive_float, default=4.0,
                      help="box margin in Å (default 4)")  # fmt: skip
    cube.add_argument("--method", default=None,
                      help="record key or engine name (if the store has several)")  # fmt: skip
    cube.set_defaults(handler=cmd_export_cube)


def add_resource_limits(p) -> None:
    """``--max-atoms N`` and ``--max-memory GB`` for commands that run the batch runner."""
    p.add_argument("--max-atoms", type=options.positive_int, default=None, metavar="N",
                   help="record molecules with more than N atoms as failed (reason kept) "
                   "instead of computing them")  # fmt: skip
    p.add_argument("--max-memory", type=options.positive_float, default=None, metavar="GB",
                   help="address-space limit per local worker process, in GB (Linux): an "
                   "allocation over it fails that molecule (recorded) instead of calling the "
                   "OOM killer; Python and the engines take about 0.5 GB before any "
                   "molecule")  # fmt: skip


def stopped(exc: KeyboardInterrupt, out) -> int:
    """Exit status of a batch stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for
    SIGTERM), after one line on stderr. Re-raises a plain Ctrl-C for the CLI to report."""
    from rhoml.store.batch import Interrupted

    if not isinstance(exc, Interrupted):
        raise exc
    print(f"rhoml: stopped by {signal.Signals(exc.signum).name}; finished records are kept in "
          f"{out}, rerun to resume", file=sys.stderr)  # fmt: skip
    return exc.exit_status


def cmd_compute(args) -> int:
    from rhoml.io import read_molecules
    from rhoml.store.batch import MethodSpec, check_memory_limit

    check_memory_limit(args.max_memory, args.scheduler)

    if args.scheduler:
        from rhoml.optional import require

        require("distributed", "dask", "--scheduler")
    molecules = []
    for inp in args.inputs:
        molecules.extend(read_molecules(inp))
        if args.limit and len(molecules) >= args.limit:
            break
    if args.limit:
        molecules = molecules[: args.limit]
    if not molecules:
        raise RhomlError(f"{', '.join(args.inputs)}: no molecules found")
    from rhoml.density import level_options

    options = level_options(args.method, args.functional, args.basis)
    if args.valence:
        if args.method != "promolecule":
            raise RhomlError("--valence applies to --method promolecule (xtb is always valence)")
        options["valence"] = True
    if args.forces:
        if args.method != "dft":
            raise RhomlError(f"--forces applies to --method dft, not {args.method}")
        options["forces"] = True
    return run_spec(args, molecules, MethodSpec(args.method, options, fit_auxbasis=args.fit))


def run_spec(args, molecules, spec) -> int:
    """Run the batch job ``spec`` on ``molecules`` with the shared options (``--out``,
    ``--workers``, ``--scheduler``, ``--retry-failed``, ``--quiet``, and ``--max-atoms`` /
    ``--max-memory`` where the command has them) and print its one-line report; returns the
    exit status (1 when every molecule failed, 128 + the signal number when stopped by SIGTERM).
    ``rhoml densnet labels`` runs through here too."""
    from rhoml.store.batch import run_batch

    try:
        report = run_batch(
            args.out, molecules, spec, workers=args.workers, scheduler=args.scheduler,
            retry_failed=args.retry_failed, progress=not args.quiet,
            max_atoms=getattr(args, "max_atoms", None),
            max_memory_gb=getattr(args, "max_memory", None),
        )  # fmt: skip
    except KeyboardInterrupt as exc:
        return stopped(exc, args.out)
    print(report.line(args.out))
    return 1 if report.failed and not report.ok else 0


def cmd_export_cube(args) -> int:
    from rhoml.density.on_grid import evaluate_on_grid
    from rhoml.grid import Grid
    from rhoml.io.cube import write_cube
    from rhoml.store.sqlite_store import Store

    with Store.open(args.store, readonly=True) as st:
        try:
            method = st.resolve_method(args.method) if args.method else None
            density = st.density(args.index, method)
        except KeyError as exc:
            raise RhomlError(str(exc.args[0])) from None
    grid = Grid.around(density.molecule, spacing=args.spacing, margin=args.margin)
    quantity = "gradient_norm" if args.quantity == "gradient" else args.quantity
    values = evaluate_on_grid(density, grid, quantity)
    from rhoml.grid import QUANTITY_UNITS

    comment = f"{density.molecule.id} {density.engine} {density.level} {quantity}"
    write_cube(args.out, grid, values, density.molecule, comment + f" [{QUANTITY_UNITS[quantity]}]",
               charges=density.nuclear_charges)  # fmt: skip
    print(f"wrote {args.out}: {quantity} on {grid.shape} points, step {args.spacing} Å")
    return 0
