"""DenSNet ethanol trained on rMD17 (issue 14, item 1): errors on the 1000 rMD17 test frames,
density NMAE on DFT test frames, and model vs DFT harmonic frequencies.

* energy and force MAE (kcal/mol, kcal/mol/Å) on every frame of ``rmd17_ethanol_test_01.npz``
  (PBE/def2-SVP labels of rMD17; the model's energy stage was trained on the rMD17 training
  file, so no offset is involved);
* density NMAE = ∫|ρ_model − ρ_DFT| dr / N_e (%) on PySCF Becke grids (level 3) for the test
  frames of the label store (DFT density matrices of ``rhoml densnet labels``), or, while none
  is labelled, for labelled training-split frames the density stage never saw; with the
  aux-basis fit as the floor;
* harmonic frequencies at the model minimum (BFGS from the DFT minimum, fmax 0.005 eV/Å;
  :func:`rhoml.md.ir.harmonic_ir`) vs the DFT harmonic frequencies of
  ``results/densnet_harmonic_dft.json`` (same geometry start, PBE/def2-SVP), mode by mode in
  ascending order; target: within 20 cm⁻¹ for every mode above 500 cm⁻¹;
* the per-epoch cost of the energy stage (median seconds of the run's energy checkpoints).

``--compare RUN`` adds the same rows for another run (e.g. the previously shipped model).
Writes benchmarks/results/densnet_ethanol_rmd17.{json,md} (``--name`` for another name); without
a label store the density rows are left out.

    OMP_NUM_THREADS=1 python benchmarks/densnet_ethanol_rmd17.py runs/densnet/ethanol_rmd17 \
        runs/densnet/ethanol.rhoml --rmd17-dir ../shared/data/rmd17 --compare OLD_RUN
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.families.densnet_train import energy_errors  # noqa: E402
from rhoml.md.ir import harmonic_ir, optimise  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402
from rhoml.represent.coefficients import energy_frames, load_frames  # noqa: E402
from rhoml.studies.densnet_build import density_nmae  # noqa: E402

HARMONIC_FLOOR = 500.0  # cm⁻¹: modes compared against the 20 cm⁻¹ target above this


def epoch_cost(run_path: Path) -> dict:
    """Median and total seconds per epoch of each stage (the loop's ``seconds`` column)."""
    out = {}
    for stage in ("density", "energy"):
        p = run_path / "checkpoints" / stage / "metrics.csv"
        if not p.is_file():
            continue
        rows = list(csv.DictReader(p.open()))
        secs = [float(r["seconds"]) for r in rows]
        out[stage] = {"epochs": len(rows), "median_seconds_per_epoch": float(np.median(secs)),
                      "total_seconds": float(np.sum(secs))}  # fmt: skip
        if "val_loss" in rows[0]:
            best = min(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
            out[stage]["best_epoch"] = best + 1
    return out


def harmonic(pot, dft: dict) -> dict:
    """Harmonic frequencies of the potential ``pot`` at its minimum vs the DFT ones (cm⁻¹)."""
    start = Molecule(dft["numbers"], dft["positions_angstrom"], id="dft-minimum")
    t = time.perf_counter()
    opt = optimise(pot, start, fmax=0.005, steps=500)
    h = harmonic_ir(pot, opt)
    seconds = time.perf_counter() - t
    ref = np.asarray(dft["frequencies_cm-1"])
    model = np.asarray(h.frequencies)
    d = model - ref
    above = ref > HARMONIC_FLOOR
    rmsd = float(np.sqrt(np.mean((opt.positions - start.positions) ** 2)))
    return {"model_cm-1": model.tolist(), "dft_cm-1": ref.tolist(), "difference_cm-1": d.tolist(),
            "max_abs_above_500_cm-1": float(np.max(np.abs(d[above]))),
            "mean_abs_above_500_cm-1": float(np.mean(np.abs(d[above]))),
            "within_20_above_500": int(np.sum(np.abs(d[above]) <= 20.0)),
            "n_above_500": int(above.sum()), "model_intensities_km_mol": h.intensities.tolist(),
            "geometry_rmsd_from_dft_minimum_angstrom": rmsd, "seconds": seconds}  # fmt: skip


def density_frames(module, store, limit: int | None, pool: int | None) -> tuple[list, str]:
    """DFT frames for the density NMAE: the store's test frames; when none is labelled yet, the
    labelled training-split frames after the first ``n_train`` (never seen by the density
    stage, which trains on the first ``n_train``). ``pool``: load only the first N labelled."""
    dens = load_frames(store, module.basis, progress=False, limit=pool)
    test = [f for f in dens if f.split == "test"]
    if test:
        return test[:limit], "store test frames (rMD17 test split)"
    n_seen = int(module.meta.get("n_train") or 0)
    held = [f for f in dens if f.split == "train"][n_seen:]
    return held[:limit], f"rMD17 train-split frames {n_seen}+ (held out of the density stage)"


def evaluate_run(spec: str, test_frames, store, dframes) -> dict:
    run = runs.load(spec)
    module = run.model.module
    t = time.perf_counter()
    e = energy_errors(module, test_frames)
    e["seconds"] = time.perf_counter() - t
    nm = density_nmae(module, store, dframes) if dframes else {}
    nm.pop("per_frame_percent", None)
    dft = json.loads((RESULTS / "densnet_harmonic_dft.json").read_text())
    meta = module.meta
    return {"run": str(spec), "n_train_density": meta.get("n_train"),
            "energy_labels": meta.get("energy_labels"), "rmd17_test": e, "density_nmae": nm,
            "harmonic": harmonic(run.potential(), dft),
            "manifest_metrics": run.manifest.get("metrics"),
            "epoch_cost": epoch_cost(Path(run.path))}  # fmt: skip


def _rows(name: str, r: dict) -> list[str]:
    e, n, h = r["rmd17_test"], r["density_nmae"], r["harmonic"]
    rows = [
        f"| [{name}] energy MAE (offset removed), {e['n']} rMD17 test frames | "
        f"{e['energy_mae_kcal_mol']:.3f} ({e['energy_mae_offset_removed_kcal_mol']:.3f}) "
        "kcal/mol |",
        f"| [{name}] force MAE, {e['n']} rMD17 test frames | "
        f"{e['force_mae_kcal_mol_angstrom']:.3f} kcal/mol/Å |",
    ]
    if n:
        rows.append(f"| [{name}] density NMAE vs DFT, {n['n']} test frames (mean / median; fit "
                    f"floor) | {n['mean_percent']:.3f} / {n['median_percent']:.3f} % "
                    f"({n['fit_floor_percent']:.3f} %) |")  # fmt: skip
    rows.append(f"| [{name}] harmonic, modes > 500 cm⁻¹ within 20 cm⁻¹ of DFT | "
                f"{h['within_20_above_500']} / {h['n_above_500']} (max \\|Δ\\| "
                f"{h['max_abs_above_500_cm-1']:.1f}, mean {h['mean_abs_above_500_cm-1']:.1f} "
                "cm⁻¹) |")  # fmt: skip
    c = r["epoch_cost"].get("energy")
    if c:
        best = c.get("best_epoch", "-")
        rows.append(f"| [{name}] energy stage: epochs (best), median s/epoch | {c['epochs']} "
                    f"({best}), {c['median_seconds_per_epoch']:.0f} s |")  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="run folder (or shipped name) of the model")
    ap.add_argument(
        "store",
        nargs="?",
        default=None,
        help="label store with the DFT test densities (none: no density rows)",
    )
    ap.add_argument("--name", default="densnet_ethanol_rmd17", help="results file name")
    ap.add_argument("--rmd17-dir", default=str(Path(__file__).resolve().parents[2] / "shared"
                                               / "data" / "rmd17"))  # fmt: skip
    ap.add_argument("--compare", default=None, help="another run for the same rows")
    ap.add_argument("--limit", type=int, default=None, help="rMD17 test frames (default all)")
    ap.add_argument("--nmae-limit", type=int, default=None, help="DFT frames for NMAE")
    ap.add_argument("--store-limit", type=int, default=None,
                    help="load only the first N labelled frames of the store")  # fmt: skip
    args = ap.parse_args()
    test = energy_frames(Path(args.rmd17_dir) / "rmd17_ethanol_test_01.npz", "test")
    test = test[: args.limit]
    dframes, dset = [], "none (no label store given)"
    if args.store:
        dframes, dset = density_frames(runs.load(args.run).model.module, args.store,
                                       args.nmae_limit, args.store_limit)  # fmt: skip
    out = {"title": "DenSNet ethanol on rMD17: test errors, density NMAE, harmonic vs DFT",
           "machine": machine(), "density_frames": dset,
           "model": evaluate_run(args.run, test, args.store, dframes)}  # fmt: skip
    if args.compare:
        out["compare"] = evaluate_run(args.compare, test, args.store, dframes)
    lines = [f"Density NMAE frames: {dset}.\n", "| quantity | value |", "|---|---|",
             *_rows("model", out["model"])]  # fmt: skip
    if args.compare:
        lines += _rows("compare", out["compare"])
    h = out["model"]["harmonic"]
    lines += ["", "| DFT harmonic (cm⁻¹) | model (cm⁻¹) | Δ (cm⁻¹) |", "|---|---|---|"]
    lines += [f"| {a:.1f} | {b:.1f} | {b - a:+.1f} |"
              for a, b in zip(h["dft_cm-1"], h["model_cm-1"], strict=True)]  # fmt: skip
    lines += ["", f"model: `{out['model']['run']}`"
              + (f"; compare: `{out['compare']['run']}`" if args.compare else "")]  # fmt: skip
    write_results(args.name, out, "\n".join(lines))


if __name__ == "__main__":
    main()
