"""``rhoml md`` and ``rhoml ir``: MD and IR spectra with any run whose model is a potential
(thin wrappers over :mod:`rhoml.md.driver`, :mod:`rhoml.md.ir` and :mod:`rhoml.ase`)."""

from __future__ import annotations

import argparse
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
        "temperature K per recorded step). NVE runs report their total-energy drift (eV/ps); a "
        "run that turns non-finite or blows up (NVE energy error above 3·N·k_B·T, temperature "
        "above 10×T) stops with one line naming the step, keeping the frames simulated until "
        "then. Refused with one line when RUN's model predicts no energies and forces, or was "
        "not trained for the molecule.",
    )
    _md_args(md)
    md.add_argument("--ensemble", default="nve", choices=["nve", "langevin"])
    md.add_argument(
        "--friction",
        type=options.positive_float,
        default=0.002,
        help="Langevin friction, 1/fs (default 0.002)",
    )
    options.add_out(md, "trajectory file (.npz)", required=True)
    md.set_defaults(handler=cmd_md)

    from rhoml.md.protocol import ProtocolSettings

    d = ProtocolSettings()
    ir = sub.add_parser(
        "ir",
        help="IR spectrum from MD with a trained potential (protocol, harmonic, experiment)",
        description="IR spectrum of the molecule of RUN by the MD protocol: optimise with the "
        "model (BFGS), search its conformers (--conformers: rotatable bonds turned, relaxed, "
        "Boltzmann-weighted; trajectories given to them by weight), then --trajectories NVE "
        "trajectories at --temperature, each started from fixed-energy normal-mode initial "
        "conditions at its conformer's minimum (--sampling normal-modes, --settle steps not "
        "used) or after its own Langevin equilibration chain (--sampling langevin), on --workers "
        "processes, whose dipole-derivative ACF spectra (Hann window --max-lag, harmonic quantum "
        "correction) are averaged; band uncertainties are bootstrap standard errors over the "
        "trajectories. Writes OUT/ir.csv (commented header: model, temperature, time step, "
        "trajectories, total time, window, correction, units), OUT/peaks.csv|json (bands per "
        "region: position, ±, FWHM, relative intensity), OUT/protocol.json, OUT/ir.png "
        "(wavenumber decreasing to the right, normalised on the strongest 500-4000 cm-1 band) "
        "and the trajectories in OUT/trajectories/. --harmonic adds harmonic frequencies and "
        "intensities at the model minimum (OUT/harmonic.csv|json), --dft-reference the same with "
        "PySCF at the level of the model's labels (minutes; --dft-level to choose), "
        "--experimental FILE.jdx overlays a JCAMP-DX spectrum and "
        "writes the band assignment OUT/bands.csv|json. Default protocol: "
        f"{d.trajectories} x {d.nve_steps * d.dt_fs / 1000:g} ps NVE at {d.temperature:g} K "
        f"from normal-mode starts with conformers, {d.settle_steps} settling steps each "
        "(ethanol: 72,000 MD steps, about 6 min on 2 free cores). "
        "Example: `rhoml ir ethanol --harmonic`.",
    )
    _md_args(ir, default_steps=d.nve_steps, steps_help="NVE steps per trajectory")
    ir.add_argument(
        "--trajectories",
        type=options.positive_int,
        default=d.trajectories,
        metavar="N",
        help=f"independent NVE trajectories (default {d.trajectories})",
    )
    ir.add_argument(
        "--equilibration",
        type=options.positive_int,
        default=d.equilibration_steps,
        metavar="STEPS",
        help="Langevin steps of each trajectory's own equilibration chain "
        f"(default {d.equilibration_steps})",
    )
    ir.add_argument(
        "--sampling",
        default=d.sampling,
        choices=["langevin", "normal-modes"],
        help="how each NVE trajectory starts: from its own Langevin chain, or from "
        "fixed-energy normal-mode initial conditions (k_B T per mode, random phases) and "
        f"--settle NVE steps that are not used (default {d.sampling})",
    )
    ir.add_argument(
        "--conformers",
        action=argparse.BooleanOptionalAction,
        default=d.conformers,
        help="search conformers (rotatable bonds at 0/120/240 degrees, relaxed with the "
        "model) and give the trajectories to them by Boltzmann weight, the same for every seed "
        f"(default {'on' if d.conformers else 'off'})",
    )
    ir.add_argument(
        "--settle",
        type=options.nonnegative_int,
        default=d.settle_steps,
        metavar="STEPS",
        help=f"NVE steps after a normal-mode start, not used (default {d.settle_steps})",
    )
    ir.add_argument(
        "--friction",
        type=options.positive_float,
        default=d.friction,
        help=f"Langevin friction, 1/fs (default {d.friction:g})",
    )
    ir.add_argument(
        "--max-lag",
        type=options.positive_float,
        default=d.max_lag_fs,
        metavar="FS",
        help=f"ACF window in fs (default {d.max_lag_fs:g})",
    )
    ir.add_argument(
        "--correction",
        default=d.correction,
        choices=["harmonic", "none"],
        help="quantum correction (default harmonic)",
    )
    ir.add_argument(
        "--timestep-correction",
        action=argparse.BooleanOptionalAction,
        default=d.timestep_correction,
        help="remove the velocity-Verlet frequency shift from NVE spectra (+10 cm-1 at 3000 "
        "cm-1 for 0.5 fs; exact for harmonic modes) (default on)",
    )
    options.add_workers(ir)
    ir.add_argument(
        "--trajectory",
        nargs="+",
        default=None,
        metavar="FILE",
        help="spectrum of these trajectory files (.npz from `rhoml md` or "
        "OUT/trajectories/nve_*.npz) instead of running the protocol",
    )
    ir.add_argument(
        "--harmonic",
        action="store_true",
        help="also harmonic frequencies and intensities at the model minimum "
        "(finite differences, ase.vibrations)",
    )
    ir.add_argument(
        "--dft-reference",
        action="store_true",
        help="also the harmonic spectrum of the DFT reference (PySCF at --dft-level, "
        "optimised from the model minimum; ethanol: tens of minutes)",
    )
    ir.add_argument(
        "--dft-level",
        default=None,
        metavar="FUNCTIONAL/BASIS",
        help="level of --dft-reference (default: the level of the DFT labels the model was "
        "trained on, as its manifest records it, else PBE/def2-SVP)",
    )
    ir.add_argument(
        "--no-md", action="store_true", help="skip the MD protocol (harmonic analysis only)"
    )
    ir.add_argument(
        "--experimental",
        default=None,
        metavar="FILE.jdx",
        help="JCAMP-DX experimental spectrum to overlay and assign bands against",
    )
    ir.add_argument(
        "--smoothing",
        type=options.nonnegative_float,
        default=None,
        metavar="CM-1",
        help="Gaussian FWHM (cm-1) the experimental spectrum is smoothed with before "
        "its bands are picked, merging rotational P/Q/R structure; band positions are "
        "contour centroids (default: the larger of 20 and the molecule's P-R branch "
        "separation at 298 K, e.g. 37 for methanol; the plot shows it unsmoothed)",
    )
    ir.add_argument(
        "--max-shift",
        type=options.positive_float,
        default=150.0,
        metavar="CM-1",
        help="largest shift (cm-1) a band is assigned across (default 150)",
    )
    ir.add_argument(
        "--harmonic-fwhm",
        type=options.positive_float,
        default=None,
        metavar="CM-1",
        help="Gaussian FWHM (cm-1) the harmonic lines are broadened to before their bands are "
        "picked and assigned, so they offer the assignment bands of the same resolution as "
        "MD (default: the median MD band width; 20 without MD)",
    )
    options.add_out(ir, "output folder", default="ir-out")
    ir.set_defaults(handler=cmd_ir)


