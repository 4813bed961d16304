"""The ``rhoml`` command line: thin wrappers over the library.

Errors a user can act on print one line (``rhoml: error: ...``) and exit with status 2;
an interrupted batch exits 130 with its finished records kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rhoml.errors import RhomlError

EXAMPLES = """examples:
  rhoml demo
  rhoml density compute mols.xyz --method xtb --out mols.rhoml --workers 2
  rhoml density compute qm9:1000 --method dft --functional B3LYP --basis 6-31G** --out q.rhoml
  rhoml density compute lig.sdf --method dft --out s.rhoml --scheduler tcp://10.0.0.5:8786
  rhoml density export-cube mols.rhoml --index 0 --out mol0.cube --quantity density
  rhoml info mols.rhoml --json
"""


def build_parser() -> argparse.ArgumentParser:
    from rhoml import __version__

    p = argparse.ArgumentParser(
        prog="rhoml",
        description="Electron densities for molecular machine learning.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rhoml {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="xTB densities for QM9 molecules shipped with qm9pack, and a short report",
        description="Compute GFN2-xTB densities for the first N QM9 molecules (from the qm9pack "
        "package) into a store, then report throughput, failures, electron counts and the "
        "xTB dipole against QM9's B3LYP dipole.",
    )
    demo.add_argument("--n", type=int, default=300, help="number of QM9 molecules (default 300)")
    demo.add_argument("--out", default="rhoml-demo", help="output folder (default ./rhoml-demo)")
    demo.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")

    dens = sub.add_parser("density", help="compute and export electron densities")
    dsub = dens.add_subparsers(dest="density_command", required=True)
    comp = dsub.add_parser(
        "compute",
        help="compute densities for molecules into a store (resumable)",
        description="Compute densities for every molecule in INPUT (xyz/extxyz, sdf, mol2, pdb, "
        "rMD17 npz, a PDBbind folder, or qm9 / qm9:N) into the store OUT. Re-running the same "
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
    comp.add_argument("--out", required=True, help="store folder (created if absent)")
    comp.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    comp.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port)")
    comp.add_argument("--limit", type=int, default=None, help="only the first N molecules")
    comp.add_argument("--retry-failed", action="store_true", help="recompute failed molecules")
    comp.add_argument("--quiet", action="store_true", help="no progress bar")

    cube = dsub.add_parser(
        "export-cube",
        help="write one stored density (or its gradient norm / ESP) as a Gaussian cube file",
    )
    cube.add_argument("store")
    cube.add_argument("--index", type=int, required=True, help="molecule index in the store")
    cube.add_argument("--out", required=True, help="output .cube file")
    cube.add_argument("--quantity", default="density", choices=["density", "gradient", "esp"],
                      help="density (e/Bohr^3), gradient = |grad rho| (e/Bohr^4), "
                      "esp (Hartree/e)")  # fmt: skip
    cube.add_argument("--spacing", type=float, default=0.2, help="grid step in Å (default 0.2)")
    cube.add_argument("--margin", type=float, default=4.0, help="box margin in Å (default 4)")
    cube.add_argument("--method", default=None, help="record key (if the store has several)")

    info = sub.add_parser("info", help="summarise a store")
    info.add_argument("store")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    for module in _command_modules():
        module.register(sub)
    return p


def _command_modules():
    """Modules of :mod:`rhoml.commands`, each with ``register(subparsers)``."""
    import importlib
    import pkgutil

    import rhoml.commands

    names = sorted(m.name for m in pkgutil.iter_modules(rhoml.commands.__path__))
    modules = [importlib.import_module(f"rhoml.commands.{name}") for name in names]
    return [m for m in modules if hasattr(m, "register")]


def _cmd_compute(args) -> int:
    from rhoml.io import read_molecules
    from rhoml.store.batch import MethodSpec, run_batch

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
    spec = MethodSpec(args.method, options, fit_auxbasis=args.fit)
    report = run_batch(
        args.out, molecules, spec, workers=args.workers, scheduler=args.scheduler,
        retry_failed=args.retry_failed, progress=not args.quiet,
    )  # fmt: skip
    print(
        f"{report.method}: {report.ok} ok, {report.failed} failed, {report.skipped} already done; "
        f"{report.throughput:.2f} molecules/s -> {args.out}"
    )
    return 1 if report.failed and not report.ok else 0


def _cmd_export_cube(args) -> int:
    from rhoml.density.on_grid import evaluate_on_grid
    from rhoml.grid import Grid
    from rhoml.io.cube import write_cube
    from rhoml.store.sqlite_store import Store

    with Store.open(args.store, readonly=True) as st:
        try:
            density = st.density(args.index, args.method)
        except KeyError as exc:
            raise RhomlError(str(exc.args[0])) from None
    grid = Grid.around(density.molecule, spacing=args.spacing, margin=args.margin)
    quantity = "gradient_norm" if args.quantity == "gradient" else args.quantity
    values = evaluate_on_grid(density, grid, quantity)
    from rhoml.grid import QUANTITY_UNITS

    comment = f"{density.molecule.id} {density.engine} {density.level} {quantity}"
    write_cube(args.out, grid, values, density.molecule, comment + f" [{QUANTITY_UNITS[quantity]}]")
    print(f"wrote {args.out}: {quantity} on {grid.shape} points, step {args.spacing} Å")
    return 0


def _cmd_info(args) -> int:
    from rhoml.store.sqlite_store import Store

    with Store.open(args.store, readonly=True) as st:
        summary = st.summary()
        summary["failures"] = [
            {"index": i, "method": m, "reason": r} for i, m, r in st.failures()[:20]
        ]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"store {summary['path']} (format {summary['format_version']}, "
          f"rhoml {summary['rhoml_version']}, {summary['bytes'] / 1e6:.1f} MB)")  # fmt: skip
    print(f"molecules: {summary['molecules']}")
    for method, e in summary["methods"].items():
        secs = e.get("mean_seconds")
        timing = f", {secs:.3f} s/molecule" if secs else ""
        print(f"  {method}: {e['ok']} ok, {e['failed']} failed ({e['level']}{timing})")
    for name, n in summary["arrays"].items():
        print(f"  array {name}: {n}")
    for f in summary["failures"]:
        print(f"  failed #{f['index']} [{f['method']}]: {f['reason']}")
    return 0


def _cmd_demo(args) -> int:
    from rhoml.demo import format_report, run_demo

    report = run_demo(n=args.n, out=Path(args.out), workers=args.workers)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"demo": _cmd_demo, "info": _cmd_info}
    try:
        if getattr(args, "handler", None) is not None:
            handler = args.handler
        elif args.command == "density":
            handler = _cmd_compute if args.density_command == "compute" else _cmd_export_cube
        else:
            handler = handlers[args.command]
        return handler(args)
    except RhomlError as exc:
        print(f"rhoml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rhoml: interrupted; finished records are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
