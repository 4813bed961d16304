"""The whole ``rhoml ir`` pipeline as one function: the MD spectrum protocol (or trajectory
files), harmonic analysis of the model and of the DFT reference, and the comparison with an
experimental JCAMP-DX spectrum, with every file of the output folder written.

>>> from rhoml.md.ir_pipeline import ir_spectrum
>>> res = ir_spectrum("ethanol", "ir-out", harmonic=True)  # doctest: +SKIP
>>> res.md_bands[0].position, res.files  # doctest: +SKIP

Output folder (see :mod:`rhoml.md.ir_report`): ``ir.csv`` (spectrum with a metadata header),
``ir.jdx`` (the same spectrum as JCAMP-DX),
``peaks.csv|json`` (MD bands), ``protocol.json`` (after a protocol run), ``harmonic.csv|json``,
``bands.csv|json`` (band assignment against the experiment), ``ir.png`` and the trajectories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rhoml.errors import InputError
from rhoml.molecule import Molecule

if TYPE_CHECKING:
    from rhoml.md.bands import Band
    from rhoml.md.ir import EnsembleSpectrum, HarmonicIR
    from rhoml.md.protocol import ProtocolResult, ProtocolSettings

__all__ = ["IRResult", "ir_spectrum", "start_molecule", "summary"]


@dataclass
class IRResult:
    """What :func:`ir_spectrum` made: the ensemble ``spectrum`` and its ``md_bands`` (None / []
    without MD), ``harmonic`` results by method (``"model harmonic"``, ``"DFT harmonic"``), the
    band ``assignment`` rows against the experiment and the per-column ``shift_summary``
    (cm⁻¹), the protocol result, the header ``metadata`` and the files written."""

    out: Path
    molecule: Molecule | None  # None for trajectory files alone
    spectrum: EnsembleSpectrum | None = None
    metadata: dict = field(default_factory=dict)
    md_bands: list[Band] = field(default_factory=list)
    harmonic: dict[str, HarmonicIR] = field(default_factory=dict)
    assignment: list[dict] = field(default_factory=list)
    shift_summary: dict = field(default_factory=dict)
    protocol: ProtocolResult | None = None
    experiment: str | None = None
    smoothing: float | None = None  # cm⁻¹ FWHM the experimental bands were picked with
    files: list[str] = field(default_factory=list)


def start_molecule(potential, geometry=None, charge: int = 0) -> Molecule:
    """The start molecule: the first of file ``geometry``, or the model's stored start geometry
    (one-line :class:`InputError` when neither exists)."""
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
        raise InputError("this model stores no start geometry; give a geometry")
    return Molecule(mol.numbers, mol.positions, charge=charge, id=mol.id)


def _from_files(paths, settings: ProtocolSettings):
    """(ensemble spectrum, header metadata) of trajectory files."""
    from rhoml.md.protocol import spectrum_from_files

    ens, dt = spectrum_from_files(paths, temperature=settings.temperature,
                                  max_lag_fs=settings.max_lag_fs,
                                  correction=settings.correction)  # fmt: skip
    meta = {
        "trajectory files": " ".join(Path(p).name for p in paths),
        "temperature": f"{settings.temperature:g} K (quantum correction)",
        "time step": f"{dt:g} fs (as recorded)",
        "trajectories": str(ens.n_trajectories),
        "window": f"{settings.max_lag_fs:g} fs Hann (dipole-derivative ACF)",
        "quantum correction": settings.correction,
    }
    return ens, meta


def _write_md(out: Path, ens, meta: dict, result, seed: int) -> list[Band]:
    """ir.csv, peaks.csv|json (and protocol.json after a protocol run); returns the bands."""
    from rhoml.io.jcamp import write_jcamp
    from rhoml.md import bands as B
    from rhoml.md import ir_report as R

    spec = ens.mean()
    md_bands = B.find_bands(spec.wavenumber, spec.intensity, samples=ens.bootstrap(200, seed))
    R.write_ir_csv(out / "ir.csv", ens, meta, seed=seed)
    keep = spec.wavenumber <= 4500.0
    write_jcamp(out / "ir.jdx", spec.wavenumber[keep], spec.intensity[keep],
                title=f"rhoml MD IR spectrum ({meta.get('model run', 'trajectory files')})",
                yunits="ARBITRARY UNITS")  # fmt: skip
    R.write_rows(out / "peaks", [b.row() for b in md_bands], meta)
    if result is not None:
        summary = {
            "metadata": meta, "drift": result.drift_summary(), "nve": result.nve,
            "langevin": result.langevin, "conformers": result.conformers,
            "wall_s": result.wall_s,
            "minimum_energy_eV": result.minimum_energy_ev,
            "settings": result.settings.__dict__, "files": result.files,
        }  # fmt: skip
        (out / "protocol.json").write_text(json.dumps(summary, indent=1) + "\n")
    return md_bands


def _harmonic(potential, charge: int, start: Molecule, dft_reference: bool, progress: bool,
              say) -> dict:  # fmt: skip
    """Model (and with ``dft_reference`` DFT) harmonic IR, each at its own minimum."""
    from rhoml.ase import RhomlCalculator
    from rhoml.md.ir import harmonic_at_minimum

    harmonic = {}
    say("harmonic analysis at the model minimum (BFGS fmax 1e-3 eV/Å, ±0.005 Å)")
    harmonic["model harmonic"] = harmonic_at_minimum(RhomlCalculator(potential, charge), start)
    if dft_reference:
        from rhoml.md import reference

        n_grad = 6 * len(start.numbers) + 1
        say(f"DFT reference (PySCF PBE/def2-SVP): optimisation from the model minimum, then "
            f"{n_grad} gradients for the Hessian; this takes a while")  # fmt: skip
        dft_start = Molecule(start.numbers, harmonic["model harmonic"].positions, charge=charge)
        harmonic["DFT harmonic"] = reference.dft_harmonic(dft_start, progress=progress)
    return harmonic


def ir_spectrum(
    run,
    out,
    *,
    settings: ProtocolSettings | None = None,
    geometry=None,
    charge: int = 0,
    md: bool = True,
    trajectory_files=None,
    harmonic: bool = False,
    dft_reference: bool = False,
    experimental=None,
    smoothing: float | None = None,
    max_shift: float = 150.0,
    workers: int | None = None,
    threads: int = 1,
    dtype: str | None = None,
    compile: bool = False,
    progress: bool = True,
    log=None,
) -> IRResult:
    """IR spectrum of the molecule of ``run`` (a run folder or shipped run name whose model is a
    potential), written to folder ``out``.

    ``settings``: the MD protocol (:class:`~rhoml.md.protocol.ProtocolSettings`; with
    ``trajectory_files`` only its temperature, window and correction are used);
    ``geometry``: a start geometry file instead of the model's own; ``md``: run the protocol
    (False: harmonic analysis only); ``trajectory_files``: spectrum of these trajectory files
    instead of the protocol; ``harmonic``: model harmonic IR at its minimum; ``dft_reference``:
    also PySCF PBE/def2-SVP harmonic IR (minutes); ``experimental``: a JCAMP-DX file, read
    first (a bad file fails before any simulation), overlaid and assigned against, with its
    bands picked after Gaussian smoothing of ``smoothing`` cm⁻¹ FWHM (default: the larger of
    20 and the molecule's P–R branch separation at 298 K,
    :func:`~rhoml.md.bands.pr_branch_separation`) and assignments up to
    ``max_shift`` cm⁻¹ (both imply ``harmonic``). ``workers``/``threads``/``dtype``/``compile``
    go to :func:`~rhoml.md.protocol.run_protocol`; ``log`` takes progress lines."""
    from rhoml import runs
    from rhoml.md import bands as B
    from rhoml.md import ir_report as R
    from rhoml.md.protocol import ProtocolSettings, run_protocol

    s = settings or ProtocolSettings()
    say = log or (lambda msg: None)
    if not md and trajectory_files:
        raise InputError("md=False and trajectory files exclude each other")
    if not md and not (harmonic or dft_reference or experimental):
        raise InputError("no MD leaves nothing to do: ask for the harmonic or DFT reference")
    experiment = None
    if experimental:
        from rhoml.io.jcamp import read_jcamp_spectrum

        experiment = read_jcamp_spectrum(experimental)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, expected a folder")
    want_harmonic = bool(harmonic or dft_reference or experimental)

    mol, potential, title, md_label = None, None, "IR", ""
    if not trajectory_files or want_harmonic:  # trajectory files alone need no model
        loaded = runs.load(run)
        potential = loaded.potential()
        mol = start_molecule(potential, geometry, charge)
        potential.check_molecule(mol)  # one-line refusal for a molecule it was not trained for
        title = f"IR of {mol.formula}: {loaded.family} model {run}"
    res = IRResult(out=out, molecule=mol)
    out.mkdir(parents=True, exist_ok=True)
    if trajectory_files:
        res.spectrum, res.metadata = _from_files(trajectory_files, s)
        md_label = f"MD dipole-derivative ACF, {res.spectrum.n_trajectories} traj"
        if mol is None:
            title = f"IR from {res.spectrum.n_trajectories} trajectory file(s)"
    elif md:
        res.protocol = run_protocol(run, mol, s, out=out, workers=workers, threads=threads,
                                    dtype=dtype, compile=compile, progress=progress,
                                    log=say)  # fmt: skip
        res.spectrum, res.metadata = res.protocol.spectrum, res.protocol.metadata()
        md_label = (f"MD dipole-derivative ACF, {res.spectrum.n_trajectories} traj × "
                    f"{s.nve_steps * s.dt_fs / 1000:g} ps, {s.temperature:g} K")  # fmt: skip
    if res.spectrum is not None:
        res.md_bands = _write_md(out, res.spectrum, res.metadata, res.protocol, s.seed)

    if want_harmonic:
        start = res.protocol.minimum if res.protocol is not None else mol
        res.harmonic = _harmonic(potential, charge, start, dft_reference, progress, say)
        R.write_rows(out / "harmonic", R.harmonic_rows(res.harmonic), {
            "model run": str(run), "units": "cm^-1, km/mol",
            "method": "finite differences (±0.005 Å) of forces and dipoles, "
            "ase.vibrations.Infrared, at each method's own minimum",
        })  # fmt: skip

    exp_plot = None
    if experiment is not None:
        name = Path(experimental).name
        res.experiment = name
        if smoothing is None:
            smoothing = 20.0
            if mol is not None:
                pr = B.pr_branch_separation(mol.numbers, mol.positions)
                smoothing = round(max(smoothing, pr), 1)
        res.smoothing = smoothing
        exp_bands = B.experiment_bands(experiment.wavenumber, experiment.absorbance,
                                       smoothing=smoothing)  # fmt: skip
        res.assignment, res.shift_summary = B.compare_with_experiment(
            exp_bands, md=res.md_bands if res.spectrum is not None else None,
            harmonic=res.harmonic, max_shift=max_shift,
        )  # fmt: skip
        R.write_rows(out / "bands", res.assignment, {
            "experiment": f"{name} ({experiment.title}; smoothed {smoothing:g} cm^-1 "
            "FWHM for peak picking)",
            "assignment": f"one-to-one, least total |shift|, at most {max_shift:g} cm^-1; "
            "harmonic: modes >= 2% of the strongest",
            **{f"{c} |shift|": json.dumps(v) for c, v in res.shift_summary.items()},
        })  # fmt: skip
        exp_plot = (experiment.wavenumber, experiment.absorbance, f"experiment ({name})")
    R.plot_ir(out / "ir.png", md=res.spectrum, md_label=md_label, harmonic=res.harmonic,
              experiment=exp_plot, title=title)  # fmt: skip
    res.files = [p.name for p in sorted(out.iterdir()) if p.is_file()]
    return res


def summary(res: IRResult) -> dict[str, Any]:
    """A JSON-ready digest of ``res``: bands, harmonic frequencies, assignment and shifts."""
    formula = res.molecule.formula if res.molecule is not None else None
    out: dict[str, Any] = {"molecule": formula, "experiment": res.experiment,
                           "smoothing_cm-1": res.smoothing,
                           "files": res.files}  # fmt: skip
    if res.spectrum is not None:
        out["md_bands"] = [b.row() for b in res.md_bands]
        out["md_band_position"] = "centroid"  # what the assignment's MD column holds
    if res.protocol is not None:
        out["drift"] = res.protocol.drift_summary()
        out["wall_s"] = res.protocol.wall_s
    out["harmonic"] = {k: {"frequencies_cm-1": [round(float(f), 1) for f in h.frequencies],
                           "intensities_km_mol": [round(float(i), 2) for i in h.intensities]}
                       for k, h in res.harmonic.items()}  # fmt: skip
    out["assignment"] = res.assignment
    out["shift_summary"] = res.shift_summary
    return out