def _md_args(p, default_steps: int = 1000, steps_help: str = "MD steps") -> None:
    p.add_argument(
        "run", nargs="?", default="ethanol", metavar="RUN", help=RUN_HELP + " (default ethanol)"
    )
    p.add_argument(
        "--geometry", default=None, help="start geometry file (default: the model's start geometry)"
    )
    p.add_argument("--charge", type=int, default=0, help="total charge, e (default 0)")
    p.add_argument(
        "--steps",
        type=options.positive_int,
        default=default_steps,
        help=f"{steps_help} (default {default_steps})",
    )
    p.add_argument(
        "--dt", type=options.positive_float, default=0.5, help="time step in fs (default 0.5)"
    )
    p.add_argument(
        "--temperature",
        type=options.positive_float,
        default=300.0,
        help="K: initial velocities and Langevin bath (default 300)",
    )
    options.add_seed(p)
    options.add_threads(p)
    p.set_defaults(threads=1)  # one thread is fastest for small molecules
    for action in p._actions:
        if action.dest == "threads":
            action.help = (
                "torch CPU threads per process (default 1: fastest for small "
                "molecules; 0: torch's default)"
            )
    prec = p.add_mutually_exclusive_group()
    prec.add_argument(
        "--float32",
        dest="dtype",
        action="store_const",
        const="float32",
        default="auto",
        help="evaluate the model in float32 (default for models trained in float32, such as "
        "the shipped DenSNet runs: about 1.4x faster than float64, the same NVE energy "
        "conservation; forces to ~1e-5 kcal/mol/Å)",
    )
    prec.add_argument(
        "--float64",
        dest="dtype",
        action="store_const",
        const=None,
        help="evaluate the model in float64 (default for models trained in float64)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the model's fast evaluator with torch.compile (DenSNet: 1.1-1.7x "
        "faster per step, depending on the model; needs a C++ compiler; the first run "
        "compiles for 1-2 min, later runs reuse the cache)",
    )
    options.add_quiet(p)


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


def _model(args):
    """(run, potential, start molecule) after the one-line checks: the run is a potential and
    the molecule is one it was trained for."""
    from rhoml import runs

    options.set_threads(args.threads)
    run = runs.load(args.run)
    potential = run.potential()
    from rhoml.md.ir_pipeline import start_molecule

    mol = start_molecule(potential, args.geometry, args.charge)
    potential.check_molecule(mol)
    return run, potential, mol


