"""DenSNet MD in float32 vs float64: energy conservation, forces, spectra and speed, one run.

The shipped models are trained in float32; MD evaluates them in float64 unless told otherwise.
This benchmark runs the same NVE trajectories (same start, same Maxwell–Boltzmann velocities)
in both precisions and reports, per seed: the total-energy drift (least-squares slope, eV/ps)
and the largest total-energy error (eV); the force and energy differences of float32 against
float64 on frames of the float64 trajectory (kcal/mol/Å, kcal/mol); the intensity-weighted
centroids of the IR spectrum of each trajectory over fixed windows (cm⁻¹; the trajectories
diverge after a few hundred fs, as any two NVE runs do, so these differences are sampling noise,
compared with the spread between seeds); and MD steps/s. One torch thread.

    OMP_NUM_THREADS=1 python benchmarks/densnet_md_dtype.py [RUN] --seeds 3 --steps 8000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.ase import RhomlCalculator  # noqa: E402
from rhoml.md.bands import centroid  # noqa: E402
from rhoml.md.driver import MDSettings, nve_drift, run_md  # noqa: E402
from rhoml.md.ir import ir_from_dipoles  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402

WINDOWS = ((950.0, 1150.0), (1200.0, 1500.0), (2800.0, 3150.0), (3500.0, 3800.0))


def _frames_diff(p64, p32, numbers, positions, n: int) -> dict:
    """float32 − float64 forces (kcal/mol/Å) and energies (kcal/mol) at ``n`` frames."""
    ev64, ev32 = p64.evaluator(numbers), p32.evaluator(numbers)
    idx = np.linspace(0, len(positions) - 1, n).astype(int)
    df, de, fnorm = [], [], []
    for i in idx:
        a, b = ev64(positions[i]), ev32(positions[i])
        df.append(np.abs(b["forces"] - a["forces"]).max())
        fnorm.append(np.sqrt(np.mean(a["forces"] ** 2)))
        de.append(b["energy"] - a["energy"])
    de = np.asarray(de)
    return {"force_max_abs_diff": float(max(df)), "force_rms": float(np.mean(fnorm)),
            "energy_diff_mean": float(de.mean()), "energy_diff_std": float(de.std()),
            "frames": int(n)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="ethanol")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8000, help="NVE steps of 0.5 fs per run")
    ap.add_argument("--temperature", type=float, default=300.0)
    ap.add_argument("--frames", type=int, default=100, help="frames for force differences")
    ap.add_argument("--out", default="densnet_md_dtype")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    ref = json.loads((RESULTS / "densnet_harmonic_dft.json").read_text())
    mol = Molecule(ref["numbers"], ref["positions_angstrom"], id="ethanol-dft-min")
    run = runs.load(args.model)
    p64 = run.potential()
    p32 = p64.astype("float32")
    rows = []
    for seed in range(args.seeds):
        s = MDSettings(steps=args.steps, dt_fs=0.5, ensemble="nve",
                       temperature=args.temperature, seed=seed)  # fmt: skip
        row = {"seed": seed}
        for name, pot in (("float64", p64), ("float32", p32)):
            calc = RhomlCalculator(pot)
            run_md(calc, mol, MDSettings(steps=5, dt_fs=0.5), progress=False)  # build
            t = time.perf_counter()
            traj = run_md(calc, mol, s, progress=False).arrays()
            rate = args.steps / (time.perf_counter() - t)
            spec = ir_from_dipoles(traj["dipole"], 0.5, temperature=args.temperature,
                                   max_lag_fs=1000.0)  # fmt: skip
            row[name] = {
                "steps_per_s": rate,
                **nve_drift(traj["time_fs"], traj["total"]),
                "centroids": [centroid(spec.wavenumber, spec.intensity, lo, hi)
                              for lo, hi in WINDOWS],
            }  # fmt: skip
            if name == "float64":
                positions = traj["positions"]
        row["float32_vs_float64"] = _frames_diff(p64, p32, mol.numbers, positions, args.frames)
        rows.append(row)
        print(json.dumps(row), flush=True)

    def med(key, name):
        return statistics.median(abs(r[name][key]) for r in rows)

    table_rows = []
    for r in rows:
        for name in ("float64", "float32"):
            x = r[name]
            table_rows.append(
                f"| {r['seed']} | {name} | {x['drift_eV_per_ps']:.1e} | {x['max_error_eV']:.1e} | "
                + " / ".join(f"{c:.1f}" for c in x["centroids"])
                + f" | {x['steps_per_s']:.1f} |"
            )
    diffs = [r["float32_vs_float64"] for r in rows]
    cen = {name: np.array([r[name]["centroids"] for r in rows]) for name in ("float64", "float32")}
    pair = np.abs(cen["float32"] - cen["float64"])
    spread64 = cen["float64"].max(0) - cen["float64"].min(0)
    data = {
        "title": "DenSNet MD in float32 vs float64 (energy conservation, forces, spectra, speed)",
        "machine": machine(),
        "model": args.model,
        "molecule": "ethanol (PBE/def2-SVP minimum), 9 atoms",
        "md": f"NVE velocity Verlet, 0.5 fs, {args.steps} steps, Maxwell–Boltzmann start at "
        f"{args.temperature:g} K (seeded, the same for both precisions)",
        "windows_cm-1": WINDOWS,
        "rows": rows,
        "median_abs_drift_eV_per_ps": {
            n: med("drift_eV_per_ps", n) for n in ("float64", "float32")
        },
        "median_max_error_eV": {n: med("max_error_eV", n) for n in ("float64", "float32")},
        "median_steps_per_s": {n: med("steps_per_s", n) for n in ("float64", "float32")},
        "centroid_abs_diff_float32_vs_float64": pair.tolist(),
        "centroid_spread_float64_over_seeds": spread64.tolist(),
    }
    table = (
        f"Model `{args.model}`, ethanol at its PBE/def2-SVP minimum, NVE 0.5 fs × {args.steps} "
        f"steps ({args.steps / 2000:g} ps) from the same seeded Maxwell–Boltzmann start at "
        f"{args.temperature:g} K in both precisions; one torch thread.\n\n"
        "| seed | precision | drift (eV/ps) | max \\|ΔE\\| (eV) | window centroids (cm⁻¹): "
        + " / ".join(f"{lo:.0f}–{hi:.0f}" for lo, hi in WINDOWS)
        + " | MD steps/s |\n|---|---|---|---|---|---|\n"
        + "\n".join(table_rows)
        + "\n\n"
        f"Median \\|drift\\|: float64 {data['median_abs_drift_eV_per_ps']['float64']:.1e}, "
        f"float32 {data['median_abs_drift_eV_per_ps']['float32']:.1e} eV/ps; median largest "
        f"error {data['median_max_error_eV']['float64']:.1e} / "
        f"{data['median_max_error_eV']['float32']:.1e} eV. Median steps/s "
        f"{data['median_steps_per_s']['float64']:.1f} / {data['median_steps_per_s']['float32']:.1f}"
        f" (× {data['median_steps_per_s']['float32'] / data['median_steps_per_s']['float64']:.2f})."
        "\n\nfloat32 − float64 on frames of the float64 trajectories: largest force difference "
        + ", ".join(f"{d['force_max_abs_diff']:.1e}" for d in diffs)
        + f" kcal/mol/Å (force RMS {statistics.mean(d['force_rms'] for d in diffs):.1f}); "
        "energy difference mean ± std "
        + ", ".join(f"{d['energy_diff_mean']:+.1e} ± {d['energy_diff_std']:.1e}" for d in diffs)
        + " kcal/mol (a constant offset does not change the dynamics).\n\n"
        "Window centroids, \\|float32 − float64\\| per seed (same start; the trajectories "
        "decorrelate, so this is sampling noise): "
        + "; ".join(" / ".join(f"{v:.1f}" for v in row) for row in pair)
        + " cm⁻¹; spread of the float64 centroids over the seeds: "
        + " / ".join(f"{v:.1f}" for v in spread64)
        + " cm⁻¹."
    )
    write_results(args.out, data, table)


if __name__ == "__main__":
    main()
