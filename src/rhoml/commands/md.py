"""``rhoml md`` and ``rhoml ir``: MD and IR spectra with any run whose model is a potential
(thin wrappers over :mod:`rhoml.md.driver`, :mod:`rhoml.md.ir` and :mod:`rhoml.ase`)."""

from __future__ import annotations

import json
from pathlib import Path

from rhoml.commands import options
from rhoml.errors import InputError

RUN_HELP = "run folder of a potential (energies and forces), or a shipped run name"


def register(sub) -> None:
    md = sub.add_parser(
        "md",
        help="molecular dynamics with a trained potential (NVE or Langevin)",
        description="Run MD with the potential of run folder RUN (default: the shipped 'ethanol' "
        "DenSNet) and write a trajectory (.npz: positions Å, dipole Debye, energies eV, "
        "temperature K per recorded step). Refused with one line when RUN's model predicts no "
        "energies and forces, or was not trained for the molecule.",
    )
    _md_args(md)
    options.add_out(md, "trajectory file (.npz)", required=True)
    md.set_defaults(handler=cmd_md)

    ir = sub.add_parser(
        "ir",
        help="IR spectrum from MD with a trained potential (dipole autocorrelation)",
        description="Run MD with the potential of RUN (NVE by default; or read --trajectory) "
        "and write the IR spectrum from the dipole-derivative autocorrelation (Hann window, "
        "zero padding, harmonic quantum correction) as OUT/ir.csv, OUT/ir.png and "
        "OUT/peaks.json. Example: `rhoml ir ethanol`.",
    )
    _md_args(ir, default_steps=4000)
    ir.add_argument("--trajectory", default=None, help="use this trajectory instead of running MD")
    ir.add_argument("--max-lag", type=options.positive_float, default=1000.0,
                    help="ACF length in fs (default 1000)")  # fmt: skip
    ir.add_argument("--correction", default="harmonic", choices=["harmonic", "none"])
    options.add_out(ir, "output folder", default="ir-out")
    ir.set_defaults(handler=cmd_ir)


def _md_args(p, default_steps: int = 1000) -> None:
    p.add_argument("run", nargs="?", default="ethanol", metavar="RUN",
                   help=RUN_HELP + " (default ethanol)")  # fmt: skip
    p.add_argument("--geometry", default=None,
                   help="start geometry file (default: the model's start geometry)")  # fmt: skip
    p.add_argument("--charge", type=int, default=0, help="total charge, e (default 0)")
    p.add_argument("--steps", type=options.positive_int, default=default_steps,
                   help=f"MD steps (default {default_steps})")  # fmt: skip
    p.add_argument("--dt", type=options.positive_float, default=0.5,
                   help="time step in fs (default 0.5)")  # fmt: skip
    p.add_argument("--ensemble", default="nve", choices=["nve", "langevin"])
    p.add_argument("--temperature", type=float, default=300.0,
                   help="K: initial velocities and Langevin bath (default 300)")  # fmt: skip
    p.add_argument("--friction", type=options.positive_float, default=0.002,
                   help="Langevin friction, 1/fs (default 0.002)")  # fmt: skip
    options.add_seed(p)
    options.add_threads(p)
    p.set_defaults(threads=1)  # one thread is fastest for small molecules
    for action in p._actions:
        if action.dest == "threads":
            action.help = (
                "torch CPU threads (default 1: fastest for small molecules; 0: torch's default)"
            )
    p.add_argument("--float32", action="store_true",
                   help="evaluate the model in float32 (DenSNet: about 1.1x faster; forces to "
                   "~1e-6 relative)")  # fmt: skip
    p.add_argument("--compile", action="store_true",
                   help="compile the model's fast evaluator with torch.compile (DenSNet: about "
                   "1.7x faster per step; needs a C++ compiler; the first run compiles for 1-2 "
                   "min, later runs reuse the cache)")  # fmt: skip
    options.add_quiet(p)


