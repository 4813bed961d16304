"""IR spectra of new molecules against gas-phase experiment, as one resumable command
(``rhoml bench ir-vs-experiment``; issue 14 item 7).

For every molecule NAME, in folder ``out``:

1. ``geometries/NAME.xyz``: the start geometry, built from the SMILES of :data:`MOLECULES`
   (RDKit ETKDGv3 + MMFF, :func:`rhoml.md.sampling.build_molecule`) unless the file exists;
2. ``NAME/``: its DenSNet model by :func:`rhoml.studies.densnet_build.build_densnet` (xTB
   Langevin samples, DFT labels, training, validation report; finished stages are skipped);
3. ``NAME/ir/``: :func:`rhoml.md.ir_pipeline.ir_spectrum` with the MD protocol, model and DFT
   harmonic analysis and the experimental spectrum ``EXPERIMENTAL_DIR/NAME.jdx``; its digest
   ``NAME/ir/summary.json`` marks the molecule done (redone when the model is newer or the
   IR settings differ; finished MD trajectories are then read back, not simulated again);

then ``ir_vs_experiment.json|md`` (band assignment per molecule: experiment, MD, model
harmonic, DFT harmonic, shifts; goal checks) and ``ir_vs_experiment.png`` (overlays). A molecule
that fails is recorded with its one-line error and the others go on.

Goals (issue 14): every assigned MD band within :data:`GOAL_MAX` cm⁻¹ of experiment, their mean
below :data:`GOAL_MEAN` cm⁻¹, and the model adding at most :data:`GOAL_MODEL_ADDED` cm⁻¹ to the
DFT-level error (mean |model harmonic − experiment| − mean |DFT harmonic − experiment| over the
bands both assign).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import CalculationError, InputError
from rhoml.md.protocol import ProtocolSettings
from rhoml.studies.densnet_build import BuildSettings

__all__ = ["GOAL_MAX", "GOAL_MEAN", "GOAL_MODEL_ADDED", "MOLECULES", "IRStudySettings",
           "molecule_result", "reassign", "run_study"]  # fmt: skip

#: molecules with gas-phase spectra in ``../shared/data/ir_gas_phase``: name → SMILES
MOLECULES: dict[str, str] = {"methanol": "CO", "acetone": "CC(C)=O", "2-propanol": "CC(C)O"}
GOAL_MAX = 40.0  # cm⁻¹, every assigned band
GOAL_MEAN = 25.0  # cm⁻¹, mean over the assigned bands
GOAL_MODEL_ADDED = 10.0  # cm⁻¹, model harmonic error minus DFT harmonic error


@dataclass(frozen=True)
class IRStudySettings:
    """Which molecules, where their experimental spectra are (``NAME.jdx``), the build and
    protocol settings, whether to compute the DFT harmonic reference, band picking
    (``smoothing`` cm⁻¹ FWHM, default per molecule as in
    :func:`rhoml.md.ir_pipeline.ir_spectrum`; ``max_shift`` cm⁻¹) and local ``workers``."""

    molecules: tuple[str, ...] = tuple(MOLECULES)
    experimental_dir: str = "../shared/data/ir_gas_phase"
    build: BuildSettings = field(default_factory=BuildSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    dft_reference: bool = True
    smoothing: float | None = None  # None: max(20, P–R branch separation)
    max_shift: float = 150.0
    workers: int | None = None

    def check(self) -> None:
        if not self.molecules:
            raise InputError("ir-vs-experiment: no molecules given")
        folder = Path(self.experimental_dir)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder of experimental spectra")
        for name in self.molecules:
            if not (folder / f"{name}.jdx").is_file():
                raise InputError(f"{name}: no experimental spectrum {folder / (name + '.jdx')}")
        self.build.check()
        self.protocol.check()


def _geometry(out: Path, name: str) -> Path:
    """``out/geometries/name.xyz``, built from the SMILES of :data:`MOLECULES` when absent."""
    from rhoml.io.xyz import write_xyz
    from rhoml.md.sampling import build_molecule
    from rhoml.molecule import Molecule

    path = out / "geometries" / f"{name}.xyz"
    if path.is_file():
        return path
    if name not in MOLECULES:
        raise InputError(f"{name}: unknown molecule; put its start geometry in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    m = build_molecule(MOLECULES[name])
    write_xyz(path, Molecule(m.numbers, m.positions, id=name))
    return path


def _model_added(rows: list[dict]) -> float | None:
    """Mean |model harmonic shift| − mean |DFT harmonic shift| (cm⁻¹) over rows both assign."""
    pairs = [(abs(r["model_harmonic_shift_cm-1"]), abs(r["DFT_harmonic_shift_cm-1"]))
             for r in rows if r.get("model_harmonic_shift_cm-1") is not None
             and r.get("DFT_harmonic_shift_cm-1") is not None]  # fmt: skip
    if not pairs:
        return None
    a = np.asarray(pairs)
    return round(float(a[:, 0].mean() - a[:, 1].mean()), 1)


def molecule_result(out, name: str, settings: IRStudySettings, *, progress: bool = True,
                    log=None) -> dict[str, Any]:  # fmt: skip
    """Build (or resume) molecule ``name`` in ``out`` and compute its spectrum against the
    experiment; returns its digest (also ``out/name/ir/summary.json``)."""
    from rhoml.io.atomic import atomic_write
    from rhoml.md.ir_pipeline import ir_spectrum, summary
    from rhoml.studies.densnet_build import build_densnet

    say = log or (lambda m: None)
    out = Path(out)
    folder = out / name
    done = folder / "ir" / "summary.json"
    model = folder / "run" / "model.pt"
    want = _ir_settings(settings)
    if done.is_file() and model.is_file() and done.stat().st_mtime >= model.stat().st_mtime:
        digest = json.loads(done.read_text())
        if digest.get("ir_settings") == want:
            say(f"{name}: done ({done})")
            return digest
        say(f"{name}: IR settings changed since {done}: redoing the spectrum (finished "
            "trajectories are read back)")  # fmt: skip
    t0 = time.perf_counter()
    geometry = _geometry(out, name)
    say(f"{name}: building its DenSNet model in {folder}")
    report = build_densnet(geometry, folder, settings.build, name=name,
                           workers=settings.workers, progress=progress, log=say)  # fmt: skip
    t1 = time.perf_counter()
    say(f"{name}: IR spectrum against {name}.jdx")
    res = ir_spectrum(folder / "run", folder / "ir", settings=settings.protocol, harmonic=True,
                      dft_reference=settings.dft_reference,
                      experimental=Path(settings.experimental_dir) / f"{name}.jdx",
                      smoothing=settings.smoothing, max_shift=settings.max_shift,
                      workers=settings.workers, progress=progress, log=say)  # fmt: skip
    digest = {"name": name, **summary(res)}
    keys = (
        "force_mae_kcal_mol_angstrom",
        "energy_mae_kcal_mol",
        "density_nmae",
        "n_train",
        "n_test",
        "level",
    )
    digest["model"] = {k: report.get(k) for k in keys}
    digest["model_added_cm-1"] = _model_added(res.assignment)
    digest["ir_settings"] = want
    digest["seconds"] = {"build": round(t1 - t0, 1), "ir": round(time.perf_counter() - t1, 1),
                         "build_stages": report.get("seconds", {})}  # fmt: skip
    atomic_write(done, json.dumps(digest, indent=1) + "\n")
    return digest


def reassign(
    digest: dict,
    experimental_dir,
    *,
    max_shift: float = 150.0,
    harmonic_fwhm: float | None = None,
    stem=None,
) -> dict[str, Any]:
    """``digest`` (a molecule of ``ir_vs_experiment.json``) with its band assignment redone
    from what it stores (MD bands, harmonic frequencies and intensities, smoothing) against the
    experimental file of the same name in ``experimental_dir``: no simulation, so older
    results follow a change of the assignment rules. Writes ``stem.csv|json`` when given."""
    from rhoml.io.jcamp import read_jcamp_spectrum
    from rhoml.md.bands import Band, model_vs_dft
    from rhoml.md.ir_pipeline import assign_experiment, harmonic_from_digest

    path = Path(experimental_dir) / digest["experiment"]
    if not path.is_file():
        raise InputError(f"{digest.get('name')}: no experimental spectrum {path}")
    md = [Band.from_row(r) for r in digest.get("md_bands", [])]
    harmonic = {k: harmonic_from_digest(v) for k, v in digest.get("harmonic", {}).items()}
    rows, shifts, smoothing, fwhm = assign_experiment(
        stem, read_jcamp_spectrum(path), path.name, md_bands=md or None, harmonic=harmonic,
        smoothing=digest.get("smoothing_cm-1"), max_shift=max_shift, harmonic_fwhm=harmonic_fwhm,
    )  # fmt: skip
    out = {**digest, "assignment": rows, "shift_summary": shifts, "smoothing_cm-1": smoothing,
           "harmonic_fwhm_cm-1": fwhm, "model_added_cm-1": _model_added(rows)}  # fmt: skip
    dev = model_vs_dft(harmonic)
    if dev is not None:
        out["model_vs_dft_harmonic"] = dev
    out["goals"] = _goals(out)
    return out


def _ir_settings(settings: IRStudySettings) -> dict[str, Any]:
    """What a molecule's spectrum and assignment depend on besides its model (JSON-ready)."""
    from dataclasses import asdict

    return json.loads(json.dumps({
        "protocol": asdict(settings.protocol), "dft_reference": settings.dft_reference,
        "smoothing": settings.smoothing, "max_shift": settings.max_shift,
    }))  # fmt: skip


