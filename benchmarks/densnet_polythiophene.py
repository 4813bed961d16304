"""DenSNet on polythiophene oligomers: train on 1–3-mers, test on longer chains (extrapolation).

One resumable command does everything: GFN2-xTB Langevin sampling of each oligomer
(:func:`rhoml.md.sampling.sample_frames`), PySCF labels at the DenSNet level (PBE/def2-SVP,
RI-J) into the config's store, training from the config, and per-length evaluation:
density NMAE (∫|Δρ|/N_e on Becke grids, level 3) of the model vs DFT, vs its fitted target,
and of the promolecule prior alone vs DFT; energy error per atom; force MAE. Lengths in the
training set are reported too (in-sample, marked ``train``). Frames are counted per length as
``N:COUNT`` lists; the train/test split is by length (``--train`` / ``--test``), whatever the
``_train`` / ``_test`` in the frame ids (an existing ``thiophene-N_*.xyz`` file is reused for its
length, so labelled frames are never recomputed when a length changes role).

    OMP_NUM_THREADS=1 python benchmarks/densnet_polythiophene.py \
        configs/densnet_polythiophene.toml --train 1:16,2:10,3:6 --test 4:2,5:1,6:1 --seed 0

On a GPU machine scale up by raising the counts (and the epochs in the config); everything
already sampled, labelled or trained is reused (delete the model file to retrain).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402
from densnet_ethanol import density_errors  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.families.densnet import read_config, train_run  # noqa: E402
from rhoml.families.densnet_train import evaluate, make_basis  # noqa: E402
from rhoml.md.sampling import SampleSettings, sample_frames  # noqa: E402
from rhoml.represent.coefficients import load_frames, store_elements  # noqa: E402
from rhoml.store.labels import LabelSettings, run_labels  # noqa: E402
from rhoml.store.sqlite_store import Store  # noqa: E402
from rhoml.train.run_folder import RunFolder  # noqa: E402


def counts(text: str) -> dict[int, int]:
    """'1:16,2:10' → {1: 16, 2: 10} ('' → {})."""
    out: dict[int, int] = {}
    for part in filter(None, text.split(",")):
        n, k = part.split(":")
        out[int(n)] = int(k)
    return out


def length_of(frame_id: str) -> int:
    return int(frame_id.split("_")[0].split("-")[1])


def sample_and_label(cfg: dict, plan: dict[str, dict[int, int]], args) -> dict:
    """Sample and label every (split, length); returns label seconds per length."""
    work = Path(cfg["data"].store).parent
    base = SampleSettings(
        interval=args.interval, temperature=args.temperature, equilibration=args.equilibration
    )
    for split, per_n in plan.items():
        for n, k in sorted(per_n.items()):
            found = sorted(work.glob(f"thiophene-{n}_*.xyz"))
            path = found[0] if found else work / f"thiophene-{n}_{split}.xyz"
            split = path.stem.split("_")[-1]
            s = replace(base, frames=k, seed=args.seed + 100 * n + (split == "test"), split=split)
            frames = sample_frames(f"thiophene-{n}", s, path, progress=False)
            t = time.perf_counter()
            c = run_labels(cfg["data"].store, frames, progress=False)
            print(f"thiophene-{n} {split}: {c} in {time.perf_counter() - t:.0f} s", flush=True)
    seconds: dict[int, list[float]] = {}
    method = LabelSettings().method
    with Store.open(cfg["data"].store, readonly=True) as st:
        for idx, p in st.record_properties(method).items():
            seconds.setdefault(length_of(st.molecule(idx).id), []).append(p["seconds"])
    return {n: {"n": len(v), "median_s": float(np.median(v))} for n, v in sorted(seconds.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--train", type=counts, default=counts("1:16,2:10,3:6"))
    ap.add_argument("--test", type=counts, default=counts("4:2,5:1,6:1"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=500.0, help="sampling bath, K")
    ap.add_argument("--interval", type=int, default=40, help="MD steps (0.5 fs) between frames")
    ap.add_argument("--equilibration", type=int, default=200)
    ap.add_argument("--nmae-limit", type=int, default=None, help="frames per length for NMAE")
    ap.add_argument("--labels-only", action="store_true", help="sample and label, then stop")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    cfg = read_config(args.config)
    label_s = sample_and_label(cfg, {"train": args.train, "test": args.test}, args)
    print(json.dumps({"label_seconds": label_s}), flush=True)
    if args.labels_only:
        return

    def by_length(frames):
        """Frames of the requested lengths, split by length."""
        out = [f for f in frames if length_of(f.molecule.id) in {**args.train, **args.test}]
        for f in out:
            f.split = "test" if length_of(f.molecule.id) in args.test else "train"
        return out

    store = cfg["data"].store
    _, resolved = runs.load_training_config(args.config)
    run = RunFolder.create(Path(store).parent.parent / "polythiophene_delta", resolved)
    if not run.finished:  # trains on the requested lengths only (resumes from checkpoints)
        basis = make_basis(cfg["basis"], store_elements(store))
        train_run(cfg, run, frames=by_length(load_frames(store, basis)))
    loaded = runs.load(run.path)
    model, summary = loaded.model.module, {**loaded.manifest["metrics"], "config": resolved}
    frames = by_length(load_frames(store, model.basis, progress=False))
    rows = []
    for n in sorted({length_of(f.molecule.id) for f in frames}):
        group = [f for f in frames if length_of(f.molecule.id) == n]
        split = group[0].split
        t = evaluate(model, group)
        d = density_errors(model, group, store, args.nmae_limit)
        n_atoms = group[0].molecule.n_atoms
        rows.append(
            {
                "monomers": n,
                "atoms": n_atoms,
                "split": split,
                "frames": len(group),
                "label_seconds_median": label_s[n]["median_s"],
                "nmae_model_vs_dft_percent": d["model_vs_dft"]["mean_percent"],
                "nmae_model_vs_fit_percent": d["model_vs_fit"]["mean_percent"],
                "nmae_fit_vs_dft_percent": d["fit_vs_dft"]["mean_percent"],
                "nmae_prior_vs_dft_percent": d["prior_vs_dft"]["mean_percent"],
                "energy_mae_per_atom_kcal_mol": t["energy_mae_kcal_mol"] / n_atoms,
                "energy_mae_kcal_mol": t["energy_mae_kcal_mol"],
                "force_mae_kcal_mol_angstrom": t["force_mae_kcal_mol_angstrom"],
                "dipole_mae_debye": t["dipole_mae_debye"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    data = {
        "title": f"DenSNet polythiophene: train on {sorted(args.train)}-mers, test on "
        f"{sorted(args.test)}-mers (CPU scale)",
        "machine": machine(),
        "seed": args.seed,
        "scale": {
            "train_frames": args.train,
            "test_frames": args.test,
            "sampling": {
                "engine": "GFN2-xTB (tblite) Langevin",
                "temperature_K": args.temperature,
                "interval_steps": args.interval,
                "dt_fs": 0.5,
                "equilibration_steps": args.equilibration,
            },
            "density_epochs": cfg["train"].density_epochs,
            "energy_epochs": cfg["train"].energy_epochs,
        },
        "level": LabelSettings().method,
        "config": summary["config"],
        "train_seconds": {
            "density": summary["density_seconds"],
            "energy": summary["energy_seconds"],
        },
        "rows": rows,
    }
    plot(rows, RESULTS / "densnet_polythiophene.png")
    head = (
        "| monomers | atoms | split | frames | DFT label s | NMAE model vs DFT % | vs fit % | "
        "fit floor % | prior % | energy MAE kcal/mol/atom | force MAE kcal/mol/Å | dipole MAE D |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "\n".join(
        f"| {r['monomers']} | {r['atoms']} | {r['split']} | {r['frames']} | "
        f"{r['label_seconds_median']:.0f} | {r['nmae_model_vs_dft_percent']:.2f} | "
        f"{r['nmae_model_vs_fit_percent']:.2f} | {r['nmae_fit_vs_dft_percent']:.2f} | "
        f"{r['nmae_prior_vs_dft_percent']:.2f} | {r['energy_mae_per_atom_kcal_mol']:.3f} | "
        f"{r['force_mae_kcal_mol_angstrom']:.2f} | {r['dipole_mae_debye']:.3f} |"
        for r in rows
    )
    used = {r["monomers"]: r["frames"] for r in rows}
    note = (
        f"Frames requested per length: train {args.train}, test {args.test}; used (every "
        f"labelled frame of those lengths in the store): {used} (seed {args.seed}); "
        f"GFN2-xTB Langevin sampling at {args.temperature:.0f} K every {args.interval} steps of "
        f"0.5 fs; labels {LabelSettings().method} (1 thread, median seconds per frame in the "
        "table, on a shared loaded 2-core machine). `train` rows are in-sample.\n\n"
    )
    write_results(
        "densnet_polythiophene",
        data,
        note + head + body + "\n\n![extrapolation](densnet_polythiophene.png)",
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["monomers"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    ax[0].plot(n, [r["nmae_model_vs_dft_percent"] for r in rows], "o-", label="model vs DFT")
    ax[0].plot(n, [r["nmae_fit_vs_dft_percent"] for r in rows], "s--", label="fit floor")
    ax[0].plot(n, [r["nmae_prior_vs_dft_percent"] for r in rows], "^:", label="prior alone")
    ax[0].set_ylabel("density NMAE (%)")
    ax[0].legend()
    ax[1].plot(n, [r["energy_mae_per_atom_kcal_mol"] for r in rows], "o-")
    ax[1].set_ylabel("energy MAE (kcal/mol/atom)")
    ax[2].plot(n, [r["force_mae_kcal_mol_angstrom"] for r in rows], "o-")
    ax[2].set_ylabel("force MAE (kcal/mol/Å)")
    last_train = max([r["monomers"] for r in rows if r["split"] == "train"], default=0)
    for a in ax:
        a.axvspan(0.5, last_train + 0.5, color="0.9", zorder=0)
        a.set_xlabel("thiophene monomers (shaded: training lengths)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
