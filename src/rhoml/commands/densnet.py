"""CLI: ``rhoml densnet sample|labels`` (DenSNet training data, seed 002). Training is
``rhoml train CONFIG`` (family ``densnet``); MD and IR are ``rhoml md|ir RUN``."""

from __future__ import annotations

from pathlib import Path

from rhoml.commands.options import (
    add_limit,
    add_out,
    add_quiet,
    add_scheduler,
    add_seed,
    add_set,
    add_workers,
    positive_float,
    positive_int,
)
from rhoml.errors import InputError


def register(subparsers) -> None:
    dn = subparsers.add_parser(
        "densnet", help="DenSNet: training geometries and DFT labels (train with `rhoml train`)"
    )
    dsub = dn.add_subparsers(dest="densnet_command", required=True)

    sa = dsub.add_parser(
        "sample",
        help="geometries by GFN2-xTB Langevin MD (built from a name or SMILES) into extended XYZ",
        description="Build NAME (ethanol, ethanethiol, resorcinol, thiophene-N: the α-linked, "
        "H-capped N-mer) or a SMILES with RDKit (ETKDGv3), pre-optimise it on GFN2-xTB "
        "(tblite), run Langevin MD and append every --interval-th geometry (Å, ids "
        "NAME_SPLIT#k, xTB energy in eV, velocities in Å/fs) to --out. Re-running continues "
        "from the last written frame. Label the file with `rhoml densnet labels OUT --out STORE`.",
    )
    sa.add_argument("system", help="ethanol | ethanethiol | resorcinol | thiophene-N | a SMILES")
    add_out(sa, "extended XYZ file, appended to (resumable)", required=True)
    sa.add_argument("--frames", type=int, default=50, help="frames to write (default 50)")
    sa.add_argument("--interval", type=int, default=20, help="MD steps between frames (20)")
    sa.add_argument("--equilibration", type=int, default=200, help="steps before frame 0 (200)")
    sa.add_argument("--temperature", type=float, default=500.0, help="bath temperature, K (500)")
    sa.add_argument("--dt", type=float, default=0.5, help="time step, fs (0.5)")
    sa.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs (0.01)")
    add_seed(sa)
    sa.add_argument("--split", default="train", choices=["train", "test", "other"])
    add_quiet(sa)
    sa.set_defaults(handler=_cmd_sample)

    lab = dsub.add_parser(
        "labels",
        help="DFT energies, forces and density matrices into a store (resumable)",
        description="Run the dft engine with forces (default PBE/def2-SVP, RI-J, grid level 4: "
        "the rMD17 level) on every molecule and store the density matrix with the energy "
        "(Hartree) and forces (Hartree/Bohr) in its record: the same batch job as `rhoml "
        "density compute --method dft --forces` at the label level (local processes or a Dask "
        "cluster). Re-running the same command skips finished molecules. rMD17 input: give the "
        "molecule name with --rmd17-dir, or an .npz file; other inputs: any file `rhoml density "
        "compute` reads.",
    )
    lab.add_argument("input", help="rMD17 molecule name (e.g. ethanol), .npz, .xyz, .sdf ...")
    add_out(lab, "store folder (created if absent)", required=True)
    lab.add_argument("--rmd17-dir", default=None, help="folder with rmd17_<name>_*.npz files")
    lab.add_argument("--train", type=int, default=100, help="rMD17: first N train frames")
    lab.add_argument("--test", type=int, default=50, help="rMD17: first N test frames")
    add_limit(lab)  # other inputs: the first N molecules
    lab.add_argument("--functional", default="PBE", help="DFT functional (default PBE)")
    lab.add_argument("--basis", default="def2-SVP", help="orbital basis (default def2-SVP)")
    add_workers(lab)
    add_scheduler(lab)
    lab.add_argument("--retry-failed", action="store_true", help="recompute failed molecules")
    add_quiet(lab)
    lab.set_defaults(handler=_cmd_labels)

    bu = dsub.add_parser(
        "build",
        help="molecule in → DenSNet model out: xTB sampling, DFT labels, training, validation "
        "(resumable)",
        description="Build the DenSNet potential of the molecule in GEOMETRY (first molecule of "
        "any file rhoml reads: xyz, sdf, ...) into OUT: GFN2-xTB Langevin sampling at each "
        "--temperatures (training frames and an independent test trajectory), DFT labels "
        "(energy, forces, density) in the batch runner (local processes or --scheduler), a "
        "generated config (OUT/config.toml), `rhoml train` into OUT/run, and a validation "
        "report on the test frames (OUT/report.md, report.json: energy and force MAE, density "
        "NMAE). Each stage is skipped when its output is complete: re-running resumes. Then "
        "`rhoml ir OUT/run`.",
    )
    bu.add_argument("geometry", help="geometry file (xyz, sdf, ...), Å")
    add_out(bu, "build folder (created; a rerun resumes)", required=True)
    bu.add_argument("--name", default=None, help="system name in frame ids (default: file stem)")
    add_build_args(bu)
    add_workers(bu)
    add_scheduler(bu)
    add_quiet(bu)
    bu.set_defaults(handler=_cmd_build)