def _run(args, path=None, before=None):
    from rhoml.ase import RhomlCalculator
    from rhoml.md.driver import MDSettings, run_md

    run, potential, mol = _model(args)
    if before is not None:  # e.g. create the output folder once the model and molecule fit
        before()
    calc = RhomlCalculator(
        potential if args.dtype != "auto" else run,
        args.charge,
        dtype=args.dtype,
        compile=args.compile,
    )
    settings = MDSettings(
        steps=args.steps,
        dt_fs=args.dt,
        ensemble=args.ensemble,
        temperature=args.temperature,
        friction=args.friction,
        seed=args.seed,
    )
    meta = {"run": str(run.path), "family": run.family}
    traj = run_md(calc, mol, settings, path=path, progress=not args.quiet, meta=meta)
    return traj, settings, run


def cmd_md(args) -> int:
    from rhoml.md.driver import nve_drift

    out = check_output_file(args.out)
    traj, s, run = _run(args, path=out)
    a = traj.arrays()
    line = f"wrote {out}: {len(a['time_fs'])} frames, mean T {a['temperature'].mean():.0f} K"
    if s.ensemble == "nve":  # a thermostat exchanges energy: a drift means nothing there
        d = nve_drift(a["time_fs"], a["total"])
        line += (
            f", NVE total-energy drift {d['drift_eV_per_ps']:+.4f} eV/ps (largest error "
            f"{d['max_error_eV']:.4f} eV)"
        )
    print(line)
    return 0


def _check_ir_args(args) -> None:
    if args.no_md and args.trajectory:
        raise InputError("--no-md and --trajectory exclude each other")
    if args.no_md and not (
        args.harmonic or args.dft_reference or args.dft_level or args.experimental
    ):
        raise InputError("--no-md leaves nothing to do: add --harmonic or --dft-reference")


def _protocol_settings(args):
    from rhoml.md.protocol import ProtocolSettings

    return ProtocolSettings(
        temperature=args.temperature, dt_fs=args.dt, friction=args.friction,
        equilibration_steps=args.equilibration,
        trajectories=args.trajectories, nve_steps=args.steps, max_lag_fs=args.max_lag,
        correction=args.correction, seed=args.seed, sampling=args.sampling,
        conformers=args.conformers, settle_steps=args.settle,
        timestep_correction=args.timestep_correction,
    )  # fmt: skip


def cmd_ir(args) -> int:
    import logging

    from rhoml.md import bands as B
    from rhoml.md import ir_report as R
    from rhoml.md.ir_pipeline import ir_spectrum

    _check_ir_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, expected a folder")
    check_output_file(out / "ir.csv") if out.is_dir() else check_output_file(out)
    options.set_threads(args.threads)
    res = ir_spectrum(
        args.run, out, settings=_protocol_settings(args), geometry=args.geometry,
        charge=args.charge, md=not args.no_md, trajectory_files=args.trajectory,
        harmonic=args.harmonic, dft_reference=args.dft_reference, dft_level=args.dft_level,
        experimental=args.experimental, smoothing=args.smoothing, max_shift=args.max_shift,
        harmonic_fwhm=args.harmonic_fwhm, workers=args.workers, threads=args.threads or 1,
        dtype=args.dtype, compile=args.compile,
        progress=not args.quiet, log=logging.getLogger("rhoml.ir").info,
    )  # fmt: skip
    result, ens, md_bands, harmonic = res.protocol, res.spectrum, res.md_bands, res.harmonic
    assignment, columns, meta = res.assignment, list(res.shift_summary), res.metadata
    print(f"wrote {out}/: {', '.join(res.files)}")
    if result is not None:
        d = result.drift_summary()
        print(f"protocol: {meta['trajectories']}; NVE drift median "
              f"{d['median_abs_drift_eV_per_ps']:.2g} eV/ps (largest "
              f"{d['max_abs_drift_eV_per_ps']:.2g}), vibrational T "
              f"{d['mean_vibrational_temperature_K']:.0f} K; "
              f"{result.wall_s['total']:.0f} s")  # fmt: skip
    if ens is not None:
        print(B.format_band_table(md_bands, "MD bands (± = bootstrap standard error over "
                                  "trajectories):"))  # fmt: skip
    if harmonic:
        print("harmonic (cm-1, km/mol):")
        print(R.format_harmonic(harmonic))
    if assignment:
        print(f"band assignment against {Path(args.experimental).name} (shift = computed − "
              "experiment, cm-1):")  # fmt: skip
        print(R.format_assignment(assignment, columns))
        print(f"(harmonic lines broadened to {res.harmonic_fwhm:g} cm-1 FWHM and picked as bands)")
    d = B.model_vs_dft(harmonic)
    if d is not None:
        print(f"model vs DFT harmonic, mode by mode above 500 cm-1: largest "
              f"{d['max_abs_cm-1']} cm-1, mean {d['mean_abs_cm-1']}, "
              f"{d['within_20']}/{d['n_modes']} within 20")  # fmt: skip
    return 0
