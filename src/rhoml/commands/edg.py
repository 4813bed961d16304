"""``rhoml edg features``: teacher features of a data set, computed once with provenance (a thin
wrapper over :func:`rhoml.families.edg_features.compute_teacher_features`)."""

from __future__ import annotations

from rhoml.commands import options

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
