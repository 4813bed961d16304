"""``rhoml edg features``: teacher features of a data set, computed once with provenance (a thin
wrapper over :func:`rhoml.families.edg_features.compute_teacher_features`); ``rhoml bench
edg-study``: students with and without EDG, λ chosen on validation, seeds
(:mod:`rhoml.studies.edg`)."""

from __future__ import annotations

import argparse

from rhoml.commands import options

STUDY_DESCRIPTION = """Train geometry students with and without EDG distillation on the same
splits (rMD17 molecules: 950/50 frames of the train split file, 1000 test frames, energies and
forces; QM9 targets: one model per target), choose the distillation weight lambda on validation,
repeat over seeds, and write OUT/results.json, results.md (tables in the EDG paper's form: MAE
per molecule/target, relative gain, spread across seeds) and learning_curves.png. Every training
is a student run folder under OUT/runs; a rerun skips finished runs and resumes interrupted ones,
so a study can span sessions. Shipped configs: configs/edg_study_tiny.toml (seconds),
configs/edg_study_cpu.toml (2-core CPU), configs/edg_study_gpu.toml (the full protocols)."""

FEATURES_DESCRIPTION = """Run a trained ED-aware teacher (an edg-teacher run folder or shipped
name) over the structural images of every molecule of STORE that has them (rhoml render STORE
--preset edg-structure, rendered with the teacher's settings) and store the teacher features (512
for ResNet-18, 8 x width for narrower ones) in STORE as declared arrays
edg_teacher_features/<teacher weights fingerprint>, each with its provenance (teacher run and
weights, ImageED run, image array and render settings); molecules that already have them are
skipped. With --out, write one .npz file instead (EDG's layout: ids, features, ed_features and a
provenance record). Students read either with [distill] features = STORE (or the .npz) and
ed_predictor = the teacher's model.pt, or compute them on demand with [distill] teacher_run."""


def register(sub) -> None:
    edg = sub.add_parser("edg", help="EDG image distillation: teacher features",
                         description="EDG stages on rendered images (see 'rhoml train' for "
                         "the imageed and edg-teacher families).")  # fmt: skip
    edg_sub = edg.add_subparsers(dest="edg_command", required=True)
    f = edg_sub.add_parser("features", help="teacher features of a store, once, with provenance",
                           description=FEATURES_DESCRIPTION)  # fmt: skip
    f.add_argument("teacher", metavar="TEACHER_RUN", help="edg-teacher run folder")
    f.add_argument("store", metavar="STORE")
    options.add_out(f, ".npz file (default: arrays in STORE)")
    f.add_argument("--images", default=None,
                   help="structural image array (default: the teacher's)")  # fmt: skip
    f.add_argument("--batch", type=options.positive_int, default=64,
                   help="molecules per forward pass (default 64)")  # fmt: skip
    options.add_device(f)
    options.add_limit(f)
    options.add_quiet(f)
    f.set_defaults(handler=cmd_features)

    st = options.bench_subparsers(sub).add_parser(
        "edg-study", help="EDG study: student vs EDG-student, λ on validation, seeds",
        description=STUDY_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    st.add_argument(
        "config", metavar="CONFIG", help="study config (e.g. configs/edg_study_cpu.toml)"
    )
    options.add_out(st, "study folder (resumable: finished runs are skipped)", required=True)
    options.add_study_args(st)
    st.set_defaults(handler=cmd_study)


def cmd_features(args) -> int:
    from rhoml.families.edg_features import compute_teacher_features

    prov = compute_teacher_features(
        args.teacher, args.store, args.out, images=args.images, batch_size=args.batch,
        device=options.resolve_device(args.device), limit=args.limit or 0,
        progress=not args.quiet,
    )  # fmt: skip
    rate = prov["molecules_per_second"]
    print(f"{prov['n_molecules']} molecules: features ({prov['feature_dim']}) and ED features "
          f"({prov['ed_dim']}) in {prov['seconds']:.1f} s"
          f"{f' ({rate:.1f} molecules/s)' if rate else ''} -> {prov['out']}")  # fmt: skip
    return 0


def cmd_study(args) -> int:
    from pathlib import Path

    from rhoml.errors import InputError
    from rhoml.studies.edg import load_study, markdown, plan, run_study

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    cfg = load_study(args.config, args.overrides)
    if args.plan:
        runs = plan(cfg, out)
        for r in runs:
            lam = "" if r.lam is None else f" lambda={r.lam:g}"
            print(f"{'done   ' if r.done else 'pending'} {r.dataset} {r.item} {r.model} "
                  f"{r.variant}{lam} seed {r.seed}")  # fmt: skip
        print(f"{sum(r.done for r in runs)} of {len(runs)} planned runs finished (EDG runs at "
              "the chosen lambda are planned once their sweep has finished)")  # fmt: skip
        return 0
    summary = run_study(cfg, out, progress=not args.quiet, summary_only=args.summary_only,
                        max_runs=args.max_runs)  # fmt: skip
    print(markdown(summary))
    print(f"-> {out}/results.json, results.md, learning_curves.png")
    return 0
