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

import numpy as np

from rhoml.errors import InputError
from rhoml.molecule import Molecule

if TYPE_CHECKING:
    from rhoml.md.bands import Band
    from rhoml.md.ir import EnsembleSpectrum, HarmonicIR
    from rhoml.md.protocol import ProtocolResult, ProtocolSettings

__all__ = ["IRResult", "assign_experiment", "harmonic_from_digest", "ir_spectrum",
           "start_molecule", "summary"]  # fmt: skip


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
    harmonic_fwhm: float | None = None  # cm⁻¹ FWHM the harmonic lines were broadened to
    dft_level: str | None = None  # "FUNCTIONAL/BASIS" of the DFT harmonic reference
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
    from rhoml.md.protocol import VERLET_NOTE, spectrum_from_files

    ens, dt, integrator = spectrum_from_files(
        paths, temperature=settings.temperature, max_lag_fs=settings.max_lag_fs,
        correction=settings.correction, timestep_correction=settings.timestep_correction,
    )  # fmt: skip
    meta = {
        "trajectory files": " ".join(Path(p).name for p in paths),
        "temperature": f"{settings.temperature:g} K (quantum correction)",
        "time step": f"{dt:g} fs (as recorded)" + (VERLET_NOTE if integrator else ""),
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


def _harmonic(potential, charge: int, starts: list[tuple[float, Molecule]], dft_level: str | None,
              progress: bool, say) -> dict:  # fmt: skip
    """Model (and with a ``dft_level`` "FUNCTIONAL/BASIS", DFT) harmonic IR at each start's own
    minimum (``(weight, molecule)`` per conformer; the DFT minimum is reached from the model's),
    conformers combined by weight (:func:`~rhoml.md.ir.combine_conformers`)."""
    from rhoml.ase import RhomlCalculator
    from rhoml.md.ir import combine_conformers, harmonic_at_minimum

    n = len(starts)
    which = f" of each of {n} conformers" if n > 1 else ""
    say(f"harmonic analysis at the model minimum{which} (BFGS fmax 1e-3 eV/Å, ±0.005 Å)")
    calc = RhomlCalculator(potential, charge)
    model = [(w, harmonic_at_minimum(calc, m)) for w, m in starts]
    harmonic = {"model harmonic": combine_conformers(model)}
    if dft_level:
        from rhoml.md import reference

        n_grad = n * (6 * len(starts[0][1].numbers) + 1)
        say(f"DFT reference (PySCF {dft_level}): optimisation from the model minimum{which}, "
            f"then {n_grad} gradients for the Hessian; this takes a while")  # fmt: skip
        level = reference.label_settings(dft_level)
        dft = [(w, reference.dft_harmonic(Molecule(m.numbers, h.positions, charge=charge),
                                          level, progress=progress))
               for (w, m), (_, h) in zip(starts, model, strict=True)]  # fmt: skip
        harmonic["DFT harmonic"] = combine_conformers(dft)
    return harmonic


def _harmonic_starts(
    protocol: ProtocolResult | None, mol: Molecule
) -> list[tuple[float, Molecule]]:
    """The geometries the harmonic analysis starts from: the protocol's conformers with their
    weights, else its minimum (or ``mol``) with weight 1."""
    if protocol is None:
        return [(1.0, mol)]
    if not protocol.conformers:
        return [(1.0, protocol.minimum)]
    m = protocol.minimum
    return [(float(c["weight"]), Molecule(m.numbers, np.asarray(c["positions_angstrom"]),
                                          charge=m.charge))
            for c in protocol.conformers]  # fmt: skip


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
    dft_level: str | None = None,
    experimental=None,
    smoothing: float | None = None,
    max_shift: float = 150.0,
    harmonic_fwhm: float | None = None,
    workers: int | None = None,
    threads: int = 1,
    dtype: str | None = "auto",
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
    instead of the protocol; ``harmonic``: model harmonic IR at its minimum (at each conformer
    of the protocol, weighted like it); ``dft_reference``: also the PySCF harmonic IR at
    ``dft_level`` ("FUNCTIONAL/BASIS", which implies ``dft_reference``; default: the level of
    the DFT labels the model was trained on, as its manifest records it, else PBE/def2-SVP;
    minutes per conformer);
    ``experimental``: a JCAMP-DX file, read first (a bad file fails before any simulation),
    overlaid and assigned against, with its bands picked after Gaussian smoothing of
    ``smoothing`` cm⁻¹ FWHM (default: the larger of 20 and the molecule's P–R branch separation
    at 298 K,
    :func:`~rhoml.md.bands.pr_branch_separation`) and assignments up to
    ``max_shift`` cm⁻¹, harmonic lines broadened to ``harmonic_fwhm`` cm⁻¹ before band
    picking (default: the median MD band width; :func:`assign_experiment`) (all imply
    ``harmonic``). ``workers``/``threads``/``dtype``/``compile`` go to
    :func:`~rhoml.md.protocol.run_protocol`; ``log`` takes progress lines."""
    from rhoml import runs
    from rhoml.md import ir_report as R
    from rhoml.md.protocol import ProtocolSettings, run_protocol

    s = settings or ProtocolSettings()
    say = log or (lambda msg: None)
    if dft_level is not None:  # a level asks for the reference; a bad one fails before any work
        from rhoml.md.reference import label_settings

        dft_level, dft_reference = label_settings(dft_level).level, True
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
        if dft_reference and dft_level is None:
            from rhoml.md.reference import DEFAULT_LEVEL, run_level

            dft_level = run_level(loaded.manifest) or DEFAULT_LEVEL
        potential = loaded.potential()
        mol = start_molecule(potential, geometry, charge)
        potential.check_molecule(mol)  # one-line refusal for a molecule it was not trained for
        title = f"IR of {mol.formula}: {loaded.family} model {run}"
    res = IRResult(out=out, molecule=mol, dft_level=dft_level if dft_reference else None)
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
        starts = _harmonic_starts(res.protocol, mol)
        res.harmonic = _harmonic(potential, charge, starts, res.dft_level, progress, say)
        header = {
            "model run": str(run), "units": "cm^-1, km/mol",
            "method": "finite differences (±0.005 Å) of forces and dipoles, "
            "ase.vibrations.Infrared, at each method's own minimum",
        }  # fmt: skip
        if res.dft_level:
            header["DFT level"] = f"{res.dft_level} (PySCF)"
        R.write_rows(out / "harmonic", R.harmonic_rows(res.harmonic), header)

    exp_plot = None
    if experiment is not None:
        name = Path(experimental).name
        res.experiment = name
        a = assign_experiment(out / "bands", experiment, name, md_bands=res.md_bands
                              if res.spectrum is not None else None, harmonic=res.harmonic,
                              molecule=mol, smoothing=smoothing, max_shift=max_shift,
                              harmonic_fwhm=harmonic_fwhm)  # fmt: skip
        res.assignment, res.shift_summary, res.smoothing, res.harmonic_fwhm = a
        exp_plot = (experiment.wavenumber, experiment.absorbance, f"experiment ({name})")
    R.plot_ir(out / "ir.png", md=res.spectrum, md_label=md_label, harmonic=res.harmonic,
              experiment=exp_plot, title=title)  # fmt: skip
    res.files = [p.name for p in sorted(out.iterdir()) if p.is_file()]
    return res


def assign_experiment(stem, experiment, name: str, *, md_bands=None, harmonic=None,
                      molecule: Molecule | None = None, smoothing: float | None = None,
                      max_shift: float = 150.0, harmonic_fwhm: float | None = None):  # fmt: skip
    """Bands of the experimental spectrum ``experiment`` (file ``name``) assigned against the
    MD bands and the harmonic results (:func:`~rhoml.md.bands.compare_with_experiment`), written
    to ``stem.csv|json``. Experimental bands are picked after Gaussian smoothing of
    ``smoothing`` cm⁻¹ (default: the larger of 20 and the P–R branch separation of
    ``molecule``); harmonic lines are broadened to ``harmonic_fwhm`` cm⁻¹ (default: the median
    MD band width, 20 without MD) and picked like MD bands. Returns (rows, shift summary,
    smoothing, harmonic_fwhm); ``stem`` None writes nothing."""
    from rhoml.md import bands as B
    from rhoml.md import ir_report as R

    if smoothing is None:
        smoothing = 20.0
        if molecule is not None:
            pr = B.pr_branch_separation(molecule.numbers, molecule.positions)
            smoothing = round(max(smoothing, pr), 1)
    fwhm = harmonic_fwhm if harmonic_fwhm is not None else B.line_width(md_bands or [])
    exp_bands = B.experiment_bands(experiment.wavenumber, experiment.absorbance,
                                   smoothing=smoothing)  # fmt: skip
    rows, shifts = B.compare_with_experiment(exp_bands, md=md_bands, harmonic=harmonic,
                                             max_shift=max_shift, harmonic_fwhm=fwhm)  # fmt: skip
    header = {
        "experiment": f"{name} ({experiment.title}; smoothed {smoothing:g} cm^-1 FWHM for peak "
        "picking)",
        "assignment": f"one-to-one, least total |shift|, at most {max_shift:g} cm^-1; "
        f"harmonic: lines broadened to {fwhm:g} cm^-1 FWHM "
        f"({'the median MD band width' if harmonic_fwhm is None and md_bands else 'given'}) "
        "and picked as bands, centroids",
        **{f"{c} |shift|": json.dumps(v) for c, v in shifts.items()},
    }
    dev = B.model_vs_dft(harmonic or {})
    if dev is not None:
        header["model vs DFT harmonic, mode by mode above 500 cm^-1"] = json.dumps(dev)
    if stem is not None:
        R.write_rows(stem, rows, header)
    return rows, shifts, smoothing, fwhm


def _harmonic_digest(h: HarmonicIR) -> dict[str, Any]:
    """Frequencies (cm⁻¹) and intensities (km/mol, conformer-weighted), with the conformer of
    each mode and the weights when there are several."""
    d: dict[str, Any] = {
        "frequencies_cm-1": [round(float(f), 1) for f in h.frequencies],
        "intensities_km_mol": [round(float(i), 3) for i in h.intensities],
    }
    if h.conformer is not None and h.weights:
        d["conformer"] = [int(c) for c in h.conformer]
        d["weights"] = [round(w, 4) for w in h.weights]
    return d


def harmonic_from_digest(digest: dict[str, Any]) -> HarmonicIR:
    """The :class:`~rhoml.md.ir.HarmonicIR` of a :func:`summary` ``harmonic`` entry (rounded
    values, no geometry)."""
    from rhoml.md.ir import HarmonicIR

    conformer = digest.get("conformer")
    return HarmonicIR(np.asarray(digest["frequencies_cm-1"], float),
                      np.asarray(digest["intensities_km_mol"], float), np.zeros((0, 3)),
                      None if conformer is None else np.asarray(conformer),
                      tuple(digest.get("weights", ())))  # fmt: skip


def summary(res: IRResult) -> dict[str, Any]:
    """A JSON-ready digest of ``res``: bands, harmonic frequencies, assignment and shifts."""
    formula = res.molecule.formula if res.molecule is not None else None
    out: dict[str, Any] = {"molecule": formula, "experiment": res.experiment,
                           "smoothing_cm-1": res.smoothing,
                           "harmonic_fwhm_cm-1": res.harmonic_fwhm,
                           "dft_level": res.dft_level, "files": res.files}  # fmt: skip
    if res.spectrum is not None:
        out["md_bands"] = [b.row() for b in res.md_bands]
        out["md_band_position"] = "centroid"  # what the assignment's MD column holds
    if res.protocol is not None:
        out["drift"] = res.protocol.drift_summary()
        out["wall_s"] = res.protocol.wall_s
    out["harmonic"] = {k: _harmonic_digest(h) for k, h in res.harmonic.items()}
    from rhoml.md.bands import model_vs_dft

    dev = model_vs_dft(res.harmonic)
    if dev is not None:
        out["model_vs_dft_harmonic"] = dev
    out["assignment"] = res.assignment
    out["shift_summary"] = res.shift_summary
    return out
