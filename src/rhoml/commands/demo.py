"""``rhoml demo``: xTB densities for QM9 molecules shipped with qm9pack, and a short report
(a thin wrapper over :mod:`rhoml.demo`)."""

from __future__ import annotations

import json
from pathlib import Path

from rhoml.commands import options


def register(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="xTB densities for QM9 molecules shipped with qm9pack, and a short report",
        description="Compute GFN2-xTB densities for the first N QM9 molecules (from the qm9pack "
        "package) into a store, then report throughput, failures, electron counts and the "
        "xTB dipole against QM9's B3LYP dipole.",
    )
    demo.add_argument("--n", type=options.positive_int, default=300,
                      help="number of QM9 molecules (default 300)")  # fmt: skip
    options.add_out(demo, "output folder", default="rhoml-demo")
    options.add_workers(demo)
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    from rhoml.demo import format_report, run_demo

    report = run_demo(n=args.n, out=Path(args.out), workers=args.workers)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
