"""CLI: ``rhoml densnet sample|labels|train``, ``rhoml md``, ``rhoml ir`` (DenSNet, seed 002)."""

from __future__ import annotations

import json
from pathlib import Path

from rhoml.commands.options import (
    add_limit,
    add_out,
    add_quiet,
    add_scheduler,
    add_seed,
    add_threads,
    add_workers,
    set_threads,
)
from rhoml.errors import InputError

MODEL_HELP = "a trained DenSNet model file (.pt), or the name of a shipped model ('ethanol')"


def register(subparsers) -> None:
    dn = subparsers.add_parser(
        "densnet", help="DenSNet: DFT labels and training (density-first ML potential)"
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

    tr = dsub.add_parser(
        "train",
        help="train a DenSNet from a config (TOML or JSON)",
        description="Train the coefficient network (Coulomb norm of the density error) and then "
        "the energy network (energies + forces through both networks) on a label store, report "
        "test metrics, and save the model to the config's `output` (+ a .json summary). "
        "Checkpoints and metrics.csv of both stages go to `<output>.train/`: re-running the same "
        "command after an interruption resumes. Under `torchrun --nproc_per_node N` it trains "
        "with PyTorch DDP. See configs/densnet_ethanol.toml.",
    )
    tr.add_argument("config")
    tr.set_defaults(handler=_cmd_train)

    md = subparsers.add_parser(
        "md",
        help="molecular dynamics with a DenSNet model (NVE or Langevin)",
        description="Run MD with a DenSNet and write a trajectory (.npz: positions Å, dipole "
        "Debye, energies eV, temperature K per recorded step).",
    )
    _md_args(md)
    add_out(md, "trajectory file (.npz)", required=True)
    md.set_defaults(handler=_cmd_md)

    ir = subparsers.add_parser(
        "ir",
        help="IR spectrum from DenSNet MD (dipole autocorrelation): CSV + PNG + peaks",
        description="Run MD with MODEL (NVE by default; or read --trajectory) and write the IR "
        "spectrum from the dipole-derivative autocorrelation (Hann window, zero padding, "
        "harmonic quantum correction) as OUT/ir.csv, OUT/ir.png and OUT/peaks.json. "
        "Example: `rhoml ir ethanol`.",
    )
    _md_args(ir, default_steps=4000)
    ir.add_argument("--trajectory", default=None, help="use this trajectory instead of running MD")
    ir.add_argument("--max-lag", type=float, default=1000.0, help="ACF length in fs (default 1000)")
    ir.add_argument("--correction", default="harmonic", choices=["harmonic", "none"])
    add_out(ir, "output folder", default="ir-out")
    ir.set_defaults(handler=_cmd_ir)


def _md_args(p, default_steps: int = 1000) -> None:
    p.add_argument("model", nargs="?", default="ethanol", help=MODEL_HELP + " (default ethanol)")
    p.add_argument(
        "--geometry",
        default=None,
        help="start geometry (xyz/sdf...; default: the model's stored start geometry)",
    )
    p.add_argument(
        "--steps", type=int, default=default_steps, help=f"MD steps (default {default_steps})"
    )
    p.add_argument("--dt", type=float, default=0.5, help="time step in fs (default 0.5)")
    p.add_argument("--ensemble", default="nve", choices=["nve", "langevin"])
    p.add_argument(
        "--temperature",
        type=float,
        default=300.0,
        help="K: initial velocities and Langevin bath (default 300)",
    )
    p.add_argument("--friction", type=float, default=0.002, help="Langevin friction, 1/fs")
    add_seed(p)
    add_threads(p)
    p.set_defaults(threads=1)  # one thread is fastest for small molecules
    for action in p._actions:
        if action.dest == "threads":
            action.help = (
                "torch CPU threads (default 1: fastest for small molecules; 0: torch's default)"
            )
    p.add_argument(
        "--float32",
        action="store_true",
        help="evaluate the model in float32 (about 1.1x faster; forces to ~1e-6 relative)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the model with torch.compile (about 1.7x faster per step; needs a C++ "
        "compiler; the first run compiles for 1-2 min, later runs reuse the cache)",
    )
    add_quiet(p)


def _load(spec: str, float32: bool = False):
    import torch

    from rhoml.densnet.potential import load_model, shipped_model_path

    dtype = torch.float32 if float32 else torch.float64
    p = Path(spec)
    if p.suffix == ".pt" or p.exists():
        return load_model(p, dtype=dtype)
    return load_model(shipped_model_path(spec), dtype=dtype)


def _start(model, geometry):
    from rhoml.molecule import Molecule

    if geometry:
        from rhoml.io import read_molecules

        mols = list(read_molecules(geometry))
        if not mols:
            raise InputError(f"{geometry}: no molecule found")
        return mols[0]
    if "start_numbers" not in model.meta:
        raise InputError("this model stores no start geometry; give --geometry")
    return Molecule(model.meta["start_numbers"], model.meta["start_positions"], id="start")


def _run(args):

    from rhoml.md.calculator import DenSNetCalculator
    from rhoml.md.driver import MDSettings, run_md

    set_threads(args.threads)
    model = _load(args.model, args.float32)
    mol = _start(model, args.geometry)
    settings = MDSettings(
        steps=args.steps,
        dt_fs=args.dt,
        ensemble=args.ensemble,
        temperature=args.temperature,
        friction=args.friction,
        seed=args.seed,
    )
    calc = DenSNetCalculator(model, compile=args.compile)
    return run_md(calc, mol, settings, progress=not args.quiet), settings


def _cmd_md(args) -> int:
    traj, s = _run(args)
    traj.save(args.out, {"model": args.model, "settings": s.__dict__})
    a = traj.arrays()
    print(
        f"wrote {args.out}: {len(a['time_fs'])} frames, mean T {a['temperature'].mean():.0f} K,"
        f" total-energy drift {a['total'][-1] - a['total'][0]:+.4f} eV"
    )
    return 0


def _cmd_ir(args) -> int:
    from rhoml.md.ir import ir_from_dipoles, write_spectrum

    if args.trajectory:
        from rhoml.md.driver import load_trajectory

        t = load_trajectory(args.trajectory)
        dip, times = t["dipole"], t["time_fs"]
    else:
        traj, _ = _run(args)
        a = traj.arrays()
        dip, times = a["dipole"], a["time_fs"]
    if len(times) < 16:
        raise InputError("IR needs at least 16 recorded MD frames")
    dt = float(times[1] - times[0])
    spec = ir_from_dipoles(
        dip, dt, temperature=args.temperature, max_lag_fs=args.max_lag, correction=args.correction
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.trajectory:
        traj.save(out / "trajectory.npz", {"model": args.model})
    write_spectrum(spec, out / "ir.csv", out / "ir.png", title=f"IR from DenSNet MD ({args.model})")
    peaks = [{"wavenumber_cm-1": w, "intensity_arb": i} for w, i in spec.peaks(n=12)]
    (out / "peaks.json").write_text(json.dumps(peaks, indent=1))
    print(f"wrote {out}/ir.csv, ir.png, peaks.json")
    for p in peaks:
        print(f"  {p['wavenumber_cm-1']:8.1f} cm-1  {p['intensity_arb']:.3f}")
    return 0


def _cmd_sample(args) -> int:
    from rhoml.densnet.systems import SampleSettings, sample_frames

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
    from rhoml.densnet.labels import LabelSettings

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


def _cmd_train(args) -> int:
    from rhoml.densnet.train import TrainConfig, run_training
    from rhoml.train.distributed import init_from_env, is_main_process, shutdown

    init_from_env()  # joins the process group under torchrun (DDP), else a no-op
    main = is_main_process()
    try:
        summary = run_training(TrainConfig.from_file(args.config))
    finally:
        shutdown()
    if main:
        print(json.dumps(summary["test"], indent=1))
    return 0
