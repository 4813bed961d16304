"""DenSNet beyond ethanol: ethanethiol and resorcinol, from sampling to IR peak positions.

Per system (resumable; every stage reuses what exists): GFN2-xTB Langevin sampling (500 K, a
train and a test file), PySCF PBE/def2-SVP labels into the config's store, training from
configs/densnet_<system>.toml, test metrics (energy, force, dipole MAE; density NMAE vs DFT on
Becke grids), then IR from the model: its harmonic frequencies at its own minimum and NVE MD
(dipole-derivative ACF) started there (trajectories cached next to the model), both compared
with the DFT harmonic reference of benchmarks/densnet_harmonic_reference.py (run that first;
without it the comparison of a system is skipped and said so).

    OMP_NUM_THREADS=1 python benchmarks/densnet_systems.py ethanethiol:20:4 --steps 3000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402
from densnet_ethanol import density_errors  # noqa: E402
from densnet_harmonic_reference import load_reference  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.families.densnet import read_config  # noqa: E402
from rhoml.families.densnet_train import evaluate  # noqa: E402
from rhoml.md.sampling import SampleSettings, sample_frames  # noqa: E402
from rhoml.represent.coefficients import load_frames  # noqa: E402
from rhoml.store.labels import LabelSettings, run_labels  # noqa: E402
from rhoml.store.sqlite_store import Store  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def prepare(name: str, n_train: int, n_test: int, args) -> tuple[str, dict]:
    """Sample + label; returns the label store and label timing."""
    store = read_config(CONFIGS / f"densnet_{name}.toml")["data"].store
    work = Path(store).with_suffix("")
    for split, k, seed in (("train", n_train, args.seed), ("test", n_test, args.seed + 1)):
        s = SampleSettings(
            frames=k, interval=args.interval, temperature=args.temperature, seed=seed, split=split
        )
        frames = sample_frames(name, s, work / f"{split}.xyz", progress=False)
        t = time.perf_counter()
        c = run_labels(store, frames, progress=False)
        print(f"{name} {split}: {c} in {time.perf_counter() - t:.0f} s", flush=True)
    with Store.open(store, readonly=True) as st:
        sec = [p["seconds"] for p in st.record_properties(LabelSettings().method).values()]
    return store, {"frames": len(sec), "median_s": float(np.median(sec))}


def model_ir(potential, name: str, cache: Path, args) -> dict:
    """IR of the model alone: harmonic at its own minimum (relaxed from the GFN2-xTB minimum) and
    NVE MD from that minimum (trajectories cached in ``cache``, reused when present)."""
    from rhoml.ase import RhomlCalculator
    from rhoml.md.driver import MDSettings, load_trajectory, run_md
    from rhoml.md.ir import harmonic_ir, ir_from_dipoles, optimise
    from rhoml.md.sampling import build_molecule, preoptimise

    mol0 = optimise(potential, preoptimise(build_molecule(name)), fmax=1e-3)
    h_ml = harmonic_ir(potential, mol0, step=0.005)
    dips, temps = [], []
    t = time.perf_counter()
    for k in range(args.trajectories):
        path = cache / f"{name}_nve_{k}_{args.steps}.npz"
        if not path.exists():
            s = MDSettings(steps=args.steps, dt_fs=0.5, ensemble="nve", temperature=600.0, seed=k)
            run_md(RhomlCalculator(potential), mol0, s, progress=False).save(path, {"seed": k})
        a = load_trajectory(path)
        dips.append(a["dipole"])
        temps.append(float(a["temperature"].mean()))
    md_s = time.perf_counter() - t
    spec = ir_from_dipoles(
        np.stack(dips), 0.5, temperature=float(np.mean(temps)), max_lag_fs=1000.0
    )
    return {
        "harmonic_cm-1": h_ml.frequencies.tolist(),
        "harmonic_km_mol": h_ml.intensities.tolist(),
        "md": {
            "trajectories": args.trajectories,
            "steps": args.steps,
            "dt_fs": 0.5,
            "seconds_this_run": md_s,
            "mean_temperature_K": float(np.mean(temps)),
            "peaks": spec.peaks(n=15, lo=200.0),
        },
    }


def compare(ir: dict, ref: dict, min_intensity: float) -> dict:
    """Model harmonic lines (same ascending mode order) and nearest MD peak for every DFT
    harmonic line of at least ``min_intensity`` km/mol."""
    f_dft = np.asarray(ref["frequencies_cm-1"])
    i_dft = np.asarray(ref["intensities_km_mol"])
    f_ml = np.asarray(ir["harmonic_cm-1"])
    peaks = ir["md"]["peaks"]
    match = []
    for k, (f, i) in enumerate(zip(f_dft, i_dft, strict=True)):
        if i < min_intensity:
            continue
        near = min(peaks, key=lambda p: abs(p[0] - f)) if peaks else (np.nan, np.nan)
        match.append(
            {
                "dft_harmonic_cm-1": float(f),
                "dft_km_mol": float(i),
                "model_harmonic_cm-1": float(f_ml[k]),
                "md_peak_cm-1": float(near[0]),
            }
        )
    d = f_ml - f_dft
    md = np.array([m["md_peak_cm-1"] - m["dft_harmonic_cm-1"] for m in match])
    return {
        "harmonic_freq_mae_cm-1": float(np.mean(np.abs(d))),
        "harmonic_freq_median_abs_cm-1": float(np.median(np.abs(d))),
        "md_peak_vs_strong_line_mae_cm-1": float(np.mean(np.abs(md))) if len(md) else None,
        "strong_lines": match,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("systems", nargs="+", help="NAME:TRAIN:TEST, e.g. ethanethiol:40:8")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=500.0, help="sampling bath, K")
    ap.add_argument("--interval", type=int, default=40, help="MD steps (0.5 fs) between frames")
    ap.add_argument("--trajectories", type=int, default=2, help="NVE runs for the MD IR")
    ap.add_argument("--steps", type=int, default=4000, help="steps per NVE run (0.5 fs)")
    ap.add_argument("--min-intensity", type=float, default=5.0, help="km/mol for strong lines")
    ap.add_argument("--skip-ir", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    out = {"title": "DenSNet on ethanethiol and resorcinol (CPU scale)", "machine": machine()}
    out["seed"] = args.seed
    out["sampling"] = {"temperature_K": args.temperature, "interval_steps": args.interval}
    out["systems"] = {}
    lines = []
    for spec in args.systems:
        name, n_train, n_test = spec.split(":")
        store, lab = prepare(name, int(n_train), int(n_test), args)
        run_dir = Path(store).parent / f"{name}_delta"
        run = runs.train(CONFIGS / f"densnet_{name}.toml", run_dir)  # finished: just loads
        summary = run.manifest["metrics"]
        model = run.model.module
        frames = load_frames(store, model.basis, progress=False)
        test = [f for f in frames if f.split == "test"]
        res = {
            "labels": lab,
            "n_train": summary["n_train"],
            "n_test": len(test),
            "train_seconds": summary["density_seconds"] + summary["energy_seconds"],
            "test": evaluate(model, test),
            "nmae": density_errors(model, test, store, None),
        }
        res["ir"] = None if args.skip_ir else model_ir(run.potential(), name, run_dir, args)
        ref = load_reference(name)
        if ref is None or res["ir"] is None:
            print(f"{name}: no DFT harmonic reference (or --skip-ir): IR comparison skipped")
        else:
            res["ir"].update(compare(res["ir"], ref, args.min_intensity))
        out["systems"][name] = res
        t, n = res["test"], res["nmae"]
        lines += [
            f"## {name}\n",
            f"Train frames {res['n_train']}, test frames {res['n_test']}; DFT label median "
            f"{lab['median_s']:.0f} s/frame (1 thread, shared machine); training "
            f"{res['train_seconds'] / 60:.1f} min.\n",
            "| quantity | value |\n|---|---|",
            f"| NMAE model vs DFT | {n['model_vs_dft']['mean_percent']:.2f} % |",
            f"| NMAE model vs fit | {n['model_vs_fit']['mean_percent']:.2f} % |",
            f"| NMAE fit vs DFT (floor) | {n['fit_vs_dft']['mean_percent']:.2f} % |",
            f"| NMAE prior alone vs DFT | {n['prior_vs_dft']['mean_percent']:.2f} % |",
            f"| energy MAE | {t['energy_mae_kcal_mol']:.2f} kcal/mol |",
            f"| force MAE | {t['force_mae_kcal_mol_angstrom']:.2f} kcal/mol/Å |",
            f"| dipole MAE (per component) | {t['dipole_mae_debye']:.3f} D |\n",
        ]
        if res["ir"] and "strong_lines" in res["ir"]:
            ir = res["ir"]
            lines += [
                f"Harmonic frequencies, model minimum vs DFT minimum: MAE "
                f"{ir['harmonic_freq_mae_cm-1']:.0f} cm⁻¹, median |Δ| "
                f"{ir['harmonic_freq_median_abs_cm-1']:.0f} cm⁻¹. NVE MD: "
                f"{ir['md']['trajectories']} × {ir['md']['steps']} steps of 0.5 fs, mean T "
                f"{ir['md']['mean_temperature_K']:.0f} K; nearest MD peak to each DFT line ≥ "
                f"{args.min_intensity:g} km/mol:\n",
                "| DFT harmonic (cm⁻¹) | km/mol | model harmonic | Δ | MD peak | Δ |",
                "|---|---|---|---|---|---|",
            ]
            for m in ir["strong_lines"]:
                f = m["dft_harmonic_cm-1"]
                lines.append(
                    f"| {f:.0f} | {m['dft_km_mol']:.1f} | {m['model_harmonic_cm-1']:.0f} | "
                    f"{m['model_harmonic_cm-1'] - f:+.0f} | {m['md_peak_cm-1']:.0f} | "
                    f"{m['md_peak_cm-1'] - f:+.0f} |"
                )
            lines.append("")
        elif res["ir"]:
            ir = res["ir"]
            strong = [
                f"{f:.0f} ({i:.0f})"
                for f, i in zip(ir["harmonic_cm-1"], ir["harmonic_km_mol"], strict=True)
                if i >= args.min_intensity
            ]
            peaks = ", ".join(f"{f:.0f}" for f, _ in ir["md"]["peaks"])
            lines += [
                "IR: no DFT harmonic reference for this system yet (not compared). Model "
                f"harmonic lines ≥ {args.min_intensity:g} km/mol, cm⁻¹ (km/mol): "
                f"{', '.join(strong)}. NVE MD ({ir['md']['trajectories']} × "
                f"{ir['md']['steps']} steps, mean T {ir['md']['mean_temperature_K']:.0f} K) "
                f"peaks, cm⁻¹: {peaks}.\n"
            ]
        else:
            lines.append("IR: skipped (--skip-ir).\n")
    RESULTS.mkdir(exist_ok=True)
    write_results("densnet_systems", out, "\n".join(lines))


if __name__ == "__main__":
    main()