def _goals(digest: dict) -> dict[str, Any]:
    md = digest.get("shift_summary", {}).get("md", {})
    mx, mean, added = (
        md.get("max_abs_shift_cm-1"),
        md.get("mean_abs_shift_cm-1"),
        digest.get("model_added_cm-1"),
    )
    return {
        "md_max_abs_shift_cm-1": mx,
        "md_mean_abs_shift_cm-1": mean,
        "md_assigned": f"{md.get('assigned', 0)}/{md.get('of', 0)}",
        "model_added_cm-1": added,
        "every_band_within_40": None if mx is None else bool(mx <= GOAL_MAX),
        "mean_below_25": None if mean is None else bool(mean < GOAL_MEAN),
        "model_adds_at_most_10": None if added is None else bool(added <= GOAL_MODEL_ADDED),
    }


def run_study(out, settings: IRStudySettings | None = None, *, progress: bool = True,
              log=None, command: str = "") -> dict[str, Any]:  # fmt: skip
    """Every molecule of ``settings`` (see the module docstring), then the summary files in
    ``out``. Returns the summary (also ``out/ir_vs_experiment.json``)."""
    from rhoml.io.atomic import atomic_write

    s = settings or IRStudySettings()
    s.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = log or ((lambda m: print(m, flush=True)) if progress else (lambda m: None))
    results: dict[str, Any] = {}
    for name in s.molecules:
        try:
            results[name] = molecule_result(out, name, s, progress=progress, log=say)
        except (InputError, CalculationError) as exc:
            say(f"{name}: failed: {exc}")
            results[name] = {"name": name, "error": str(exc)}
    data = {
        "title": "IR spectra of new molecules against gas-phase experiment",
        "command": command,
        "settings": {
            "molecules": list(s.molecules),
            "experimental_dir": s.experimental_dir,
            "build": s.build.__dict__,
            "protocol": s.protocol.__dict__,
            "dft_reference": s.dft_reference,
            "smoothing_cm-1": s.smoothing,
            "max_shift_cm-1": s.max_shift,
        },  # fmt: skip
        "goals_cm-1": {"max": GOAL_MAX, "mean": GOAL_MEAN, "model_added": GOAL_MODEL_ADDED},
        "molecules": {
            n: {**r, "goals": _goals(r)} if "error" not in r else r for n, r in results.items()
        },  # fmt: skip
    }
    atomic_write(out / "ir_vs_experiment.json", json.dumps(data, indent=1, default=str) + "\n")
    atomic_write(out / "ir_vs_experiment.md", markdown(data))
    done = [n for n, r in results.items() if "error" not in r]
    if done:
        import matplotlib.pyplot as plt

        fig = figure({n: results[n] for n in done})
        fig.savefig(out / "ir_vs_experiment.png", dpi=110)
        plt.close(fig)
    return data


