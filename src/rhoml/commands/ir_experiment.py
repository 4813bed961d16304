"""``rhoml bench ir-vs-experiment``: DenSNet models of new molecules built from their geometry,
their MD IR spectra and the band assignment against gas-phase experiment, resumable (thin
wrapper over :func:`rhoml.studies.ir_experiment.run_study`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from rhoml.commands import options
from rhoml.commands.densnet import add_build_args, build_settings


def register(sub) -> None:
    from rhoml.md.protocol import ProtocolSettings
    from rhoml.studies.ir_experiment import GOAL_MAX, GOAL_MEAN, GOAL_MODEL_ADDED, MOLECULES

    d = ProtocolSettings()
    p = options.bench_subparsers(sub).add_parser(
        "ir-vs-experiment",
        help="build DenSNet models of new molecules and compare their IR spectra with "
        "gas-phase experiment",
        description="For each MOLECULE: start geometry OUT/geometries/MOLECULE.xyz (built from "
        f"SMILES for {', '.join(MOLECULES)} when absent), its DenSNet model built into "
        "OUT/MOLECULE as by `rhoml densnet build` (xTB samples, DFT labels, training, "
        "report), then `rhoml ir` on it with --harmonic, --dft-reference and --experimental "
        "EXPERIMENTAL_DIR/MOLECULE.jdx into OUT/MOLECULE/ir. Writes OUT/ir_vs_experiment.json|md "
        "(per molecule: experiment, MD, model harmonic and DFT harmonic band positions and "
        f"shifts; goals: every MD band within {GOAL_MAX:g} cm-1, mean below {GOAL_MEAN:g}, "
        f"model adding at most {GOAL_MODEL_ADDED:g} to the DFT harmonic error) and "
        "OUT/ir_vs_experiment.png. Every finished stage of every molecule is skipped: re-running "
        "resumes; a molecule that fails is recorded and the others go on. Each molecule takes "
        "one to a few hours on 2 cores.",
    )
    p.add_argument("molecules", nargs="*", metavar="MOLECULE", default=list(MOLECULES),
                   help=f"molecules (default: {' '.join(MOLECULES)})")  # fmt: skip
    options.add_out(p, "study folder (created; a rerun resumes)", required=True)
    p.add_argument("--experimental-dir", default="../shared/data/ir_gas_phase", metavar="DIR",
                   help="folder of MOLECULE.jdx gas-phase spectra "
                   "(default ../shared/data/ir_gas_phase)")  # fmt: skip
    p.add_argument("--no-dft-reference", action="store_true",
                   help="skip the DFT harmonic reference (PySCF, labels' level)")  # fmt: skip
    p.add_argument("--trajectories", type=options.positive_int, default=d.trajectories,
                   help=f"NVE trajectories of the protocol (default {d.trajectories})")  # fmt: skip
    p.add_argument("--md-steps", type=options.positive_int, default=d.nve_steps,
                   help=f"NVE steps per trajectory (default {d.nve_steps})")  # fmt: skip
    p.add_argument("--md-equilibration", type=options.positive_int,
                   default=d.equilibration_steps,
                   help=f"Langevin steps per chain (default {d.equilibration_steps})")  # fmt: skip
    p.add_argument("--md-sampling", default=d.sampling, choices=["langevin", "normal-modes"],
                   help="trajectory starts, as `rhoml ir --sampling` "
                   f"(default {d.sampling})")  # fmt: skip
    p.add_argument("--md-conformers", action=argparse.BooleanOptionalAction,
                   default=d.conformers,
                   help="conformer search and Boltzmann allocation, as `rhoml ir --conformers` "
                   f"(default {'on' if d.conformers else 'off'})")  # fmt: skip
    p.add_argument("--md-settle", type=options.nonnegative_int, default=d.settle_steps,
                   help="NVE steps after a normal-mode start, not used "
                   f"(default {d.settle_steps})")  # fmt: skip
    p.add_argument("--max-lag", type=options.positive_float, default=d.max_lag_fs, metavar="FS",
                   help=f"ACF window in fs (default {d.max_lag_fs:g})")  # fmt: skip
    add_build_args(p)
    options.add_workers(p)
    options.add_quiet(p)
    p.set_defaults(handler=cmd_ir_vs_experiment)


def cmd_ir_vs_experiment(args) -> int:
    from rhoml.md.protocol import ProtocolSettings
    from rhoml.studies.ir_experiment import IRStudySettings, run_study

    settings = IRStudySettings(
        molecules=tuple(args.molecules),
        experimental_dir=args.experimental_dir,
        build=build_settings(args),
        protocol=ProtocolSettings(
            trajectories=args.trajectories,
            nve_steps=args.md_steps,
            equilibration_steps=args.md_equilibration,
            max_lag_fs=args.max_lag,
            seed=args.seed,
            sampling=args.md_sampling,
            conformers=args.md_conformers,
            settle_steps=args.md_settle,
        ),  # fmt: skip
        dft_reference=not args.no_dft_reference,
        workers=args.workers,
    )
    command = "rhoml " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    data = run_study(args.out, settings, progress=not args.quiet, command=command)
    for name, r in data["molecules"].items():
        if "error" in r:
            print(f"{name}: failed: {r['error']}")
            continue
        g = r["goals"]
        print(f"{name}: MD bands assigned {g['md_assigned']}, mean |shift| "
              f"{g['md_mean_abs_shift_cm-1']} cm-1, largest {g['md_max_abs_shift_cm-1']} cm-1; "
              f"model adds {g['model_added_cm-1']} cm-1 to the DFT harmonic error")  # fmt: skip
    print(f"wrote {args.out}/ir_vs_experiment.json, .md, .png")
    failed = [n for n, r in data["molecules"].items() if "error" in r]
    return 1 if failed else 0
