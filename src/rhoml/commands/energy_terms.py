"""``rhoml bench energy-terms``: DFT energy terms from point clouds, voxels and images, seeds
(:mod:`rhoml.studies.energy_terms`)."""

from __future__ import annotations

import argparse

from rhoml.commands import options

DESCRIPTION = """The analogue of the EDG paper's appendix Table 4: predict the DFT energy terms
E1-E6 (SCF final, nuclear repulsion, one-electron, two-electron = Coulomb + exact exchange,
DFT XC without exact exchange, total; Psi4's split) of the molecules of a store with DFT records,
from density point clouds (PointNet), density voxels (ResNet-3D) and the 6-view RGB-D density
images (ResNet-18), all on the same random split, over several seeds. Point clouds and images
must be in the store first (rhoml points STORE; rhoml render STORE --preset edg-density);
voxels are cached on first use. Every training is an energy-terms run folder under
OUT/runs/<representation>/s<seed>; a rerun skips finished runs and resumes interrupted ones.
Writes OUT/results.json, results.md (test RMSE per term, mean +- std over seeds, the
training-mean predictor row, RMSE relative to it, EDG's Table 4) and rmse.png. Shipped configs:
configs/energy_terms_cpu.toml (one CPU core, about 15 minutes), configs/energy_terms_gpu.toml
(EDG's sizes)."""


def register(sub) -> None:
    st = options.bench_subparsers(sub).add_parser(
        "energy-terms", help="energy terms from points, voxels and images (EDG Table 4)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    st.add_argument("config", metavar="CONFIG", help="study config (configs/energy_terms_*.toml)")
    options.add_out(st, "study folder (resumable: finished runs are skipped)", required=True)
    options.add_study_args(st)
    st.set_defaults(handler=cmd_study)


def cmd_study(args) -> int:
    from pathlib import Path

    from rhoml.errors import InputError
    from rhoml.studies.energy_terms import load_study, markdown, plan, run_study

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    cfg = load_study(args.config, args.overrides)
    if args.plan:
        runs = plan(cfg, out)
        for r in runs:
            print(f"{'done   ' if r.done else 'pending'} {r.representation} seed {r.seed}")
        print(f"{sum(r.done for r in runs)} of {len(runs)} planned runs finished")
        return 0
    summary = run_study(cfg, out, progress=not args.quiet, summary_only=args.summary_only,
                        max_runs=args.max_runs)  # fmt: skip
    print(markdown(summary))
    print(f"-> {out}/results.json, results.md, rmse.png")
    return 0