def _md_position(digest: dict) -> str:
    """What the MD column of ``digest`` holds: its ``md_band_position``, or for digests written
    before that key, whichever of the bands' centroids or maxima the assigned values are."""
    if "md_band_position" in digest:
        return digest["md_band_position"]
    used = {r["md_cm-1"] for r in digest.get("assignment", []) if r.get("md_cm-1") is not None}
    centroids = {b.get("centroid_cm-1") for b in digest.get("md_bands", [])}
    return "centroid" if used and used <= centroids else "maximum (before band centroids)"


def _cell(x, digits: int = 1) -> str:
    return "—" if x is None else f"{x:+.{digits}f}" if isinstance(x, float) else str(x)


def markdown(data: dict) -> str:
    """The summary as markdown: one goal row per molecule, then each molecule's assignment."""
    lines = [f"# {data['title']}", ""]
    if data.get("command"):
        lines += [f"Command: `{data['command']}`", ""]
    lines += ["Shift = computed − experiment (cm⁻¹). Goals: every assigned MD band within "
              f"{GOAL_MAX:g}, mean below {GOAL_MEAN:g}, model adding ≤ {GOAL_MODEL_ADDED:g} to "
              "the DFT harmonic error. Harmonic lines are broadened to the median MD band width "
              "(FWHM column) and picked as bands like MD, so every column offers bands of the "
              "same resolution. Model vs DFT: harmonic frequencies paired mode by mode in "
              "ascending order, modes above 500 cm⁻¹ (largest / mean \\|Δ\\|).", "",
              "| molecule | MD assigned | MD mean \\|shift\\| | MD max \\|shift\\| | model "
              "harm. mean | DFT harm. mean | model adds | goals (40 / 25 / 10) | harm. FWHM | "
              "model vs DFT harm. | force MAE (kcal/mol/Å) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in data["molecules"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} |||||||||| ")
            continue
        g, ss = r["goals"], r.get("shift_summary", {})
        checks = ("every_band_within_40", "mean_below_25", "model_adds_at_most_10")
        ok = " / ".join("—" if g[k] is None else ("yes" if g[k] else "no") for k in checks)
        mh = ss.get("model_harmonic", {}).get("mean_abs_shift_cm-1")
        dh = ss.get("DFT_harmonic", {}).get("mean_abs_shift_cm-1")
        fm = r.get("model", {}).get("force_mae_kcal_mol_angstrom")
        fw = r.get("harmonic_fwhm_cm-1")
        dev = r.get("model_vs_dft_harmonic") or {}
        vs = (f"{dev['max_abs_cm-1']} / {dev['mean_abs_cm-1']}" if dev.get("max_abs_cm-1")
              is not None else "—")  # fmt: skip
        lines.append(f"| {name} | {g['md_assigned']} | {g['md_mean_abs_shift_cm-1']} | "
                     f"{g['md_max_abs_shift_cm-1']} | {mh} | {dh} | "
                     f"{_cell(g['model_added_cm-1'])} | {ok} | {'—' if fw is None else fw} | "
                     f"{vs} | {'—' if fm is None else f'{fm:.2f}'} |")  # fmt: skip
    for name, r in data["molecules"].items():
        if "error" in r:
            continue
        lines += ["", f"## {name}", "", "| region | experiment | MD | shift | model harm. | "
                  "shift | DFT harm. | shift |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in r["assignment"]:
            cells = [row.get(f"{c}_cm-1") for c in ("md", "model_harmonic", "DFT_harmonic")]
            shifts = [row.get(f"{c}_shift_cm-1") for c in ("md", "model_harmonic",
                                                            "DFT_harmonic")]  # fmt: skip
            body = " | ".join(f"{'—' if v is None else v} | {_cell(d)}"
                              for v, d in zip(cells, shifts, strict=True))  # fmt: skip
            lines.append(f"| {row['region']} | {row['experiment_cm-1']} | {body} |")
        how = _md_position(r)
        lines += ["", f"MD positions: band {how}."]
        if "ir_settings" in r:
            p = r["ir_settings"]["protocol"]
            starts = (f"normal-mode starts, {p['settle_steps']} settling steps"
                      if p["sampling"] == "normal-modes"
                      else f"Langevin starts, {p['equilibration_steps']} steps")  # fmt: skip
            ps = p["nve_steps"] * p["dt_fs"] / 1000
            conf = "on" if p["conformers"] else "off"
            lines += [f"MD protocol: {p['trajectories']} NVE x {ps:g} ps, {starts}, "
                      f"conformers {conf}, Verlet correction "
                      f"{'on' if p.get('timestep_correction') else 'off'}; harmonic "
                      "analyses at the same conformers, weighted like them."]  # fmt: skip
        else:
            lines += ["MD protocol: an earlier default (see its protocol.json; no Verlet "
                      "correction); harmonic analyses at one minimum."]  # fmt: skip
        lines += ["", f"![{name}]({name}/ir/ir.png)"]
    return "\n".join(lines) + "\n"


def figure(molecules: dict[str, dict]):
    """Shift of every assigned band (computed − experiment, cm⁻¹) against the experimental
    position, per molecule (name → digest with its ``assignment``): MD, model harmonic and DFT
    harmonic, with the ±40 cm⁻¹ goal band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(molecules)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = molecules[name]["assignment"]
        for col, mark, label in (("md", "o", "MD"), ("model_harmonic", "s", "model harmonic"),
                                 ("DFT_harmonic", "^", "DFT harmonic")):  # fmt: skip
            pts = [(r["experiment_cm-1"], r[f"{col}_shift_cm-1"]) for r in rows
                   if r.get(f"{col}_shift_cm-1") is not None]  # fmt: skip
            if pts:
                x, y = zip(*pts, strict=True)
                ax.plot(x, y, mark, label=label, alpha=0.8)
        ax.axhspan(-GOAL_MAX, GOAL_MAX, color="0.9", zorder=0)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlim(4000, 400)
        ax.set_title(name)
        ax.set_xlabel("experimental band (cm⁻¹)")
        ax.set_ylabel("computed − experiment (cm⁻¹)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
