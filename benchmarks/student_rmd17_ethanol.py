"""rMD17 ethanol with a geometry student at CPU scale, against the EDG paper's SchNet numbers.

Reads a run folder of ``rhoml train configs/student_ethanol_schnet.toml`` (950 training frames,
50 validation frames, the 1,000 test frames; energies in kcal/mol, forces in kcal/mol/Å) and
reports the test MAEs at the best validation force MAE, with the reference numbers of Xiang et
al. ("Electron density-enhanced molecular geometry learning", IJCAI 2025): SchNet 0.125
kcal/mol / 0.385 kcal/mol/Å, EDG-SchNet 0.061 / 0.379 (1000 epochs at batch 1 on a GPU).

A finished run is read from its manifest. For a run still training, the best checkpoint so far
is evaluated on the test frames (marked as interim with its epoch).

Run: python benchmarks/student_rmd17_ethanol.py runs/eth-schnet-950 [--name NAME]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

PAPER = {"SchNet (EDG paper)": (0.125, 0.385), "EDG-SchNet (EDG paper)": (0.061, 0.379)}


def _interim_test(run_path: Path, config: dict) -> tuple[dict, int]:
    """Test MAEs of ``checkpoints/best.pt`` of an unfinished run, and its epoch."""
    import torch

    from rhoml.config import load_config
    from rhoml.families import student as fam
    from rhoml.train.loop import predict

    family = fam.StudentFamily()
    sections = load_config({k: v for k, v in config.items() if k != "family"}, family.sections,
                           str(run_path))  # fmt: skip
    d = sections["data"]
    params = dict(sections["model"])
    name, readout = params.pop("name"), params.pop("readout", "sum")
    build = {"model": name, "model_params": params, "readout": readout, "targets": ["energy"]}
    student = fam.build_student(build)
    ck = torch.load(run_path / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    state = {k.removeprefix("student."): v for k, v in ck["model"].items()
             if k.startswith("student.")}  # fmt: skip
    student.load_state_dict(state)
    data = fam.prepare_data(d)
    test = fam.residual_items(data.parts["test"], student)
    task = fam._task_module(student, "energy_forces")
    pred, true = predict(task, test, batch_size=50, collate_fn=fam.collate, targets=fam._targets)
    width = pred.shape[1]
    return fam.make_metrics("energy_forces", ["energy"], width)(pred, true), int(ck["epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", default="student_rmd17_ethanol_schnet")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.config import read_table_file

    run = args.run
    config = read_table_file(run / "config.toml")
    with open(run / "checkpoints" / "metrics.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if manifest.get("finished"):
        test, best_epoch = manifest["metrics"]["test"], manifest["metrics"]["best_epoch"]
        status = "finished"
    else:
        test, best_epoch = _interim_test(run, config)
        status = f"interim: {len(history)} of {config['train']['epochs']} epochs"
    best = history[best_epoch - 1]
    seconds = [float(r["seconds"]) for r in history]
    rows = [
        "| model | training frames | energy MAE (kcal/mol) | force MAE (kcal/mol/Å) |",
        "|---|---:|---:|---:|",
        f"| rhoml {config['model']['name']} ({status}; best epoch {best_epoch}, batch "
        f"{config['train']['batch_size']}) | {config['data']['n_train']} | "
        f"{test['energy_mae']:.3f} | {test['force_mae']:.3f} |",
        *[f"| {k} | 950 | {e} | {f} |" for k, (e, f) in PAPER.items()],
    ]
    table = "\n".join(
        ["rMD17 ethanol, test split file (1,000 frames), test MAE at the best validation force "
         "MAE (50 validation frames).\n", *rows,
         f"\nValidation at the best epoch: energy {float(best['energy_mae']):.3f} kcal/mol, "
         f"force {float(best['force_mae']):.3f} kcal/mol/Å. Training: {len(history)} epochs, "
         f"median {np.median(seconds):.1f} s per epoch ({config['train']['threads']} thread(s), "
         "2-core machine shared with other jobs)."]
    )  # fmt: skip
    data = {"title": "rMD17 ethanol student at CPU scale vs the EDG paper", "machine": machine(),
            "run": str(run), "status": status, "test": test, "best_epoch": best_epoch,
            "best_validation": best, "epochs_run": len(history), "config": config,
            "paper": PAPER}  # fmt: skip
    write_results(args.name, data, table)


if __name__ == "__main__":
    main()