def add_build_args(p) -> None:
    """The settings of :class:`~rhoml.studies.densnet_build.BuildSettings` as options (shared by
    ``rhoml densnet build`` and ``rhoml bench ir-vs-experiment``); read with
    :func:`build_settings`."""
    p.add_argument("--temperatures", type=positive_float, nargs="+", default=[300.0, 600.0, 900.0],
                    metavar="K", help="sampling temperatures, K (default 300 600 900)")  # fmt: skip
    p.add_argument("--frames", type=positive_int, default=60,
                    help="training frames per temperature (default 60)")  # fmt: skip
    p.add_argument("--test-frames", type=positive_int, default=10,
                    help="test frames per temperature (default 10)")  # fmt: skip
    p.add_argument("--interval", type=positive_int, default=20,
                    help="MD steps between frames (default 20)")  # fmt: skip
    p.add_argument("--equilibration", type=positive_int, default=200,
                    help="MD steps before the first frame (default 200)")  # fmt: skip
    p.add_argument("--functional", default="PBE", help="DFT functional (default PBE)")
    p.add_argument("--basis", default="def2-SVP", help="orbital basis (default def2-SVP)")
    p.add_argument("--aux-basis", default="", help="aux basis (default etb:<basis>:1.8)")
    p.add_argument("--density-epochs", type=positive_int, default=150,
                    help="epochs of the density stage (default 150)")  # fmt: skip
    p.add_argument("--energy-epochs", type=positive_int, default=200,
                    help="epochs of the energy stage (default 200)")  # fmt: skip
    p.add_argument("--grid-level", type=positive_int, default=3,
                    help="Becke grid level of the report's density NMAE (default 3)")  # fmt: skip
    add_set(p)
    add_seed(p)


def build_settings(args):
    """The :class:`~rhoml.studies.densnet_build.BuildSettings` of :func:`add_build_args`."""
    from rhoml.studies.densnet_build import BuildSettings

    return BuildSettings(
        temperatures=tuple(args.temperatures),
        frames=args.frames,
        test_frames=args.test_frames,
        interval=args.interval,
        equilibration=args.equilibration,
        functional=args.functional,
        basis=args.basis,
        aux_basis=args.aux_basis,
        density_epochs=args.density_epochs,
        energy_epochs=args.energy_epochs,
        grid_level=args.grid_level,
        seed=args.seed,
        overrides=tuple(args.overrides),
    )


def _cmd_sample(args) -> int:
    from rhoml.md.sampling import SampleSettings, sample_frames

    s = SampleSettings(
        frames=args.frames,
        interval=args.interval,
        equilibration=args.equilibration,
        dt_fs=args.dt,
        temperature=args.temperature,
        friction=args.friction,
        seed=args.seed,
        split=args.split,
    )
    frames = sample_frames(args.system, s, args.out, progress=not args.quiet)
    t = [f.labels["kinetic_temperature"] for f in frames]
    print(
        f"{args.out}: {len(frames)} frames of {frames[0].id.rsplit('_', 1)[0]} "
        f"({frames[0].n_atoms} atoms), mean kinetic T {sum(t) / len(t):.0f} K"
    )
    return 0


def _cmd_labels(args) -> int:
    from rhoml.commands.density import run_spec
    from rhoml.store.labels import LabelSettings

    p = Path(args.input)
    if p.suffix == ".npz" or (not p.exists() and args.rmd17_dir):
        from rhoml.io.rmd17 import load_rmd17

        if p.suffix == ".npz":
            mols = load_rmd17(p, indices=range(args.train))
        else:
            mols = load_rmd17(
                args.input, "train", range(args.train), data_dir=args.rmd17_dir
            ) + load_rmd17(args.input, "test", range(args.test), data_dir=args.rmd17_dir)
    else:
        from rhoml.io import read_molecules

        mols = []
        for m in read_molecules(args.input):
            mols.append(m)
            if args.limit and len(mols) >= args.limit:
                break
    if not mols:
        raise InputError(f"{args.input}: no molecules")
    return run_spec(args, mols, LabelSettings(functional=args.functional, basis=args.basis).spec)


def _cmd_build(args) -> int:
    from rhoml.studies.densnet_build import build_densnet

    s = build_settings(args)
    r = build_densnet(args.geometry, args.out, s, name=args.name, workers=args.workers,
                      scheduler=args.scheduler, progress=not args.quiet)  # fmt: skip
    print(
        f"{args.out}: {r['name']} DenSNet in {r['run']}; test force MAE "
        f"{r['force_mae_kcal_mol_angstrom']:.3f} kcal/mol/Å, density NMAE "
        f"{r['density_nmae']['mean_percent']:.3f} % ({r['n_test']} frames)"
    )
    return 0
