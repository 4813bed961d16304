"""DenSNet ethanol: MD speed vs one PySCF DFT gradient, harmonic and MD IR vs the DFT harmonic
reference (benchmarks/results/densnet_harmonic_dft.json, same level of theory).

    OMP_NUM_THREADS=1 python benchmarks/densnet_md_ir.py ethanol   # a run folder or shipped run

``--speed-only`` runs only the speed part (benchmarks/densnet_md_speed.py, results in
results/densnet_md_speed.*); ``--no-speed`` skips it here and quotes densnet_md_speed.json;
``--harmonic-only`` prints the harmonic table and its largest difference from the committed
results/densnet_md_ir.json (writes nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import densnet_md_speed  # noqa: E402
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.ase import RhomlCalculator  # noqa: E402
from rhoml.md.driver import MDSettings, run_md  # noqa: E402
from rhoml.md.ir import Spectrum, broaden, harmonic_ir, ir_from_dipoles, optimise, write_spectrum  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--trajectories", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--dt", type=float, default=0.5)
    ap.add_argument("--speed-only", action="store_true", help="only the speed benchmark")
    ap.add_argument("--no-speed", action="store_true", help="quote densnet_md_speed.json")
    ap.add_argument(
        "--harmonic-only",
        action="store_true",
        help="only the harmonic table, compared with the committed results",
    )
    densnet_md_speed.add_arguments(ap, "--speed-steps")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.speed_only:
        densnet_md_speed.run(args)
        return
    ref = json.loads((RESULTS / "densnet_harmonic_dft.json").read_text())
    model = runs.load(args.model).potential()
    mol0 = Molecule(ref["numbers"], ref["positions_angstrom"], id="ethanol-dft-min")

    # speed: MD steps/s (1 thread, fast evaluator, dipole every step) vs one PySCF
    # energy+gradient (1 thread, the label function), same machine; see densnet_md_speed.py
    if args.harmonic_only:
        harmonic_only(model, mol0, ref)
        return
    if args.no_speed:
        sp = json.loads((RESULTS / "densnet_md_speed.json").read_text())
        steps_per_s = sp["variants"]["fast float64"]["steps_per_s"]
        grad_s = sp["dft_gradient_s"]["seconds"]
        speed_src = "from densnet_md_speed.json"
    else:
        steps_per_s = densnet_md_speed.md_steps_per_s(
            RhomlCalculator(model), mol0, args.speed_steps, 3
        )["steps_per_s"]
        grad_s = densnet_md_speed.dft_gradient_s(mol0, 1)["seconds"]
        speed_src = "measured in this run"

    # harmonic IR of the model at its own minimum (started from the DFT minimum)
    mol_ml = optimise(model, mol0, fmax=1e-3)
    h_ml = harmonic_ir(model, mol_ml, step=0.005)
    f_dft = np.asarray(ref["frequencies_cm-1"])
    i_dft = np.asarray(ref["intensities_km_mol"])
    dfreq = h_ml.frequencies - f_dft

    # MD IR: NVE runs from the DFT minimum, velocities at 2T (equipartition → about T)
    dips = []
    temps = []
    for k in range(args.trajectories):
        s = MDSettings(steps=args.steps, dt_fs=args.dt, ensemble="nve", temperature=600.0, seed=k)
        a = run_md(RhomlCalculator(model), mol0, s, progress=False).arrays()
        dips.append(a["dipole"])
        temps.append(float(a["temperature"].mean()))
    spec = ir_from_dipoles(
        np.stack(dips), args.dt, temperature=float(np.mean(temps)), max_lag_fs=1000.0
    )
    grid = spec.wavenumber
    ref_spec = Spectrum(grid, broaden(f_dft, i_dft, grid))
    RESULTS.mkdir(exist_ok=True)
    write_spectrum(
        spec,
        RESULTS / "densnet_md_ir_spectrum.csv",
        RESULTS / "densnet_md_ir.png",
        title="ethanol: DenSNet NVE MD vs PySCF PBE/def2-SVP harmonic",
        reference=ref_spec,
    )
    md_peaks = spec.peaks(n=15, lo=200.0)
    strong = [(f, i) for f, i in zip(f_dft, i_dft, strict=True) if i >= 5.0]
    match = []
    for f, i in strong:
        near = min(md_peaks, key=lambda p: abs(p[0] - f)) if md_peaks else (np.nan, np.nan)
        match.append(
            {
                "dft_harmonic_cm-1": float(f),
                "dft_km_mol": float(i),
                "md_peak_cm-1": float(near[0]),
                "delta_cm-1": float(near[0] - f),
            }
        )
    data = {
        "title": "DenSNet ethanol: MD speed and IR vs DFT harmonic reference",
        "machine": machine(),
        "model": args.model,
        "speed_source": speed_src,
        "md_steps_per_s_1thread": steps_per_s,
        "dft_gradient_s_1thread": grad_s,
        "speedup_md_step_vs_dft_gradient": steps_per_s * grad_s,
        "ml_harmonic_cm-1": h_ml.frequencies.tolist(),
        "ml_harmonic_km_mol": h_ml.intensities.tolist(),
        "dft_harmonic_cm-1": f_dft.tolist(),
        "dft_harmonic_km_mol": i_dft.tolist(),
        "harmonic_freq_mae_cm-1": float(np.mean(np.abs(dfreq))),
        "harmonic_freq_median_abs_cm-1": float(np.median(np.abs(dfreq))),
        "md": {
            "trajectories": args.trajectories,
            "steps": args.steps,
            "dt_fs": args.dt,
            "mean_temperature_K": float(np.mean(temps)),
            "peaks": md_peaks,
            "strong_dft_lines_vs_md_peaks": match,
        },
    }
    rows = "\n".join(
        f"| {a:.0f} | {b:.1f} | {c:.0f} | {c - a:+.0f} |"
        for a, b, c in zip(f_dft, i_dft, h_ml.frequencies, strict=True)
    )
    mrows = "\n".join(
        f"| {m['dft_harmonic_cm-1']:.0f} | {m['dft_km_mol']:.1f} | "
        f"{m['md_peak_cm-1']:.0f} | {m['delta_cm-1']:+.0f} |"
        for m in match
    )
    table = (
        f"MD speed (1 thread, fast evaluator, dipole every step; {speed_src}): "
        f"{steps_per_s:.1f} steps/s; one PySCF PBE/def2-SVP energy+gradient: {grad_s:.1f} s → "
        f"**{steps_per_s * grad_s:.0f}× faster per step** (goal ≥ 1000×; all variants and the "
        "load in [densnet_md_speed.md](densnet_md_speed.md)).\n\n"
        f"Harmonic frequencies, model minimum vs DFT minimum: MAE "
        f"{data['harmonic_freq_mae_cm-1']:.0f} cm⁻¹, median |Δ| "
        f"{data['harmonic_freq_median_abs_cm-1']:.0f} cm⁻¹.\n\n"
        "| DFT harmonic (cm⁻¹) | DFT intensity (km/mol) | DenSNet harmonic (cm⁻¹) | Δ |\n"
        f"|---|---|---|---|\n{rows}\n\n"
        f"NVE MD IR ({args.trajectories} × {args.steps} steps of {args.dt} fs, mean T "
        f"{np.mean(temps):.0f} K; dipole-derivative ACF, Hann window, 1 ps, harmonic QCF); "
        "nearest MD peak to each DFT harmonic line ≥ 5 km/mol (anharmonic MD peaks are expected "
        "below harmonic ones):\n\n"
        "| DFT harmonic (cm⁻¹) | km/mol | MD peak (cm⁻¹) | Δ |\n|---|---|---|---|\n"
        + mrows
        + "\n\n![spectrum](densnet_md_ir.png)"
    )
    write_results("densnet_md_ir", data, table)


def harmonic_only(model, mol0, ref) -> None:
    """Harmonic frequencies and intensities of ``model`` at its own minimum, printed next to
    the DFT reference and compared with the committed results/densnet_md_ir.json."""
    mol_ml = optimise(model, mol0, fmax=1e-3)
    h = harmonic_ir(model, mol_ml, step=0.005)
    f_dft = np.asarray(ref["frequencies_cm-1"])
    d = h.frequencies - f_dft
    print(f"harmonic frequencies vs DFT: MAE {np.mean(np.abs(d)):.2f} cm-1, "
          f"median |d| {np.median(np.abs(d)):.2f} cm-1")  # fmt: skip
    for a, b, c in zip(f_dft, h.frequencies, h.intensities, strict=True):
        print(f"  DFT {a:7.1f}  model {b:9.4f} cm-1  {c:9.4f} km/mol  {b - a:+7.1f}")
    old = json.loads((RESULTS / "densnet_md_ir.json").read_text())
    df = np.abs(h.frequencies - np.asarray(old["ml_harmonic_cm-1"])).max()
    di = np.abs(h.intensities / np.asarray(old["ml_harmonic_km_mol"]) - 1).max()
    print(
        f"largest difference from the committed table: {df:.2e} cm-1, intensities {di:.2e} relative"
    )


if __name__ == "__main__":
    main()