def _start(potential, geometry, charge: int):
    """The start molecule: the first of ``geometry``, or the model's stored start geometry."""
    from rhoml.molecule import Molecule

    if geometry:
        from rhoml.io import read_molecules

        mols = list(read_molecules(geometry))
        if not mols:
            raise InputError(f"{geometry}: no molecule found")
        m = mols[0]
        return Molecule(m.numbers, m.positions, charge=charge, id=m.id or Path(geometry).stem)
    start = getattr(potential, "start_molecule", None)
    mol = start() if start is not None else None
    if mol is None:
        raise InputError("this model stores no start geometry; give --geometry")
    return Molecule(mol.numbers, mol.positions, charge=charge, id=mol.id)


def check_output_file(path) -> Path:
    """``path`` as a Path whose folder exists and is writable: checked before a long run, so
    that nothing is lost at the end."""
    import os

    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"--out {p}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"--out {p}: folder {folder} is not writable")
    if p.is_dir():
        raise InputError(f"--out {p}: is a folder, expected a file name")
    return p


def _run(args, path=None, before=None):
    from rhoml import runs
    from rhoml.ase import RhomlCalculator
    from rhoml.md.driver import MDSettings, run_md

    options.set_threads(args.threads)
    run = runs.load(args.run)
    potential = run.potential()
    mol = _start(potential, args.geometry, args.charge)
    potential.check_molecule(mol)
    if before is not None:  # e.g. create the output folder once the model and molecule fit
        before()
    calc = RhomlCalculator(potential, args.charge, dtype="float32" if args.float32 else None,
                           compile=args.compile)  # fmt: skip
    settings = MDSettings(steps=args.steps, dt_fs=args.dt, ensemble=args.ensemble,
                          temperature=args.temperature, friction=args.friction,
                          seed=args.seed)  # fmt: skip
    return run_md(calc, mol, settings, path=path, progress=not args.quiet), settings, run


def cmd_md(args) -> int:
    out = check_output_file(args.out)
    traj, s, run = _run(args, path=out)
    traj.save(out, {"run": str(run.path), "family": run.family, "settings": s.__dict__})
    a = traj.arrays()
    line = f"wrote {out}: {len(a['time_fs'])} frames, mean T {a['temperature'].mean():.0f} K"
    if s.ensemble == "nve":  # a thermostat exchanges energy: a drift means nothing there
        ps = (a["time_fs"][-1] - a["time_fs"][0]) / 1000.0
        drift = a["total"][-1] - a["total"][0]
        line += f", NVE total-energy drift {drift:+.4f} eV ({drift / ps:+.4f} eV/ps)" if ps else ""
    print(line)
    return 0


def cmd_ir(args) -> int:
    from rhoml.md.ir import ir_from_dipoles, write_spectrum

    traj, run = None, None
    if args.trajectory:
        from rhoml.md.driver import load_trajectory

        t = load_trajectory(args.trajectory)
        dip, times = t["dipole"], t["time_fs"]
        title = f"IR from MD ({Path(args.trajectory).name})"
    else:
        out = Path(args.out)
        check_output_file(out / "trajectory.npz") if out.is_dir() else check_output_file(out)
        traj, _, run = _run(args, path=out / "trajectory.npz",
                            before=lambda: out.mkdir(parents=True, exist_ok=True))  # fmt: skip
        a = traj.arrays()
        dip, times = a["dipole"], a["time_fs"]
        title = f"IR from {run.family} MD ({args.run})"
    if len(times) < 16:
        raise InputError("IR needs at least 16 recorded MD frames")
    dt = float(times[1] - times[0])
    spec = ir_from_dipoles(
        dip, dt, temperature=args.temperature, max_lag_fs=args.max_lag, correction=args.correction
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if traj is not None:
        traj.save(out / "trajectory.npz", {"run": str(run.path), "family": run.family})
    write_spectrum(spec, out / "ir.csv", out / "ir.png", title=title)
    peaks = [{"wavenumber_cm-1": w, "intensity_arb": i} for w, i in spec.peaks(n=12)]
    (out / "peaks.json").write_text(json.dumps(peaks, indent=1))
    print(f"wrote {out}/ir.csv, ir.png, peaks.json")
    for p in peaks:
        print(f"  {p['wavenumber_cm-1']:8.1f} cm-1  {p['intensity_arb']:.3f}")
    return 0
