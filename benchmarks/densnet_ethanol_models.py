"""Compare DenSNet ethanol models (e.g. the previously shipped one and a retrained one) on the same
held-out frames of a label store: energy/force/dipole MAE and Coulomb density error (each model in
its own aux basis), model size, and MD speed of ``rhoml md`` (steps/s = 200 / (t(220 steps) −
t(20 steps)), median of 3 repeats, models interleaved, 1 thread, normal priority).

    OMP_NUM_THREADS=1 python benchmarks/densnet_ethanol_models.py runs/densnet/ethanol.rhoml \
        OLD_RUN NEW_RUN   (run folders or shipped run names)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.families.densnet_train import evaluate  # noqa: E402
from rhoml.represent.coefficients import load_frames  # noqa: E402


def md_seconds(model: str, steps: int, out: Path) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = ["rhoml", "md", model, "--steps", str(steps), "--quiet", "--out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = {}
    for path in args.models:
        m = runs.load(path).model.module
        test = [f for f in load_frames(args.store, m.basis, progress=False) if f.split == "test"]
        rows[path] = {
            "basis": m.basis.name,
            "n_functions_ethanol": sum(m.basis.n_functions(e) for e in "CCOHHHHHH"),
            "n_train": m.meta.get("n_train"),
            "file_kb": os.path.getsize(runs.resolve(path) / "model.pt") / 1024,
            "test": evaluate(m, test),
            "md_steps_per_s": [],
        }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for path in args.models:
                t = [md_seconds(path, n, Path(tmp) / "t.npz") for n in (20, 220)]
                rows[path]["md_steps_per_s"].append(200 / (t[1] - t[0]))
    load = Path("/proc/loadavg").read_text().split()[:3]
    data = {
        "title": "DenSNet ethanol models on the same held-out frames",
        "machine": machine(),
        "load_average_at_end": load,
        "models": rows,
    }
    lines = [
        f"Held-out rMD17 ethanol frames of `{args.store}` (PBE/def2-SVP labels); MD speed of "
        f"`rhoml md` (median of {args.repeats}; machine shared, load average {' '.join(load)}).\n",
        "| model | aux basis | fns per ethanol | train frames | size (KB) | test frames | "
        "energy MAE (kcal/mol) | force MAE (kcal/mol/Å) | dipole MAE (D) | (δρ|δρ) (Ha) | "
        "MD steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path, r in rows.items():
        t = r["test"]
        lines.append(
            f"| `{path}` | {r['basis']} | {r['n_functions_ethanol']} | {r['n_train']} | "
            f"{r['file_kb']:.0f} | {t['n']} | {t['energy_mae_kcal_mol']:.3f} | "
            f"{t['force_mae_kcal_mol_angstrom']:.3f} | {t['dipole_mae_debye']:.4f} | "
            f"{t['coulomb_error_hartree']:.2e} | {statistics.median(r['md_steps_per_s']):.1f} |"
        )
    write_results("densnet_ethanol_models", data, "\n".join(lines))


if __name__ == "__main__":
    main()
